//! Consuming, delivering, retrying, dead-lettering.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
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

/// The dead-letter subject of an event type: `ticketing.deadletter.order.created` for
/// `ticketing.order.created`.
pub fn dead_letter_subject(prefix: &str, event_type: &str) -> String {
    let name = event_type.strip_prefix("ticketing.").unwrap_or(event_type);
    format!("{prefix}ticketing.deadletter.{name}")
}

/// Runs every consumer and ping until `shutdown` resolves.
pub async fn run(plan: Plan, shutdown: impl std::future::Future<Output = ()>) {
    let client = match async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(plan.nats.url.as_str())
        .await
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "cannot connect to NATS");
            return;
        }
    };
    let jetstream = jetstream::new(client);
    let http = match reqwest::Client::builder().timeout(HTTP_TIMEOUT).build() {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the HTTP client");
            return;
        }
    };
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
}

async fn consume(
    jetstream: &jetstream::Context,
    http: &reqwest::Client,
    plan: &Arc<Plan>,
    target: &Target,
) -> Result<(), async_nats::Error> {
    let stream = jetstream.get_stream(&plan.stream).await?;
    let consumer = stream
        .get_or_create_consumer(
            &target.consumer,
            pull::Config {
                durable_name: Some(target.consumer.clone()),
                filter_subject: target.subject.clone(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: 1024,
                ..Default::default()
            },
        )
        .await?;
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
    if message.subject.as_str().contains(".deadletter.") {
        // Only the broker consumer's wildcard sees these; they are kept, not delivered.
        let _ = message.ack().await;
        return;
    }
    let (outcome, event_type) = match CloudEvent::from_structured(&message.payload) {
        Ok(event) => (deliver(http, &target.url, &event).await, event.kind),
        Err(err) => (
            Outcome::Refused(format!("not a CloudEvent: {err}")),
            message
                .subject
                .as_str()
                .trim_start_matches(&plan.nats.subject_prefix)
                .to_owned(),
        ),
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
                &event_type,
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

async fn dead_letter(
    jetstream: &jetstream::Context,
    plan: &Plan,
    target: &Target,
    message: &jetstream::Message,
    event_type: &str,
    reason: &str,
    attempts: u32,
) -> Result<(), async_nats::Error> {
    let subject = dead_letter_subject(&plan.nats.subject_prefix, event_type);
    let id = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_else(|| {
            message
                .info()
                .map(|i| i.stream_sequence.to_string())
                .unwrap_or_default()
        });
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{id}.{}", target.consumer).as_str());
    headers.insert("Ticketing-Error", reason);
    headers.insert("Ticketing-Subscriber", target.url.as_str());
    headers.insert("Ticketing-Consumer", target.consumer.as_str());
    headers.insert("Ticketing-Attempts", attempts.to_string().as_str());
    jetstream
        .publish_with_headers(subject, headers, message.payload.clone())
        .await?
        .await?;
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
    fn dead_letters_are_kept_per_event_type() {
        assert_eq!(
            dead_letter_subject("", "ticketing.order.created"),
            "ticketing.deadletter.order.created"
        );
        assert_eq!(
            dead_letter_subject("t1.", "ticketing.ticket.updated"),
            "t1.ticketing.deadletter.ticket.updated"
        );
    }
}
