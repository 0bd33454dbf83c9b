//! Consuming, delivering, retrying, dead-lettering.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use reqwest::StatusCode;
use shared::events::CloudEvent;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{PingTarget, Plan, Target};

/// Deliveries in flight per consumer.
const IN_FLIGHT: usize = 32;
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long JetStream waits for an ack before delivering again (a bridge that died mid-delivery).
const ACK_WAIT: Duration = Duration::from_secs(60);
/// Events a consumer may have delivered but not yet acknowledged. At this many JetStream stops
/// giving it new ones, so this is what poison could fill to stall a handler's flow. An event that
/// is refused (a 4xx other than 404/408/409/429), is no CloudEvent, or whose type is not its
/// subject is dead-lettered and acknowledged at once; only retried events (409, 5xx, no answer)
/// wait, each for at most its Trigger's backoff (retry 9, 0.2 s: 102 s in all) plus
/// `HTTP_TIMEOUT` per attempt, and is dead-lettered then. Stalling a consumer therefore takes more
/// than 10,000 events failing within that time, about 100 a second sustained: then the handler is
/// down for everyone, not held up by a few bad events.
pub const MAX_ACK_PENDING: i64 = 10_000;
/// The longest header value the bridge writes on a dead letter; longer text is cut.
const HEADER_MAX: usize = 512;
/// A subject token that cannot be part of a dead-letter subject is written as this.
const UNUSABLE_TOKEN: &str = "_";

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again later, with why it failed.
    Retry(String),
    /// Will never work.
    Refused(String),
}

/// Knative's data-plane rules for a reply status.
pub fn classify(status: StatusCode) -> Outcome {
    let code = status.as_u16();
    if status.is_success() {
        Outcome::Delivered
    } else if matches!(code, 404 | 408 | 409 | 429) || status.is_server_error() {
        Outcome::Retry(format!("HTTP {code}"))
    } else {
        Outcome::Refused(format!("HTTP {code}"))
    }
}

/// The dead-letter subject of a message, from the subject it arrived on (never from what it says
/// its type is, which may be anything): `<prefix>ticketing.deadletter.order.created` for one that
/// came on `<prefix>ticketing.order.created`. That is the same as naming it by type for a
/// well-formed event, whose type is its subject. The result is always a literal subject: a token
/// that is empty, a wildcard or holds a space or control character becomes `_`.
pub fn dead_letter_subject(prefix: &str, subject: &str) -> String {
    let name = subject.strip_prefix(prefix).unwrap_or(subject);
    let name = name.strip_prefix("ticketing.").unwrap_or(name);
    let name = name
        .split('.')
        .map(|token| {
            let literal = !token.is_empty()
                && token != "*"
                && token != ">"
                && !token.chars().any(|c| c.is_whitespace() || c.is_control());
            if literal { token } else { UNUSABLE_TOKEN }
        })
        .collect::<Vec<_>>()
        .join(".");
    format!("{prefix}ticketing.deadletter.{name}")
}

/// `text` as a header value: control characters (a header ends at a line break) escaped, cut to
/// `HEADER_MAX` bytes.
fn header_text(text: &str) -> String {
    let mut value = String::new();
    for c in text.chars() {
        if c.is_control() {
            value.extend(c.escape_default());
        } else {
            value.push(c);
        }
        if value.len() > HEADER_MAX {
            let mut end = HEADER_MAX;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
            value.push('…');
            break;
        }
    }
    value
}

/// An event type worth recording as it is: printable ASCII, not empty, not over `HEADER_MAX`.
/// Anything else is left out; the payload keeps it.
fn usable_type(kind: &str) -> Option<&str> {
    let printable = kind.bytes().all(|b| (b' '..=b'~').contains(&b));
    (printable && !kind.is_empty() && kind.len() <= HEADER_MAX).then_some(kind)
}

/// Runs every consumer and ping until `shutdown` resolves. An error says why it could not start
/// (the process then exits non-zero, so a supervisor sees a failure, not a clean stop).
pub async fn run(
    plan: Plan,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(shared::config::NatsServers(&plan.nats.url))
        .await
        .map_err(|err| format!("cannot connect to NATS: {err}"))?;
    let jetstream = jetstream::new(client);
    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
    let plan = Arc::new(plan);
    let mut tasks = JoinSet::new();
    for target in plan.targets.clone() {
        let (jetstream, http, plan) = (jetstream.clone(), http.clone(), plan.clone());
        tasks.spawn(async move {
            loop {
                if let Err(err) = consume(&jetstream, &http, &plan, &target).await {
                    tracing::warn!(consumer = %target.consumer, error = %err, "consumer stopped; starting again");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    for ping in plan.pings.clone() {
        let http = http.clone();
        tasks.spawn(async move { pings(&http, &ping).await });
    }
    tracing::info!(
        consumers = plan.targets.len(),
        pings = plan.pings.len(),
        "bridge running"
    );
    shutdown.await;
    tasks.shutdown().await;
    Ok(())
}

async fn consume(
    jetstream: &jetstream::Context,
    http: &reqwest::Client,
    plan: &Arc<Plan>,
    target: &Target,
) -> Result<(), async_nats::Error> {
    let stream = jetstream.get_stream(&plan.stream).await?;
    let config = pull::Config {
        durable_name: Some(target.consumer.clone()),
        filter_subject: target.subject.clone(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: MAX_ACK_PENDING,
        ..Default::default()
    };
    // Create, or update a consumer an older bridge made (with a smaller ack window); one that
    // cannot be updated is used as it is rather than not at all.
    let consumer = match stream.create_consumer(config).await {
        Ok(consumer) => consumer,
        Err(err) => {
            tracing::warn!(consumer = %target.consumer, error = %err, "cannot update the consumer; using it as it is");
            stream.get_consumer(&target.consumer).await?
        }
    };
    let mut messages = consumer.messages().await?;
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(message) = messages.next().await {
        let message = message?;
        let permit = permits.clone().acquire_owned().await?;
        let (jetstream, http, plan, target) = (
            jetstream.clone(),
            http.clone(),
            plan.clone(),
            target.clone(),
        );
        tokio::spawn(async move {
            handle(&jetstream, &http, &plan, &target, message).await;
            drop(permit);
        });
    }
    Ok(())
}

async fn handle(
    jetstream: &jetstream::Context,
    http: &reqwest::Client,
    plan: &Plan,
    target: &Target,
    message: jetstream::Message,
) {
    let attempt = message
        .info()
        .map(|info| u32::try_from(info.delivered).unwrap_or(1))
        .unwrap_or(1);
    let subject = message.subject.as_str();
    if subject.starts_with(&plan.nats.subject("ticketing.deadletter.")) {
        // Only the broker consumer's wildcard sees these; they are kept, not delivered.
        let _ = message.ack().await;
        return;
    }
    let (outcome, event_type) = match CloudEvent::from_structured(&message.payload) {
        // Routing is by subject, and a Trigger's filter by type: an event whose type is not its
        // subject would reach handlers that never asked for it.
        Ok(event) if plan.nats.subject(&event.kind) != subject => (
            Outcome::Refused(format!(
                "type {:?} is not the subject {subject}",
                event.kind
            )),
            Some(event.kind),
        ),
        Ok(event) => (deliver(http, &target.url, &event).await, Some(event.kind)),
        Err(err) => (Outcome::Refused(format!("not a CloudEvent: {err}")), None),
    };
    let ack = match outcome {
        Outcome::Delivered => AckKind::Ack,
        Outcome::Retry(reason) if attempt < target.retry.attempts => {
            let delay = target.retry.delay_after(attempt);
            tracing::info!(consumer = %target.consumer, attempt, ?delay, %reason, "delivery failed; retrying");
            AckKind::Nak(Some(delay))
        }
        Outcome::Retry(reason) | Outcome::Refused(reason) => {
            match dead_letter(
                jetstream,
                plan,
                target,
                &message,
                event_type.as_deref(),
                &reason,
                attempt,
            )
            .await
            {
                Ok(()) => AckKind::Ack,
                Err(err) => {
                    tracing::error!(consumer = %target.consumer, error = %err, "cannot dead-letter; keeping the event");
                    AckKind::Nak(Some(Duration::from_secs(5)))
                }
            }
        }
    };
    if let Err(err) = message.ack_with(ack).await {
        tracing::warn!(consumer = %target.consumer, error = %err, "ack failed; the event will come again");
    }
}

/// Posts the event in binary mode.
pub async fn deliver(http: &reqwest::Client, url: &str, event: &CloudEvent) -> Outcome {
    let body = match serde_json::to_vec(&event.data) {
        Ok(body) => body,
        Err(err) => return Outcome::Refused(err.to_string()),
    };
    let mut request = http.post(url).body(body);
    for (name, value) in event.binary_headers() {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => classify(response.status()),
        Err(err) => Outcome::Retry(format!("no answer: {err}")),
    }
}

/// Publishes the message, its bytes as they came, to its dead-letter subject with the original
/// headers (binary-mode attributes among them; JetStream's own `Nats-` ones left out) and why it
/// failed: `Ticketing-Error`, `Ticketing-Attempts`, `Ticketing-Consumer`, `Ticketing-Subscriber`,
/// `Ticketing-Subject`, `Ticketing-Stream-Sequence`, and `Ticketing-Event-Type` when the type is
/// printable. A message too large to carry those headers stays where it is in the stream: the letter
/// then has an empty payload and names that sequence in `Ticketing-Payload`.
async fn dead_letter(
    jetstream: &jetstream::Context,
    plan: &Plan,
    target: &Target,
    message: &jetstream::Message,
    event_type: Option<&str>,
    reason: &str,
    attempts: u32,
) -> Result<(), async_nats::Error> {
    let subject = dead_letter_subject(&plan.nats.subject_prefix, message.subject.as_str());
    let sequence = message
        .info()
        .map(|info| info.stream_sequence.to_string())
        .unwrap_or_default();
    let id = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_else(|| sequence.clone());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        header_text(&format!("{id}.{}", target.consumer)).as_str(),
    );
    headers.insert("Ticketing-Error", header_text(reason).as_str());
    headers.insert("Ticketing-Subscriber", header_text(&target.url).as_str());
    headers.insert("Ticketing-Consumer", header_text(&target.consumer).as_str());
    headers.insert("Ticketing-Attempts", attempts.to_string().as_str());
    headers.insert(
        "Ticketing-Subject",
        header_text(message.subject.as_str()).as_str(),
    );
    headers.insert("Ticketing-Stream-Sequence", sequence.as_str());
    if let Some(kind) = event_type.and_then(usable_type) {
        headers.insert("Ticketing-Event-Type", kind);
    }
    let mut letter = headers.clone();
    for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
        let name_text: &str = name.as_ref();
        if name_text.to_ascii_lowercase().starts_with("nats-") || headers.get(name_text).is_some() {
            continue;
        }
        for value in values {
            letter.append(name.clone(), value.clone());
        }
    }
    let acked = match jetstream
        .publish_with_headers(subject.clone(), letter, message.payload.clone())
        .await
    {
        Ok(ack) => ack,
        Err(err) if err.kind() == PublishErrorKind::MaxPayloadExceeded => {
            let size = message.payload.len();
            headers.insert(
                "Ticketing-Payload",
                format!(
                    "{size} bytes, too large for a dead letter; kept at stream sequence {sequence}"
                )
                .as_str(),
            );
            jetstream
                .publish_with_headers(subject, headers, bytes::Bytes::new())
                .await?
        }
        Err(err) => return Err(err.into()),
    };
    acked.await?;
    tracing::warn!(consumer = %target.consumer, %reason, attempts, "event dead-lettered");
    Ok(())
}

async fn pings(http: &reqwest::Client, ping: &PingTarget) {
    let mut ticker = tokio::time::interval(ping.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let event = match CloudEvent::new(
            "nats-bridge",
            "dev.knative.sources.ping",
            &ping.name,
            &ping.data,
        ) {
            Ok(event) => event,
            Err(err) => {
                tracing::error!(error = %err, "cannot build a ping");
                continue;
            }
        };
        let outcome = deliver(http, &ping.url, &event).await;
        if outcome != Outcome::Delivered {
            tracing::warn!(ping = %ping.name, ?outcome, "ping not delivered; the next one will try again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_classified_as_knative_does() {
        for code in [200, 202, 204] {
            assert_eq!(
                classify(StatusCode::from_u16(code).expect("code")),
                Outcome::Delivered
            );
        }
        for code in [404, 408, 409, 429, 500, 503] {
            assert!(
                matches!(
                    classify(StatusCode::from_u16(code).expect("code")),
                    Outcome::Retry(_)
                ),
                "{code}"
            );
        }
        for code in [400, 401, 403, 413, 415] {
            assert!(
                matches!(
                    classify(StatusCode::from_u16(code).expect("code")),
                    Outcome::Refused(_)
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn dead_letters_are_kept_per_subject_which_is_the_type_of_a_well_formed_event() {
        assert_eq!(
            dead_letter_subject("", "ticketing.order.created"),
            "ticketing.deadletter.order.created"
        );
        assert_eq!(
            dead_letter_subject("t1.", "t1.ticketing.ticket.updated"),
            "t1.ticketing.deadletter.ticket.updated"
        );
        // Outside the namespace (only a wildcard consumer could see it): kept under it.
        assert_eq!(
            dead_letter_subject("t1.", "t1.other.thing"),
            "t1.ticketing.deadletter.other.thing"
        );
    }

    #[test]
    fn a_dead_letter_subject_is_always_a_literal_subject() {
        for (arrived, letter) in [
            ("ticketing.>", "ticketing.deadletter._"),
            ("ticketing.order.*", "ticketing.deadletter.order._"),
            (
                "ticketing.order..created",
                "ticketing.deadletter.order._.created",
            ),
            ("ticketing.bad type", "ticketing.deadletter._"),
            ("ticketing.a\tb.c", "ticketing.deadletter._.c"),
            ("ticketing.", "ticketing.deadletter._"),
            ("", "ticketing.deadletter._"),
        ] {
            assert_eq!(dead_letter_subject("", arrived), letter, "{arrived:?}");
        }
        for arrived in [
            "ticketing.>",
            "x y",
            "ticketing.order.*.>",
            "\r\n",
            "ticketing.a.b",
        ] {
            let letter = dead_letter_subject("p.", &format!("p.{arrived}"));
            assert!(letter.starts_with("p.ticketing.deadletter."), "{letter}");
            assert!(
                letter.split('.').all(|token| !token.is_empty()
                    && token != "*"
                    && token != ">"
                    && !token.contains(|c: char| c.is_whitespace() || c.is_control())),
                "{letter:?}"
            );
        }
    }

    #[test]
    fn header_values_never_break_a_line_and_stay_short() {
        assert_eq!(header_text("HTTP 400"), "HTTP 400");
        assert_eq!(header_text("a\r\nb"), "a\\r\\nb");
        let long = header_text(&"é".repeat(1000));
        assert!(long.len() <= HEADER_MAX + '…'.len_utf8(), "{}", long.len());
        assert!(long.ends_with('…'));
        assert_eq!(
            usable_type("ticketing.order.created"),
            Some("ticketing.order.created")
        );
        assert_eq!(usable_type("bad type"), Some("bad type"));
        for unusable in ["", "a\nb", "caf\u{e9}", &"x".repeat(HEADER_MAX + 1)] {
            assert_eq!(usable_type(unusable), None, "{unusable:?}");
        }
    }
}
