//! The listing replica: `ticket.created` and `ticket.updated` posted straight to the handler.

mod support;

use support::TestApp;

#[tokio::test]
async fn updates_apply_in_version_order_whatever_order_they_arrive_in() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let id = uuid::Uuid::now_v7().to_string();
    let router = || orders::replica::router(app.state.orders.clone());
    let v1 = app.ticket_event(&id, &seller, 1, 8, 2500);
    let v2 = app.ticket_event(&id, &seller, 2, 9, 3000);

    // Updates ahead of the creation, and v2 ahead of v1, are sent back to be retried.
    assert_eq!(app.deliver(router(), &v2).await, 409);
    assert_eq!(app.deliver(router(), &v1).await, 409);
    assert_eq!(
        app.deliver(router(), &app.ticket_event(&id, &seller, 0, 5, 2000))
            .await,
        204
    );
    assert_eq!(app.deliver(router(), &v2).await, 409);
    assert_eq!(app.replica(&id).await.version, 0);
    assert_eq!(app.deliver(router(), &v1).await, 204);
    assert_eq!(app.deliver(router(), &v2).await, 204);

    let replica = app.replica(&id).await;
    assert_eq!(
        (replica.version, replica.quantity, replica.price),
        (2, 9, 3000)
    );
    assert_eq!(replica.title, "Show v2");
}

#[tokio::test]
async fn a_duplicate_delivery_changes_nothing() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let id = app.listing(&seller, 5).await;
    let router = || orders::replica::router(app.state.orders.clone());
    let v1 = app.ticket_event(&id, &seller, 1, 6, 2000);
    assert_eq!(app.deliver(router(), &v1).await, 204);
    app.placed(&bearer, &id, 2).await;
    // A late duplicate of v1 or of the creation must not reset what orders hold.
    assert_eq!(app.deliver(router(), &v1).await, 204);
    assert_eq!(
        app.deliver(router(), &app.ticket_event(&id, &seller, 0, 5, 2000))
            .await,
        204
    );
    let replica = app.replica(&id).await;
    assert_eq!(
        (
            replica.version,
            replica.quantity,
            replica.available,
            replica.reserved
        ),
        (1, 6, 4, 2)
    );
}

#[tokio::test]
async fn an_update_keeps_what_orders_already_hold() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let id = app.listing(&seller, 5).await;
    app.placed(&bearer, &id, 3).await;
    let v1 = app.ticket_event(&id, &seller, 1, 10, 2000);
    assert_eq!(
        app.deliver(orders::replica::router(app.state.orders.clone()), &v1)
            .await,
        204
    );
    assert_eq!(app.replica(&id).await.available, 7);
}

#[tokio::test]
async fn an_event_with_data_of_the_wrong_shape_is_refused_for_good() {
    let app = TestApp::start().await;
    let event = shared::events::CloudEvent::new(
        "test",
        shared::events::types::TICKET_CREATED,
        "x",
        &serde_json::json!({"id": "x"}),
    )
    .expect("event");
    assert_eq!(
        app.deliver(orders::replica::router(app.state.orders.clone()), &event)
            .await,
        400
    );
}

#[tokio::test]
async fn a_ticket_event_the_contract_forbids_is_refused_and_copies_nothing() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let id = uuid::Uuid::now_v7().to_string();
    for (field, value) in [
        ("id", serde_json::json!("ticket-1")),
        ("version", serde_json::json!(-1)),
        ("title", serde_json::json!("   ")),
        ("title", serde_json::json!("x".repeat(201))),
        ("price", serde_json::json!(0)),
        ("price", serde_json::json!(-2000)),
        // 0 is a withdrawn listing's (sold nothing), not a broken event.
        ("quantity", serde_json::json!(-1)),
        ("quantity", serde_json::json!(-1000)),
        ("userId", serde_json::json!("seller")),
    ] {
        let mut event = app.ticket_event(&id, &seller, 0, 5, 2000);
        event.data[field] = value.clone();
        assert_eq!(
            app.deliver(orders::replica::router(app.state.orders.clone()), &event)
                .await,
            400,
            "{field}: {value}"
        );
    }
    assert!(app.state.orders.replica(&id).await.expect("read").is_none());
}
