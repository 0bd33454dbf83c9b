//! The order events that keep a listing's counts, posted straight to their handlers.

mod support;

use serde_json::json;
use shared::events::types;
use support::TestApp;

#[tokio::test]
async fn a_hold_counts_once_however_often_it_is_delivered() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let ticket = app.list(&seller, "Drop", 10).await;
    let id = ticket["id"].as_str().expect("id");
    let order = uuid::Uuid::now_v7().to_string();
    for _ in 0..3 {
        assert_eq!(
            app.order_event(types::ORDER_CREATED, &order, id, 2).await,
            204
        );
    }
    assert_eq!(app.show(id).await["available"], 8);
}

#[tokio::test]
async fn a_release_gives_tickets_back_once_and_a_sale_keeps_them() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let id = app.list(&seller, "Drop", 10).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (cancelled, paid) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &cancelled, &id, 3)
            .await,
        204
    );
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &paid, &id, 2).await,
        204
    );
    assert_eq!(app.show(&id).await["available"], 5);
    for _ in 0..2 {
        assert_eq!(
            app.order_event(types::ORDER_CANCELLED, &cancelled, &id, 3)
                .await,
            204
        );
        assert_eq!(
            app.order_event(types::ORDER_COMPLETED, &paid, &id, 2).await,
            204
        );
    }
    assert_eq!(app.show(&id).await["available"], 8);
}

#[tokio::test]
async fn an_end_that_arrives_before_its_hold_is_retried_later() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let id = app.list(&seller, "Drop", 4).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CANCELLED, &order, &id, 1)
            .await,
        409
    );
    assert_eq!(app.show(&id).await["available"], 4, "nothing changed");
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, &id, 1).await,
        204
    );
    assert_eq!(
        app.order_event(types::ORDER_CANCELLED, &order, &id, 1)
            .await,
        204
    );
    assert_eq!(app.show(&id).await["available"], 4);
}

#[tokio::test]
async fn a_cancellation_of_a_sold_hold_will_never_apply() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let id = app.list(&seller, "Drop", 4).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, &id, 1).await,
        204
    );
    assert_eq!(
        app.order_event(types::ORDER_COMPLETED, &order, &id, 1)
            .await,
        204
    );
    assert_eq!(
        app.order_event(types::ORDER_CANCELLED, &order, &id, 1)
            .await,
        400
    );
    assert_eq!(app.show(&id).await["available"], 3);
}

#[tokio::test]
async fn a_hold_on_an_unknown_listing_is_refused() {
    let app = TestApp::start().await;
    let order = uuid::Uuid::now_v7().to_string();
    let ticket = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, &ticket, 1)
            .await,
        400
    );
}

#[tokio::test]
async fn an_event_that_is_not_a_cloudevent_or_of_another_type_is_refused() {
    let app = TestApp::start().await;
    let router = shared::routing::finish(tickets::holds::router(
        app.state.tickets.clone(),
        tickets::holds::HOLD,
    ));
    let plain = shared::testing::json_request("POST", "/", &serde_json::json!({"id": "x"}));
    assert_eq!(shared::testing::send(&router, plain).await.status(), 400);
    let wrong =
        shared::events::CloudEvent::new("test", types::TICKET_CREATED, "x", &serde_json::json!({}))
            .expect("event");
    let response = shared::testing::send(&router, shared::testing::event_request(&wrong)).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn order_events_the_contract_forbids_are_refused_and_change_nothing() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let id = app.list(&seller, "Drop", 10).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let order = uuid::Uuid::now_v7().to_string();
    let created = support::order_data(types::ORDER_CREATED, &order, &id, 2);
    for (field, value) in [
        ("quantity", json!(-1000)),
        ("quantity", json!(0)),
        ("quantity", json!(11)),
        ("quantity", json!("2")),
        ("id", json!("not-an-id")),
        ("id", json!(order.to_uppercase())),
        ("ticket", json!({"id": "t1", "price": 2000})),
        ("ticket", json!({"id": id, "price": 0})),
        ("ticket", json!({"id": id})),
        ("total", json!(-4000)),
        ("expiresAt", json!("tomorrow")),
        ("version", json!(-1)),
        ("userId", json!("")),
        ("status", json!("cancelled")),
    ] {
        let mut data = created.clone();
        data[field] = value.clone();
        assert_eq!(
            app.order_event_with(types::ORDER_CREATED, &data).await,
            400,
            "{field}: {value}"
        );
    }
    let mut without_total = created.clone();
    without_total
        .as_object_mut()
        .expect("object")
        .remove("total");
    assert_eq!(
        app.order_event_with(types::ORDER_CREATED, &without_total)
            .await,
        400
    );
    assert_eq!(app.show(&id).await["available"], 10, "nothing was held");

    assert_eq!(
        app.order_event_with(types::ORDER_CREATED, &created).await,
        204
    );
    for kind in [types::ORDER_CANCELLED, types::ORDER_COMPLETED] {
        let ended = support::order_data(kind, &order, &id, 2);
        for (field, value) in [
            ("quantity", json!(-2)),
            ("id", json!("x")),
            ("version", json!(-1)),
            ("ticket", json!({"id": 7})),
        ] {
            let mut data = ended.clone();
            data[field] = value.clone();
            assert_eq!(
                app.order_event_with(kind, &data).await,
                400,
                "{kind} {field}: {value}"
            );
        }
    }
    assert_eq!(
        app.show(&id).await["available"],
        8,
        "only the valid hold counted"
    );
}
