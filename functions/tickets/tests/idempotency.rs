//! `Idempotency-Key` on `POST /api/tickets`, and what a DynamoDB that stops answering costs a
//! request, against DynamoDB Local and NATS.

mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use shared::dynamo::{self, PK};
use shared::error::ApiError;
use shared::events::types;
use shared::idempotency::{self, Claim, IdempotencyKey, Keys};
use shared::testing::{self, authed_empty, authed_json, json_body};
use support::TestApp;
use tickets::TicketState;
use tickets::store::Tickets;

fn listing(bearer: &str, key: &str, title: &str) -> Request<Body> {
    let mut request = authed_json(
        "POST",
        "/api/tickets",
        bearer,
        &json!({"title": title, "price": 20, "quantity": 10}),
    );
    request
        .headers_mut()
        .insert("idempotency-key", key.parse().expect("header"));
    request
}

/// Every listing with tickets left, as `GET /api/tickets` shows them.
async fn listings(app: &TestApp, bearer: &str) -> Vec<Value> {
    let response = app
        .send(authed_empty("GET", "/api/tickets?limit=100", bearer))
        .await;
    assert_eq!(response.status(), 200);
    json_body(response)
        .await
        .as_array()
        .expect("an array")
        .clone()
}

fn key_of(user: &str, key: &str) -> IdempotencyKey {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(idempotency::HEADER, key.parse().expect("header"));
    IdempotencyKey::from_headers(&headers, user)
        .expect("a valid key")
        .expect("a key")
}

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_first_answer_and_lists_nothing_new() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let first = app.send(listing(&bearer, "sell-1", "Concert")).await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()[header::CONTENT_TYPE], "application/json");
    let first = json_body(first).await;

    let again = app.send(listing(&bearer, "sell-1", "Concert")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        json_body(again).await,
        first,
        "the same listing, byte for byte"
    );
    assert_eq!(listings(&app, &bearer).await.len(), 1);
    assert_eq!(
        app.store.events.events(types::TICKET_CREATED).await.len(),
        1,
        "announced once"
    );

    // Another seller's identical key is another request; so is another key of the same seller.
    let (_, other) = app.user("other");
    let theirs = app.send(listing(&other, "sell-1", "Concert")).await;
    assert_eq!(theirs.status(), 201);
    assert_ne!(json_body(theirs).await["id"], first["id"]);
    let second = app.send(listing(&bearer, "sell-2", "Concert")).await;
    assert_eq!(second.status(), 201);
    assert_eq!(listings(&app, &bearer).await.len(), 3);
}

#[tokio::test]
async fn simultaneous_requests_with_one_key_list_once() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let requests = (0..8).map(|_| app.send(listing(&bearer, "double-click", "Festival")));
    let responses = futures::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        match response.status().as_u16() {
            201 => {
                ids.insert(json_body(response).await["id"].to_string());
            }
            409 => assert_eq!(
                json_body(response).await,
                json!({"errors": [{"message": "A request with this Idempotency-Key is in progress"}]})
            ),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 is the same listing");
    assert_eq!(listings(&app, &bearer).await.len(), 1);
}

#[tokio::test]
async fn keys_follow_the_orders_rules_and_come_after_body_validation() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    for key in [" ".to_owned(), "k".repeat(256)] {
        let response = app.send(listing(&bearer, &key, "Concert")).await;
        assert_eq!(response.status(), 400, "key {key:?}");
        assert_eq!(
            json_body(response).await,
            json!({"errors": [{"message": "Idempotency-Key must be 1 to 255 characters"}]})
        );
    }
    let longest = app
        .send(listing(&bearer, &"k".repeat(255), "Concert"))
        .await;
    assert_eq!(longest.status(), 201);

    // An invalid body is refused as without a key, and the refusal does not use the key up.
    let mut invalid = authed_json("POST", "/api/tickets", &bearer, &json!({"price": 20}));
    invalid
        .headers_mut()
        .insert("idempotency-key", "form-1".parse().expect("header"));
    let invalid = app.send(invalid).await;
    assert_eq!(invalid.status(), 400);
    assert_eq!(
        json_body(invalid).await,
        json!({"errors": [{"message": "Title is required", "field": "title"}]})
    );
    let valid = app.send(listing(&bearer, "form-1", "Concert")).await;
    assert_eq!(valid.status(), 201);
}

#[tokio::test]
async fn a_failure_releases_the_key_and_a_refusal_is_remembered() {
    let app = TestApp::start().await;
    // The shared mechanism, straight on this context's table.
    let table = &dynamo::Table::new(
        app.store.client(),
        app.store.prefix(),
        &tickets::store::TABLE,
    );

    let released = key_of("seller", "retry-me");
    assert!(matches!(
        Keys::new(table).claim(&released).await.expect("claim"),
        Claim::Claimed
    ));
    Keys::new(table)
        .settle(&released, &ApiError::unavailable("DynamoDB went away"))
        .await;
    assert!(
        matches!(
            Keys::new(table)
                .claim(&key_of("seller", "retry-me"))
                .await
                .expect("claim again"),
            Claim::Claimed
        ),
        "a 5xx leaves the key free for the retry"
    );

    let refused = key_of("seller", "refuse-me");
    assert!(matches!(
        Keys::new(table).claim(&refused).await.expect("claim"),
        Claim::Claimed
    ));
    Keys::new(table)
        .settle(&refused, &ApiError::rule("No such thing"))
        .await;
    let Claim::Replay(replay) = Keys::new(table)
        .claim(&key_of("seller", "refuse-me"))
        .await
        .expect("claim again")
    else {
        panic!("a refusal is the answer, and is replayed");
    };
    assert_eq!(replay.status(), 400);
    assert_eq!(
        json_body(replay).await,
        json!({"errors": [{"message": "No such thing"}]})
    );
}

#[tokio::test]
async fn a_lapsed_claim_taken_over_by_a_retry_can_no_longer_complete() {
    let app = TestApp::start().await;
    // The shared mechanism, straight on this context's table.
    let table = &dynamo::Table::new(
        app.store.client(),
        app.store.prefix(),
        &tickets::store::TABLE,
    );
    let lost = key_of("seller", "stalled");
    assert!(matches!(
        Keys::new(table).claim(&lost).await.expect("claim"),
        Claim::Claimed
    ));
    // While the first request holds the claim, a retry waits.
    let waiting = Keys::new(table).claim(&key_of("seller", "stalled")).await;
    assert!(
        matches!(&waiting, Err(ApiError::Conflict(m)) if m == idempotency::IN_PROGRESS),
        "409 while the first request runs"
    );

    // The first request is lost (its process stalled past the lapse): age its claim.
    table
        .client()
        .update_item()
        .table_name(table.table())
        .key(PK, dynamo::s("idempotency#seller#stalled"))
        .update_expression("SET claimedUntil = :past")
        .expression_attribute_values(":past", dynamo::n(shared::time::unix_now() - 1))
        .send()
        .await
        .expect("age the claim");
    let retry = key_of("seller", "stalled");
    assert!(matches!(
        Keys::new(table).claim(&retry).await.expect("take over"),
        Claim::Claimed
    ));

    // The lost request's writes arrive after all: refused, so the key records one answer only.
    let late = Keys::new(table)
        .record(&lost, axum::http::StatusCode::CREATED, "{\"late\":1}")
        .expect("write");
    assert!(table.transact(vec![late]).await.expect("answer").is_err());
    Keys::new(table)
        .settle(&lost, &ApiError::unavailable("late"))
        .await;
    let current = Keys::new(table)
        .record(&retry, axum::http::StatusCode::CREATED, "{\"id\":2}")
        .expect("write");
    assert!(table.transact(vec![current]).await.expect("answer").is_ok());
    let Claim::Replay(replay) = Keys::new(table)
        .claim(&key_of("seller", "stalled"))
        .await
        .expect("claim")
    else {
        panic!("done, so replayed");
    };
    assert_eq!(json_body(replay).await, json!({"id": 2}));
}

#[tokio::test]
async fn a_database_that_stops_answering_costs_a_request_seconds_and_a_503() {
    let app = TestApp::start().await;
    let (client, _silent) = testing::stalled_client().await;
    let state = TicketState {
        tickets: Tickets::new(client, app.store.prefix()),
        ..app.state.clone()
    };
    let api = shared::routing::finish(
        tickets::create_ticket::router(state.clone())
            .merge(tickets::list_tickets::router(state.tickets.clone())),
    );
    let (_, bearer) = app.user("seller");
    for request in [
        listing(&bearer, "frozen", "Concert"),
        testing::empty_request("GET", "/api/tickets"),
    ] {
        let started = Instant::now();
        let response = testing::send(&api, request).await;
        let took = started.elapsed();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            json_body(response).await,
            json!({"errors": [{"message": "Service unavailable, please retry"}]})
        );
        assert!(
            took < Duration::from_secs(8),
            "answered after {took:?}, within DynamoDB's operation deadline"
        );
    }
}
