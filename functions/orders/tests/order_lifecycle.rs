//! Cancelling, listing and showing orders; expiry and payment outcomes.

mod support;

use contract::events::{OrderEndedData, PaymentFailedData, PaymentPendingData, TicketRef, types};
use contract::{OrderId, PaymentId, Quantity, TicketId};
use serde_json::json;
use shared::events::CloudEvent;
use shared::testing::{authed_empty, json_body};
use support::TestApp;

#[tokio::test]
async fn cancelling_releases_the_hold_once_and_announces_it() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 3).await;
    let order = app.placed(&bearer, &ticket, 2).await;
    let path = format!("/api/orders/{}", order["id"].as_str().expect("id"));
    for _ in 0..2 {
        let response = app.send(authed_empty("DELETE", &path, &bearer)).await;
        assert_eq!(response.status(), 204);
        assert!(json_body(response).await.is_null(), "empty body");
    }
    assert_eq!(app.replica(&ticket).await.available, 3);
    let shown = json_body(app.send(authed_empty("GET", &path, &bearer)).await).await;
    assert_eq!(shown["status"], "cancelled");
    assert_eq!(shown["version"], 1);
    let events = app.store.events.events(types::ORDER_CANCELLED).await;
    assert_eq!(events.len(), 1);
    let expected = OrderEndedData {
        id: OrderId::from(order["id"].as_str().expect("id")),
        version: 1,
        quantity: Quantity(2),
        ticket: TicketRef {
            id: TicketId::from(ticket.as_str()),
        },
    };
    assert_eq!(
        events[0].data,
        serde_json::to_value(expected).expect("json")
    );

    // The released tickets can be ordered again.
    let (_, other) = app.user("other");
    assert_eq!(app.order(&other, &ticket, 3).await.status(), 201);
}

#[tokio::test]
async fn only_the_buyer_sees_or_cancels_an_order() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let (_, stranger) = app.user("stranger");
    let ticket = app.listing(&seller, 3).await;
    let order = app.placed(&bearer, &ticket, 1).await;
    let path = format!("/api/orders/{}", order["id"].as_str().expect("id"));
    for method in ["GET", "DELETE"] {
        let response = app.send(authed_empty(method, &path, &stranger)).await;
        assert_eq!(response.status(), 403, "{method}");
        let response = app
            .send(shared::testing::empty_request(method, &path))
            .await;
        assert_eq!(response.status(), 401, "{method}");
        let unknown = format!("/api/orders/{}", uuid::Uuid::now_v7());
        assert_eq!(
            app.send(authed_empty(method, &unknown, &bearer))
                .await
                .status(),
            404
        );
        assert_eq!(
            app.send(authed_empty(method, "/api/orders/nope", &bearer))
                .await
                .status(),
            404
        );
    }
    let shown = app.send(authed_empty("GET", &path, &bearer)).await;
    assert_eq!(json_body(shown).await, order);
}

#[tokio::test]
async fn a_paid_order_completes_once_and_cannot_be_cancelled() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 3).await;
    let order = app.placed(&bearer, &ticket, 1).await;
    let id = order["id"].as_str().expect("id");
    let payment_id = uuid::Uuid::now_v7().to_string();
    // Data that breaks the contract (a payment id that is no id) is refused before anything is
    // written: a 400, for the dead letters.
    let forged = support::payment_created("pay-1", id);
    assert_eq!(
        app.deliver(
            orders::outcomes::complete_router(app.state.ledger()),
            &forged
        )
        .await,
        400
    );
    let payment = support::payment_created(&payment_id, id);
    for _ in 0..2 {
        let status = app
            .deliver(
                orders::outcomes::complete_router(app.state.ledger()),
                &payment,
            )
            .await;
        assert_eq!(status, 204);
    }
    assert_eq!(
        app.store.events.events(types::ORDER_COMPLETED).await.len(),
        1
    );
    let path = format!("/api/orders/{id}");
    let refused = app.send(authed_empty("DELETE", &path, &bearer)).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        json_body(refused).await,
        json!({"errors": [{"message": "Cannot cancel a completed order"}]})
    );
    let shown = json_body(app.send(authed_empty("GET", &path, &bearer)).await).await;
    assert_eq!(
        (shown["status"].as_str(), shown["version"].as_i64()),
        (Some("complete"), Some(1))
    );
    assert_eq!(
        app.replica(&ticket).await.available,
        2,
        "a sale keeps its tickets"
    );

    // Expiry after payment changes nothing.
    let expired = support::lapsed(&order);
    let status = app
        .deliver(
            orders::outcomes::expire_router(app.state.ledger()),
            &expired,
        )
        .await;
    assert_eq!(status, 204);
    let shown = json_body(app.send(authed_empty("GET", &path, &bearer)).await).await;
    assert_eq!(shown["status"], "complete", "a paid order stays paid");
}

#[tokio::test]
async fn an_expired_hold_is_cancelled_and_its_tickets_released() {
    let app = TestApp::with_hold(std::time::Duration::from_secs(1)).await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 2).await;
    let order = app.placed(&bearer, &ticket, 2).await;
    let expired = support::lapsed(&order);
    for _ in 0..2 {
        let status = app
            .deliver(
                orders::outcomes::expire_router(app.state.ledger()),
                &expired,
            )
            .await;
        assert_eq!(status, 204);
    }
    assert_eq!(app.replica(&ticket).await.available, 2);
    assert_eq!(
        app.store.events.events(types::ORDER_CANCELLED).await.len(),
        1
    );
}

#[tokio::test]
async fn a_buyer_lists_only_their_orders_newest_first_a_page_at_a_time() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let (_, other) = app.user("other");
    let ticket = app.listing(&seller, 10).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            app.placed(&bearer, &ticket, 1).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    app.placed(&other, &ticket, 1).await;
    let first = app
        .send(authed_empty("GET", "/api/orders?limit=2", &bearer))
        .await;
    assert_eq!(first.status(), 200);
    let link = first.headers()["link"].to_str().expect("link").to_owned();
    let listed: Vec<String> = json_body(first)
        .await
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, vec![ids[2].clone(), ids[1].clone()]);
    assert_eq!(
        link,
        format!("</api/orders?limit=2&after={}>; rel=\"next\"", ids[1])
    );
    let second = app
        .send(authed_empty(
            "GET",
            &format!("/api/orders?limit=2&after={}", ids[1]),
            &bearer,
        ))
        .await;
    assert!(second.headers().get("link").is_none());
    let rest: Vec<String> = json_body(second)
        .await
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(rest, vec![ids[0].clone()]);
    assert_eq!(
        app.send(shared::testing::empty_request("GET", "/api/orders"))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_pending_payment_awaits_the_buyer_and_a_failed_one_reopens_the_order() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 3).await;
    let order = app.placed(&bearer, &ticket, 1).await;
    let id = order["id"].as_str().expect("id");
    let path = format!("/api/orders/{id}");
    let payment_id = uuid::Uuid::now_v7().to_string();
    let pending = PaymentPendingData {
        id: PaymentId::from(payment_id.as_str()),
        order_id: OrderId::from(id),
        stripe_id: "pi_1".to_owned(),
    };
    let pending =
        CloudEvent::of("test", types::PAYMENT_PENDING, &payment_id, &pending).expect("event");
    let failed = |payment_id: &str, stripe_id: &str| {
        let data = PaymentFailedData {
            id: PaymentId::from(payment_id),
            order_id: OrderId::from(id),
            stripe_id: stripe_id.to_owned(),
            reason: "declined".to_owned(),
        };
        CloudEvent::of("test", types::PAYMENT_FAILED, payment_id, &data).expect("event")
    };
    let router = || orders::outcomes::track_payment_router(app.state.orders.clone());
    for _ in 0..2 {
        assert_eq!(app.deliver(router(), &pending).await, 204);
    }
    let shown = json_body(app.send(authed_empty("GET", &path, &bearer)).await).await;
    assert_eq!(
        (shown["status"].as_str(), shown["version"].as_i64()),
        (Some("awaiting:payment"), Some(1))
    );
    // The failure of an earlier card does not reopen the attempt being authenticated.
    let stale_id = uuid::Uuid::now_v7().to_string();
    let stale = failed(&stale_id, "pi_0");
    assert_eq!(app.deliver(router(), &stale).await, 204);
    let shown = json_body(app.send(authed_empty("GET", &path, &bearer)).await).await;
    assert_eq!(shown["status"], "awaiting:payment");
    for _ in 0..2 {
        assert_eq!(
            app.deliver(router(), &failed(&payment_id, "pi_1")).await,
            204
        );
    }
    let shown = json_body(app.send(authed_empty("GET", &path, &bearer)).await).await;
    assert_eq!(
        (shown["status"].as_str(), shown["version"].as_i64()),
        (Some("created"), Some(2))
    );
    assert_eq!(
        app.replica(&ticket).await.available,
        2,
        "the hold lasts throughout"
    );
}
