//! Poison against a real NATS server: whatever a message on a subscribed subject holds, if it can
//! never be delivered it ends on a valid dead-letter subject with its bytes kept, and it never holds
//! up the events behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap as HttpHeaders, StatusCode};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use nats_bridge::delivery::MAX_ACK_PENDING;
use nats_bridge::routes::Retry;
use nats_bridge::{Plan, Target};
use serde_json::{Value, json};
use shared::events::{CloudEvent, types};
use shared::testing::TestEvents;

/// More than the 1,024 a consumer could hold unacknowledged before, which is what stalled it.
const FLOOD: usize = 1_100;
/// How soon an event published behind the poison must reach its handler. Generous for a shared
/// machine; a stalled consumer never delivers it at all.
const PROMPTLY: Duration = Duration::from_secs(30);

/// Stands in for a handler of `order.created`: takes an event of that type whose data says
/// `"ok": true`, asks for `"retry": true` to come again later (409), and refuses anything else (400),
/// as a handler refuses data it will never apply.
#[derive(Clone, Default)]
struct Handler {
    delivered: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<usize>>,
}

impl Handler {
    fn delivered(&self, id: &str) -> bool {
        self.delivered.lock().expect("lock").iter().any(|d| d == id)
    }
}

async fn handle(State(handler): State<Handler>, headers: HttpHeaders, body: Bytes) -> StatusCode {
    *handler.calls.lock().expect("lock") += 1;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let data: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if header("ce-type") != Some(types::ORDER_CREATED) {
        return StatusCode::BAD_REQUEST;
    }
    if data["retry"] == json!(true) {
        return StatusCode::CONFLICT;
    }
    if data["ok"] != json!(true) {
        return StatusCode::BAD_REQUEST;
    }
    if let Some(id) = header("ce-id") {
        handler.delivered.lock().expect("lock").push(id.to_owned());
    }
    StatusCode::NO_CONTENT
}

async fn serve(handler: Handler) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/", axum::routing::post(handle))
        .with_state(handler);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/")
}

fn start_bridge(
    events: &TestEvents,
    target: Target,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    let plan = Plan {
        nats: events.settings.clone(),
        stream: events.stream.clone(),
        targets: vec![target],
        pings: Vec::new(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bridge = tokio::spawn(nats_bridge::run(plan, async {
        let _ = stopped.await;
    }));
    (stop, bridge)
}

fn hold_target(events: &TestEvents, url: &str, retry: Retry) -> Target {
    Target {
        consumer: "hold".to_owned(),
        subject: events.settings.subject(types::ORDER_CREATED),
        url: url.to_owned(),
        retry,
    }
}

async fn within(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within {limit:?}: {what}");
}

/// A CloudEvent's structured JSON with any `type` at all (the publisher would refuse to send it).
fn structured(kind: &str, data: Value) -> Bytes {
    Bytes::from(
        json!({
            "specversion": "1.0",
            "id": uuid::Uuid::now_v7().to_string(),
            "source": "/ticketing/test",
            "type": kind,
            "data": data,
        })
        .to_string(),
    )
}

/// One message published as it is, and where the stream put it.
struct Sent {
    label: String,
    payload: Bytes,
    sequence: u64,
}

/// Publishes raw bytes on the subject, the way a faulty or hostile producer could.
async fn publish_raw(
    events: &TestEvents,
    subject: &str,
    label: &str,
    headers: HeaderMap,
    payload: Bytes,
) -> Sent {
    let ack = events
        .jetstream()
        .publish_with_headers(subject.to_owned(), headers, payload.clone())
        .await
        .expect("published")
        .await
        .expect("stored");
    Sent {
        label: label.to_owned(),
        payload,
        sequence: ack.sequence,
    }
}

/// Message counts per subject in the test's stream.
async fn subjects(events: &TestEvents) -> HashMap<String, usize> {
    let stream = events
        .jetstream()
        .get_stream(&events.stream)
        .await
        .expect("stream");
    stream
        .info_with_subjects(events.settings.subject(">"))
        .await
        .expect("info")
        .try_collect()
        .await
        .expect("subjects")
}

/// Every message stored on `subject`, read through one ordered consumer.
async fn read_all(events: &TestEvents, subject: &str, count: usize) -> Vec<async_nats::Message> {
    let stream = events
        .jetstream()
        .get_stream(&events.stream)
        .await
        .expect("stream");
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            ..Default::default()
        })
        .await
        .expect("reader");
    let messages = consumer.messages().await.expect("messages");
    tokio::time::timeout(
        Duration::from_secs(30),
        messages
            .take(count)
            .map(|m| m.expect("message").split().0)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("read every letter")
}

#[tokio::test]
async fn poison_of_every_kind_is_dead_lettered_with_its_bytes_and_a_later_event_still_arrives() {
    let events = TestEvents::create().await;
    let handler = Handler::default();
    let url = serve(handler.clone()).await;
    let retry = Retry {
        attempts: 10,
        backoff: Duration::from_millis(50),
    };
    let (stop, bridge) = start_bridge(&events, hold_target(&events, &url, retry));
    let subject = events.settings.subject(types::ORDER_CREATED);
    let letters_subject = events
        .settings
        .subject("ticketing.deadletter.order.created");
    let max_payload = events.jetstream().client().server_info().max_payload;

    let mut sent = Vec::new();
    for n in 0..FLOOD {
        let payload = structured("bad type", json!({"n": n}));
        sent.push(publish_raw(&events, &subject, "bad type", HeaderMap::new(), payload).await);
    }
    let mut binary = HeaderMap::new();
    binary.insert("ce-id", "binary-1");
    binary.insert("ce-type", types::ORDER_CREATED);
    binary.insert("Content-Type", "application/json");
    let poison: Vec<(&str, HeaderMap, Bytes)> = vec![
        (">", HeaderMap::new(), structured(">", json!({}))),
        ("*", HeaderMap::new(), structured("*", json!({}))),
        (
            "wildcard tail",
            HeaderMap::new(),
            structured("ticketing.order.>", json!({})),
        ),
        (
            "newline",
            HeaderMap::new(),
            structured("ticketing.order\r\ncreated", json!({})),
        ),
        ("empty type", HeaderMap::new(), structured("", json!({}))),
        (
            "long type",
            HeaderMap::new(),
            structured(&"t".repeat(5_000), json!({})),
        ),
        (
            "another type",
            HeaderMap::new(),
            structured(types::ORDER_CANCELLED, json!({"ok": true})),
        ),
        ("not JSON", HeaderMap::new(), Bytes::from("not json at all")),
        ("empty", HeaderMap::new(), Bytes::new()),
        ("not UTF-8", HeaderMap::new(), Bytes::from(vec![0xff, 0xfe, 0, 1])),
        ("JSON object", HeaderMap::new(), Bytes::from(r#"{"hello":"world"}"#)),
        ("JSON array", HeaderMap::new(), Bytes::from("[1,2,3]")),
        (
            "old spec version",
            HeaderMap::new(),
            Bytes::from(
                json!({"specversion": "0.3", "id": "x", "source": "s", "type": types::ORDER_CREATED})
                    .to_string(),
            ),
        ),
        ("binary mode", binary, Bytes::from("{}")),
        (
            "refused data",
            HeaderMap::new(),
            structured(types::ORDER_CREATED, json!({"ok": false})),
        ),
        (
            "large",
            HeaderMap::new(),
            Bytes::from(vec![b'x'; 256 * 1024]),
        ),
        (
            "too large to carry headers",
            HeaderMap::new(),
            Bytes::from(vec![b'y'; max_payload - 16]),
        ),
    ];
    let kinds = poison.len();
    for (label, headers, payload) in poison {
        sent.push(publish_raw(&events, &subject, label, headers, payload).await);
    }

    let good =
        CloudEvent::new("test", types::ORDER_CREATED, "o", &json!({"ok": true})).expect("event");
    events
        .publisher()
        .await
        .publish(&good)
        .await
        .expect("published");
    within(
        PROMPTLY,
        "the event behind the poison is delivered",
        async || handler.delivered(&good.id),
    )
    .await;
    within(
        PROMPTLY,
        "every poison message is dead-lettered",
        async || subjects(&events).await.get(&letters_subject) == Some(&sent.len()),
    )
    .await;
    // Nothing went anywhere else: no subject but the original and its dead letters.
    assert_eq!(
        subjects(&events).await,
        HashMap::from([
            (subject.clone(), sent.len() + 1),
            (letters_subject.clone(), FLOOD + kinds),
        ])
    );

    let letters = read_all(&events, &letters_subject, sent.len()).await;
    let by_sequence: HashMap<String, &Sent> =
        sent.iter().map(|s| (s.sequence.to_string(), s)).collect();
    let mut lettered = HashMap::new();
    for letter in &letters {
        assert_eq!(letter.subject.as_str(), letters_subject);
        let headers = letter.headers.as_ref().expect("headers");
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        let sequence = header("Ticketing-Stream-Sequence").expect("sequence");
        let original = by_sequence
            .get(&sequence)
            .expect("a letter of a sent message");
        assert_eq!(
            lettered.insert(sequence.clone(), ()),
            None,
            "one letter per message"
        );
        assert!(header("Ticketing-Error").is_some(), "{}", original.label);
        assert_eq!(header("Ticketing-Attempts").as_deref(), Some("1"));
        assert_eq!(header("Ticketing-Consumer").as_deref(), Some("hold"));
        assert_eq!(
            header("Ticketing-Subject").as_deref(),
            Some(subject.as_str())
        );
        match original.label.as_str() {
            "too large to carry headers" => {
                assert!(letter.payload.is_empty());
                assert!(
                    header("Ticketing-Payload")
                        .expect("where the payload is")
                        .contains(&format!("stream sequence {sequence}"))
                );
                let kept = events
                    .jetstream()
                    .get_stream(&events.stream)
                    .await
                    .expect("stream")
                    .get_raw_message(original.sequence)
                    .await
                    .expect("the original is still in the stream");
                assert_eq!(kept.payload, original.payload);
            }
            label => assert_eq!(letter.payload, original.payload, "{label}"),
        }
        match original.label.as_str() {
            "bad type" => {
                assert_eq!(header("Ticketing-Event-Type").as_deref(), Some("bad type"));
                assert!(
                    header("Ticketing-Error")
                        .expect("error")
                        .contains("is not the subject")
                );
            }
            ">" => assert_eq!(header("Ticketing-Event-Type").as_deref(), Some(">")),
            "newline" | "long type" => assert_eq!(header("Ticketing-Event-Type"), None),
            "refused data" => assert_eq!(header("Ticketing-Error").as_deref(), Some("HTTP 400")),
            "binary mode" => assert_eq!(header("ce-id").as_deref(), Some("binary-1")),
            _ => {}
        }
    }
    assert_eq!(lettered.len(), sent.len());
    // Only the refused data and the good event ever reached the handler.
    assert_eq!(*handler.calls.lock().expect("lock"), 2);

    let _ = stop.send(());
    bridge.await.expect("bridge stops").expect("bridge started");
}

#[tokio::test]
async fn events_waiting_for_a_retry_do_not_hold_up_the_ones_behind_them() {
    let events = TestEvents::create().await;
    // A consumer as an older bridge left it, with the ack window poison used to fill.
    let stream = events
        .jetstream()
        .get_stream(&events.stream)
        .await
        .expect("stream");
    stream
        .create_consumer(pull::Config {
            durable_name: Some("hold".to_owned()),
            filter_subject: events.settings.subject(types::ORDER_CREATED),
            ack_policy: AckPolicy::Explicit,
            max_ack_pending: 1024,
            ..Default::default()
        })
        .await
        .expect("old consumer");

    let handler = Handler::default();
    let url = serve(handler.clone()).await;
    // Long pauses between attempts: every 409 stays unacknowledged for the whole test.
    let retry = Retry {
        attempts: 10,
        backoff: Duration::from_secs(20),
    };
    let (stop, bridge) = start_bridge(&events, hold_target(&events, &url, retry));
    let publisher = events.publisher().await;
    for _ in 0..FLOOD {
        let early = CloudEvent::new("test", types::ORDER_CREATED, "o", &json!({"retry": true}))
            .expect("event");
        publisher.publish(&early).await.expect("published");
    }
    let good =
        CloudEvent::new("test", types::ORDER_CREATED, "o", &json!({"ok": true})).expect("event");
    publisher.publish(&good).await.expect("published");

    within(
        PROMPTLY,
        "the event behind the retries is delivered",
        async || handler.delivered(&good.id),
    )
    .await;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("hold").await.expect("consumer");
    let info = consumer.info().await.expect("info");
    assert_eq!(info.config.max_ack_pending, MAX_ACK_PENDING);
    assert!(
        info.num_ack_pending >= FLOOD,
        "the retried events are still waiting: {}",
        info.num_ack_pending
    );

    let _ = stop.send(());
    bridge.await.expect("bridge stops").expect("bridge started");
}
