//! Event details and drops on listings, against DynamoDB Local and NATS: what create and update
//! accept, store, show and announce.

mod support;

use contract::events::TicketData;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::events::types;
use shared::testing::{authed_json, json_body};
use support::TestApp;

/// An RFC 3339 time `seconds` from now, to the second.
fn from_now(seconds: i64) -> String {
    let at = shared::time::now() + time::Duration::seconds(seconds);
    shared::time::rfc3339(at.replace_nanosecond(0).expect("whole second"))
}

async fn post(app: &TestApp, bearer: &str, body: Value) -> (u16, Value) {
    let response = app
        .send(authed_json("POST", "/api/tickets", bearer, &body))
        .await;
    (response.status().as_u16(), json_body(response).await)
}

async fn put(app: &TestApp, bearer: &str, id: &str, body: Value) -> (u16, Value) {
    let response = app
        .send(authed_json(
            "PUT",
            &format!("/api/tickets/{id}"),
            bearer,
            &body,
        ))
        .await;
    (response.status().as_u16(), json_body(response).await)
}

fn sha256_of_hex(seed: &str) -> String {
    hex::encode(Sha256::digest(hex::decode(seed).expect("hex seed")))
}

#[tokio::test]
async fn venue_and_start_are_stored_shown_and_announced() {
    let app = TestApp::start().await;
    let (seller, bearer) = app.user("seller");
    let (status, ticket) = post(
        &app,
        &bearer,
        json!({"title": "Concert", "price": 20, "venue": " Paradiso ",
               "startsAt": "2027-03-01T21:00:00+01:00"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(ticket["venue"], "Paradiso");
    assert_eq!(ticket["startsAt"], "2027-03-01T20:00:00Z");
    assert!(ticket.get("onSaleAt").is_none());
    let id = ticket["id"].as_str().expect("id");
    assert_eq!(app.show(id).await, ticket);
    let created = app.store.events.events(types::TICKET_CREATED).await;
    let expected = TicketData {
        venue: Some("Paradiso".to_owned()),
        starts_at: Some("2027-03-01T20:00:00Z".to_owned()),
        ..support::ticket_data(id, &seller, 0, "Concert", 2000, 1)
    };
    assert_eq!(
        created[0].data,
        serde_json::to_value(expected).expect("json")
    );

    let (status, updated) = put(
        &app,
        &bearer,
        id,
        json!({"title": "Concert", "price": 20, "venue": "Ahoy"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["venue"], "Ahoy");
    assert!(
        updated.get("startsAt").is_none(),
        "a PUT replaces the terms"
    );
    assert_eq!(app.show(id).await, updated);
    let announced = app.store.events.events(types::TICKET_UPDATED).await;
    assert_eq!(announced[0].data["venue"], "Ahoy");
    assert!(announced[0].data.get("startsAt").is_none());
}

#[tokio::test]
async fn bad_details_get_the_contract_s_messages() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let (status, body) = post(
        &app,
        &bearer,
        json!({"title": "x", "price": 1, "venue": "v".repeat(201), "startsAt": "soon",
               "onSaleAt": from_now(-60)}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [
            {"field": "venue", "message": "Venue must be at most 200 characters"},
            {"field": "startsAt", "message": "Start time must be an RFC 3339 date and time"},
            {"field": "onSaleAt", "message": "On-sale time must be in the future"},
        ]})
    );
}

#[tokio::test]
async fn a_drop_publishes_the_hash_of_its_seed_and_announces_the_seed() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let on_sale_at = from_now(3600);
    let (status, ticket) = post(
        &app,
        &bearer,
        json!({"title": "Drop", "price": 20, "quantity": 500, "onSaleAt": on_sale_at}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(ticket["onSaleAt"], on_sale_at.as_str());
    assert!(
        ticket.get("queueSeed").is_none(),
        "the seed is secret until sales start"
    );
    let created = app.store.events.events(types::TICKET_CREATED).await;
    let seed = created[0].data["queueSeed"]
        .as_str()
        .expect("seed in the event");
    assert_eq!(seed.len(), 64);
    assert_eq!(ticket["queueSeedHash"], sha256_of_hex(seed).as_str());
    assert_eq!(created[0].data["onSaleAt"], on_sale_at.as_str());
}

#[tokio::test]
async fn moving_a_drop_keeps_its_seed_and_removing_it_drops_the_seed() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let (_, ticket) = post(&app, &bearer, json!({"title": "Drop", "price": 20})).await;
    let id = ticket["id"].as_str().expect("id");
    assert!(ticket.get("queueSeedHash").is_none());

    let (status, dropped) = put(
        &app,
        &bearer,
        id,
        json!({"title": "Drop", "price": 20, "onSaleAt": from_now(3600)}),
    )
    .await;
    assert_eq!(status, 200);
    let hash = dropped["queueSeedHash"]
        .as_str()
        .expect("a drop now")
        .to_owned();

    let later = from_now(7200);
    let (status, moved) = put(
        &app,
        &bearer,
        id,
        json!({"title": "Drop", "price": 20, "onSaleAt": later}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(moved["onSaleAt"], later.as_str());
    assert_eq!(moved["queueSeedHash"], hash.as_str());

    let (status, plain) = put(&app, &bearer, id, json!({"title": "Drop", "price": 20})).await;
    assert_eq!(status, 200);
    assert!(plain.get("onSaleAt").is_none());
    assert!(plain.get("queueSeedHash").is_none());
    let updates = app.store.events.events(types::TICKET_UPDATED).await;
    assert_eq!(updates.len(), 3);
    assert!(updates[2].data.get("queueSeed").is_none());
}

#[tokio::test]
async fn once_sales_start_the_on_sale_time_stays_and_the_seed_is_shown() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let on_sale_at = from_now(2);
    let (_, ticket) = post(
        &app,
        &bearer,
        json!({"title": "Drop", "price": 20, "quantity": 5, "onSaleAt": on_sale_at}),
    )
    .await;
    let id = ticket["id"].as_str().expect("id");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;

    let shown = app.show(id).await;
    let seed = shown["queueSeed"]
        .as_str()
        .expect("the seed, from onSaleAt on");
    assert_eq!(shown["queueSeedHash"], sha256_of_hex(seed).as_str());

    for terms in [
        json!({"title": "Drop", "price": 20, "quantity": 5}),
        json!({"title": "Drop", "price": 20, "quantity": 5, "onSaleAt": from_now(3600)}),
    ] {
        let (status, body) = put(&app, &bearer, id, terms).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"errors": [{"field": "onSaleAt",
                "message": "On-sale time must be in the future"}]})
        );
    }
    let (status, renamed) = put(
        &app,
        &bearer,
        id,
        json!({"title": "Drop!", "price": 20, "quantity": 5, "onSaleAt": on_sale_at}),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["queueSeed"], seed);
}

#[tokio::test]
async fn a_drop_on_sale_keeps_its_quantity_from_going_down_and_cannot_be_withdrawn() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let on_sale_at = from_now(2);
    let (_, ticket) = post(
        &app,
        &bearer,
        json!({"title": "Drop", "price": 20, "quantity": 5, "onSaleAt": on_sale_at}),
    )
    .await;
    let id = ticket["id"].as_str().expect("id");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;

    // Admitted buyers may hold every ticket in the orders context: none may be taken away.
    let (status, body) = put(
        &app,
        &bearer,
        id,
        json!({"title": "Drop", "price": 20, "quantity": 4, "onSaleAt": on_sale_at}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"message": "The quantity of a drop cannot be lowered once sales have started"}]})
    );
    let withdrawn = app
        .send(shared::testing::authed_empty(
            "DELETE",
            &format!("/api/tickets/{id}"),
            &bearer,
        ))
        .await;
    assert_eq!(withdrawn.status(), 400);
    assert_eq!(
        json_body(withdrawn).await,
        json!({"errors": [{"message": "Cannot withdraw a drop once sales have started"}]})
    );
    assert_eq!(app.show(id).await["quantity"], 5);

    // More tickets for the crowd are fine.
    let (status, more) = put(
        &app,
        &bearer,
        id,
        json!({"title": "Drop", "price": 20, "quantity": 8, "onSaleAt": on_sale_at}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(more["quantity"], 8);
}

#[tokio::test]
async fn a_listing_that_has_sold_cannot_become_a_drop() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let ticket = app.list(&bearer, "Concert", 5).await;
    let id = ticket["id"].as_str().expect("id");
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, id, 1).await,
        204
    );
    assert_eq!(
        app.order_event(types::ORDER_COMPLETED, &order, id, 1).await,
        204
    );

    let (status, body) = put(
        &app,
        &bearer,
        id,
        json!({"title": "Concert", "price": 20, "quantity": 5, "onSaleAt": from_now(3600)}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"field": "onSaleAt", "message": "On-sale time must be in the future"}]})
    );
    assert!(app.show(id).await.get("onSaleAt").is_none());
}
