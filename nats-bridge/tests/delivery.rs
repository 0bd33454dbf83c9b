//! The bridge against a real NATS server, delivering to real HTTP handlers on loopback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use nats_bridge::routes::Retry;
use nats_bridge::{Plan, Target};
use shared::events::{CloudEvent, types};
use shared::testing::TestEvents;

/// Counts attempts per handler; answers with the status scripted for that attempt.
#[derive(Clone, Default)]
struct Handlers {
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    seen_ids: Arc<Mutex<Vec<String>>>,
}

impl Handlers {
    fn attempts(&self, name: &str) -> u32 {
        self.attempts
            .lock()
            .expect("lock")
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

async fn handle(
    State(handlers): State<Handlers>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> StatusCode {
    let attempt = {
        let mut attempts = handlers.attempts.lock().expect("lock");
        let count = attempts.entry(name.clone()).or_default();
        *count += 1;
        *count
    };
    if let Some(id) = headers.get("ce-id").and_then(|v| v.to_str().ok()) {
        handlers.seen_ids.lock().expect("lock").push(id.to_owned());
    }
    match (name.as_str(), attempt) {
        ("refuse", _) => StatusCode::BAD_REQUEST,
        ("flaky", 1 | 2) => StatusCode::SERVICE_UNAVAILABLE,
        ("flaky", _) => StatusCode::NO_CONTENT,
        ("early", 1) => StatusCode::CONFLICT,
        ("early", _) => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn serve(handlers: Handlers) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/{name}", axum::routing::post(handle))
        .with_state(handlers);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn target(events: &TestEvents, name: &str, kind: &str, base: &str, attempts: u32) -> Target {
    Target {
        consumer: name.to_owned(),
        subject: events.settings.subject(kind),
        url: format!("{base}/{name}"),
        retry: Retry {
            attempts,
            backoff: Duration::from_millis(50),
        },
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Runs a bridge with these targets until the returned sender is used.
fn start_bridge(
    events: &TestEvents,
    targets: Vec<Target>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    let plan = Plan {
        nats: events.settings.clone(),
        stream: events.stream.clone(),
        targets,
        pings: Vec::new(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bridge = tokio::spawn(nats_bridge::run(plan, async {
        let _ = stopped.await;
    }));
    (stop, bridge)
}

fn event(kind: &str) -> CloudEvent {
    CloudEvent::new("test", kind, "subject", &serde_json::json!({"n": 1})).expect("event")
}

#[tokio::test]
async fn a_refused_event_is_dead_lettered_after_one_attempt_and_a_503_is_retried_until_it_succeeds()
{
    let events = TestEvents::create().await;
    let handlers = Handlers::default();
    let base = serve(handlers.clone()).await;
    let (stop, bridge) = start_bridge(
        &events,
        vec![
            target(&events, "refuse", types::ORDER_CREATED, &base, 10),
            target(&events, "flaky", types::TICKET_UPDATED, &base, 10),
            target(&events, "early", types::ORDER_CANCELLED, &base, 10),
            target(&events, "down", types::ORDER_COMPLETED, &base, 3),
        ],
    );

    let publisher = events.publisher().await;
    let refused = event(types::ORDER_CREATED);
    for kind in [
        types::ORDER_CREATED,
        types::TICKET_UPDATED,
        types::ORDER_CANCELLED,
        types::ORDER_COMPLETED,
    ] {
        let event = if kind == types::ORDER_CREATED {
            refused.clone()
        } else {
            event(kind)
        };
        publisher.publish(&event).await.expect("published");
    }

    eventually("the flaky handler succeeds", async || {
        handlers.attempts("flaky") == 3
    })
    .await;
    eventually("the early event is delivered again", async || {
        handlers.attempts("early") == 2
    })
    .await;
    eventually("the refused event is dead-lettered", async || {
        !events
            .messages("ticketing.deadletter.order.created")
            .await
            .is_empty()
    })
    .await;
    eventually(
        "the unreachable handler's event is dead-lettered",
        async || {
            !events
                .messages("ticketing.deadletter.order.completed")
                .await
                .is_empty()
        },
    )
    .await;
    // Give a wrongly scheduled retry time to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(handlers.attempts("refuse"), 1, "a 400 is never retried");
    assert_eq!(
        handlers.attempts("down"),
        3,
        "a 503 is retried up to the attempts allowed"
    );
    assert_eq!(handlers.attempts("flaky"), 3, "success ends the retries");
    assert!(
        events
            .messages("ticketing.deadletter.ticket.updated")
            .await
            .is_empty()
    );
    assert!(
        events
            .messages("ticketing.deadletter.order.cancelled")
            .await
            .is_empty()
    );

    let letters = events.messages("ticketing.deadletter.order.created").await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        CloudEvent::from_structured(&letter.payload).expect("event"),
        refused
    );
    let header = |name: &str| letter.headers.get(name).map(|v| v.as_str().to_owned());
    assert_eq!(header("Ticketing-Error").as_deref(), Some("HTTP 400"));
    assert_eq!(header("Ticketing-Attempts").as_deref(), Some("1"));
    let down = events
        .messages("ticketing.deadletter.order.completed")
        .await;
    assert_eq!(
        down[0]
            .headers
            .get("Ticketing-Attempts")
            .map(|v| v.as_str()),
        Some("3")
    );

    let _ = stop.send(());
    bridge.await.expect("bridge stops").expect("bridge started");
}

#[tokio::test]
async fn each_event_reaches_every_trigger_of_its_type_in_binary_mode() {
    let events = TestEvents::create().await;
    let handlers = Handlers::default();
    let base = serve(handlers.clone()).await;
    let (stop, bridge) = start_bridge(
        &events,
        vec![
            target(&events, "flaky", types::ORDER_CREATED, &base, 10),
            target(&events, "early", types::ORDER_CREATED, &base, 10),
        ],
    );
    let sent = event(types::ORDER_CREATED);
    let publisher = events.publisher().await;
    publisher.publish(&sent).await.expect("published");
    // A republished duplicate (the outbox relay) is dropped by JetStream.
    publisher.publish(&sent).await.expect("published again");
    eventually("both triggers got it", async || {
        handlers.attempts("flaky") == 3 && handlers.attempts("early") == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        handlers.attempts("flaky"),
        3,
        "the duplicate was not delivered"
    );
    assert!(
        handlers
            .seen_ids
            .lock()
            .expect("lock")
            .iter()
            .all(|id| *id == sent.id)
    );
    let _ = stop.send(());
    bridge.await.expect("bridge stops").expect("bridge started");
}
