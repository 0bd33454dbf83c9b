//! Placing orders: the atomic hold, its refusals, and idempotency keys.

mod support;

use std::time::Duration;

use contract::events::{OrderCreatedData, OrderedTicket};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use orders::place_order::{created_event, new_order};
use orders::store::{Placed, Placement};
use serde_json::json;
use shared::events::types;
use shared::testing::{authed_json, json_body, json_request};
use support::TestApp;

#[tokio::test]
async fn an_order_holds_tickets_until_it_expires_and_is_announced() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (buyer, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 5).await;
    let response = app.order(&bearer, &ticket, 2).await;
    assert_eq!(response.status(), 201);
    let order = json_body(response).await;
    assert_eq!(order["status"], "created");
    assert_eq!(order["userId"], buyer.as_str());
    assert_eq!(order["quantity"], 2);
    assert_eq!(
        order["ticket"],
        json!({"id": ticket, "title": "Show v0", "price": 20})
    );
    assert_eq!(order["total"], 40);
    assert_eq!(order["version"], 0);
    let created = time::OffsetDateTime::parse(
        order["createdAt"].as_str().expect("t"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    let expires = time::OffsetDateTime::parse(
        order["expiresAt"].as_str().expect("t"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    // The hold lasts at least 900 s; both times are shown to the second.
    assert!((900..=901).contains(&(expires - created).whole_seconds()));
    assert_eq!(app.replica(&ticket).await.available, 3);

    let events = app.store.events.events(types::ORDER_CREATED).await;
    assert_eq!(events.len(), 1);
    let expected = OrderCreatedData {
        id: OrderId::from(order["id"].as_str().expect("id")),
        version: 0,
        status: OrderStatus::Created,
        user_id: UserId::from(buyer.as_str()),
        expires_at: order["expiresAt"].as_str().expect("expiresAt").to_owned(),
        quantity: Quantity(2),
        ticket: OrderedTicket {
            id: TicketId::from(ticket.as_str()),
            price: Cents(2000),
        },
        total: Cents(4000),
    };
    assert_eq!(
        events[0].data,
        serde_json::to_value(expected).expect("json")
    );
}

#[tokio::test]
async fn the_contract_order_of_checks_is_kept() {
    let app = TestApp::start().await;
    let (seller, seller_bearer) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 1).await;

    let anonymous = app
        .send(json_request(
            "POST",
            "/api/orders",
            &json!({"ticketId": ticket}),
        ))
        .await;
    assert_eq!(anonymous.status(), 401);

    let invalid = app
        .send(authed_json(
            "POST",
            "/api/orders",
            &bearer,
            &json!({"quantity": 11}),
        ))
        .await;
    assert_eq!(invalid.status(), 400);
    assert_eq!(
        json_body(invalid).await,
        json!({"errors": [
            {"message": "TicketId must be provided", "field": "ticketId"},
            {"message": "Quantity must be a whole number between 1 and 10", "field": "quantity"}
        ]})
    );
    for unknown in [uuid::Uuid::now_v7().to_string(), "garbage".to_owned()] {
        let response = app.order(&bearer, &unknown, 1).await;
        assert_eq!(response.status(), 404, "{unknown}");
    }
    let own = app.order(&seller_bearer, &ticket, 1).await;
    assert_eq!(own.status(), 400);
    assert_eq!(
        json_body(own).await,
        json!({"errors": [{"message": "You cannot buy your own ticket"}]})
    );

    let too_many = app.order(&bearer, &ticket, 2).await;
    assert_eq!(too_many.status(), 400);
    assert_eq!(
        json_body(too_many).await,
        json!({"errors": [{"message": "Ticket is already reserved"}]})
    );
    assert_eq!(
        app.replica(&ticket).await.available,
        1,
        "refusals hold nothing"
    );
    assert!(
        app.store
            .events
            .events(types::ORDER_CREATED)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn many_buyers_at_once_never_hold_more_than_there_is() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let ticket = app.listing(&seller, 5).await;
    let buyers: Vec<String> = (0..25).map(|i| app.user(&format!("b{i}")).1).collect();
    let responses =
        futures::future::join_all(buyers.iter().map(|b| app.order(b, &ticket, 1))).await;
    let mut created = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            400 => assert_eq!(
                json_body(response).await,
                json!({"errors": [{"message": "Ticket is already reserved"}]})
            ),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 5);
    let replica = app.replica(&ticket).await;
    assert_eq!((replica.available, replica.reserved), (0, 5));
    assert_eq!(app.store.events.events(types::ORDER_CREATED).await.len(), 5);
}

#[tokio::test]
async fn a_group_that_does_not_fit_places_the_earliest_orders_that_do() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let ticket = app.listing(&seller, 6).await;
    let replica = app.replica(&ticket).await;
    let group: Vec<Placement> = [3, 5, 2]
        .into_iter()
        .map(|quantity| {
            let buyer = uuid::Uuid::now_v7().to_string();
            let order = new_order(
                &buyer,
                &replica,
                Quantity(quantity),
                Duration::from_secs(900),
            );
            let event = created_event(&order).expect("event");
            Placement {
                event: app.state.outbox.record(&event).expect("record"),
                order,
                answer: None,
            }
        })
        .collect();
    let placed: Vec<Placed> = app
        .state
        .orders
        .place_group(&group)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("placed"))
        .collect();
    // 3 + 5 is more than the 6 left: the first and the third fit, the second is refused.
    assert_eq!(placed, [Placed::Held, Placed::SoldOut, Placed::Held]);
    let replica = app.replica(&ticket).await;
    assert_eq!((replica.available, replica.reserved), (1, 5));
    for (one, outcome) in group.iter().zip(&placed) {
        let stored = app
            .state
            .orders
            .order(one.order.id.as_str())
            .await
            .expect("read");
        assert_eq!(stored.is_some(), *outcome == Placed::Held);
    }
}

#[tokio::test]
async fn buyers_of_mixed_quantities_at_once_get_exactly_what_is_left() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let ticket = app.listing(&seller, 50).await;
    let buyers: Vec<(String, i64)> = (0..60)
        .map(|i| (app.user(&format!("m{i}")).1, 1 + i % 3))
        .collect();
    let responses = futures::future::join_all(
        buyers
            .iter()
            .map(|(bearer, quantity)| app.order(bearer, &ticket, *quantity)),
    )
    .await;
    let mut held = 0;
    for ((_, quantity), response) in buyers.iter().zip(responses) {
        match response.status().as_u16() {
            201 => held += quantity,
            400 => {}
            other => panic!("unexpected {other}"),
        }
    }
    let replica = app.replica(&ticket).await;
    assert_eq!(replica.available + replica.reserved, 50);
    assert_eq!(replica.reserved, held);
    // 60 buyers want 120: at most one or two tickets can stay unsold (a 3 or a 2 that did not fit).
    assert!(replica.available < 3, "{replica:?}");
    let created = app.store.events.events(types::ORDER_CREATED).await;
    let announced: i64 = created
        .iter()
        .map(|event| event.data["quantity"].as_i64().expect("quantity"))
        .sum();
    assert_eq!(announced, held);
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_replays_the_first_answer() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 5).await;
    let request = || {
        let mut request = authed_json("POST", "/api/orders", &bearer, &json!({"ticketId": ticket}));
        request
            .headers_mut()
            .insert("idempotency-key", "checkout-1".parse().expect("h"));
        request
    };
    let first = app.send(request()).await;
    assert_eq!(first.status(), 201);
    let first = json_body(first).await;
    let again = app.send(request()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(json_body(again).await, first);
    assert_eq!(app.replica(&ticket).await.available, 4, "one hold only");
    assert_eq!(app.store.events.events(types::ORDER_CREATED).await.len(), 1);

    // Another user's identical key is another request.
    let (_, other) = app.user("other");
    let mut theirs = authed_json("POST", "/api/orders", &other, &json!({"ticketId": ticket}));
    theirs
        .headers_mut()
        .insert("idempotency-key", "checkout-1".parse().expect("h"));
    let theirs = app.send(theirs).await;
    assert_eq!(theirs.status(), 201);
    assert_ne!(json_body(theirs).await["id"], first["id"]);
}

#[tokio::test]
async fn simultaneous_requests_with_one_key_create_one_order() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 10).await;
    let requests = (0..8).map(|_| {
        let mut request = authed_json("POST", "/api/orders", &bearer, &json!({"ticketId": ticket}));
        request
            .headers_mut()
            .insert("idempotency-key", "double-click".parse().expect("h"));
        app.send(request)
    });
    let responses = futures::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        match response.status().as_u16() {
            201 => {
                ids.insert(
                    json_body(response).await["id"]
                        .as_str()
                        .expect("id")
                        .to_owned(),
                );
            }
            409 => assert_eq!(
                json_body(response).await,
                json!({"errors": [{"message": "A request with this Idempotency-Key is in progress"}]})
            ),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 is the same order");
    assert_eq!(app.replica(&ticket).await.available, 9);
}

#[tokio::test]
async fn a_refusal_is_replayed_too_and_an_overlong_key_is_refused() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.listing(&seller, 1).await;
    let with_key = |key: &str| {
        let mut request = authed_json(
            "POST",
            "/api/orders",
            &bearer,
            &json!({"ticketId": ticket, "quantity": 2}),
        );
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().expect("h"));
        request
    };
    let refused = app.send(with_key("k")).await;
    assert_eq!(refused.status(), 400);
    let replayed = app.send(with_key("k")).await;
    assert_eq!(replayed.status(), 400);
    assert_eq!(
        json_body(replayed).await,
        json!({"errors": [{"message": "Ticket is already reserved"}]})
    );

    let long = app.send(with_key(&"k".repeat(256))).await;
    assert_eq!(long.status(), 400);
    let longest = app.send(with_key(&"k".repeat(255))).await;
    assert_eq!(longest.status(), 400);
    assert_eq!(
        json_body(longest).await,
        json!({"errors": [{"message": "Ticket is already reserved"}]}),
        "a 255-character key is accepted; the listing still has too few"
    );
}
