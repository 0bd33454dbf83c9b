//! The outbox relay publishes what a function committed but could not publish.

mod support;

use std::time::Duration;

use shared::events::{CloudEvent, types};
use support::TestApp;

/// Writes an event's outbox record as a function's transaction does, and publishes nothing: the
/// process died between the two.
async fn committed_but_unpublished(app: &TestApp, subject: &str) -> CloudEvent {
    let seller = uuid::Uuid::now_v7().to_string();
    let data = support::ticket_data(subject, &seller, 0, "Concert", 2000, 1);
    let event =
        CloudEvent::of("create-ticket", types::TICKET_CREATED, subject, &data).expect("event");
    let record = app.state.outbox.record(&event).expect("record");
    assert!(
        shared::dynamo::transact(&app.store.client(), vec![record])
            .await
            .expect("write")
            .is_ok()
    );
    event
}

#[tokio::test]
async fn a_committed_but_unpublished_event_is_published_once_by_the_relay() {
    let app = TestApp::start().await;
    let event = committed_but_unpublished(&app, "t1").await;
    assert!(
        app.store
            .events
            .events(types::TICKET_CREATED)
            .await
            .is_empty()
    );

    assert_eq!(
        app.state.outbox.relay(Duration::ZERO).await.expect("relay"),
        1
    );
    assert_eq!(
        app.store.events.events(types::TICKET_CREATED).await,
        vec![event.clone()]
    );
    assert_eq!(
        app.state.outbox.relay(Duration::ZERO).await.expect("relay"),
        0,
        "the record is gone"
    );

    // Had the first publish got through after all, JetStream drops the relay's copy.
    app.state.outbox.publish(&[event]).await;
    assert_eq!(
        app.store.events.events(types::TICKET_CREATED).await.len(),
        1
    );
}

#[tokio::test]
async fn the_relay_leaves_records_that_their_function_may_still_be_publishing() {
    let app = TestApp::start().await;
    committed_but_unpublished(&app, "t2").await;
    assert_eq!(
        app.state
            .outbox
            .relay(Duration::from_secs(60))
            .await
            .expect("relay"),
        0
    );
}
