//! `DELETE /api/tickets/:id` against DynamoDB Local and NATS.

mod support;

use serde_json::{Value, json};
use shared::events::types;
use shared::testing::{authed_empty, authed_json, empty_request, json_body};
use support::TestApp;

async fn withdraw(app: &TestApp, bearer: &str, id: &str) -> (u16, Value) {
    let response = app
        .send(authed_empty(
            "DELETE",
            &format!("/api/tickets/{id}"),
            bearer,
        ))
        .await;
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

fn id_of(ticket: &Value) -> &str {
    ticket["id"].as_str().expect("id")
}

#[tokio::test]
async fn an_unsold_listing_goes_off_sale_once_and_is_announced_with_nothing_left() {
    let app = TestApp::start().await;
    let (seller, bearer) = app.user("seller");
    let ticket = app.list(&bearer, "Concert", 3).await;
    let id = id_of(&ticket);

    let (status, withdrawn) = withdraw(&app, &bearer, id).await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(withdrawn["quantity"], 0);
    assert_eq!(withdrawn["available"], 0);
    assert_eq!(withdrawn["version"], 1);
    assert_eq!(app.show(id).await, withdrawn);

    let (status, again) = withdraw(&app, &bearer, id).await;
    assert_eq!(status, 200);
    assert_eq!(again, withdrawn);
    let updates = app.store.events.events(types::TICKET_UPDATED).await;
    assert_eq!(updates.len(), 1, "withdrawn once, announced once");
    assert_eq!(updates[0].source, "/ticketing/withdraw-ticket");
    let expected = support::ticket_data(id, &seller, 1, "Concert", 2000, 0);
    assert_eq!(
        updates[0].data,
        serde_json::to_value(expected).expect("json")
    );

    let response = app.send(empty_request("GET", "/api/tickets")).await;
    assert_eq!(json_body(response).await, json!([]));
    let response = app
        .send(authed_json(
            "PUT",
            &format!("/api/tickets/{id}"),
            &bearer,
            &json!({"title": "Concert", "price": 20, "quantity": 3}),
        ))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_body(response).await,
        json!({"errors": [{"message": "Ticket was withdrawn"}]})
    );
}

#[tokio::test]
async fn only_the_seller_withdraws_and_unknown_listings_are_not_found() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let (_, stranger) = app.user("stranger");
    let ticket = app.list(&bearer, "Concert", 1).await;
    let (status, _) = withdraw(&app, &stranger, id_of(&ticket)).await;
    assert_eq!(status, 403);
    let (status, _) = withdraw(&app, &bearer, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(status, 404);
    let (status, _) = withdraw(&app, &bearer, "not-an-id").await;
    assert_eq!(status, 404);
    let response = app
        .send(empty_request(
            "DELETE",
            &format!("/api/tickets/{}", id_of(&ticket)),
        ))
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.show(id_of(&ticket)).await["available"], 1);
}

#[tokio::test]
async fn held_tickets_block_a_withdrawal_and_sold_ones_stay_sold() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let ticket = app.list(&bearer, "Concert", 5).await;
    let id = id_of(&ticket);
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, id, 2).await,
        204
    );

    let (status, body) = withdraw(&app, &bearer, id).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"message": "Cannot withdraw a reserved ticket"}]})
    );

    assert_eq!(
        app.order_event(types::ORDER_COMPLETED, &order, id, 2).await,
        204
    );
    let (status, withdrawn) = withdraw(&app, &bearer, id).await;
    assert_eq!(status, 200);
    assert_eq!(withdrawn["quantity"], 2, "what was sold stays sold");
    assert_eq!(withdrawn["available"], 0);
}

#[tokio::test]
async fn a_sold_out_listing_has_nothing_to_withdraw() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let ticket = app.list(&bearer, "Concert", 1).await;
    let id = id_of(&ticket);
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, id, 1).await,
        204
    );
    assert_eq!(
        app.order_event(types::ORDER_COMPLETED, &order, id, 1).await,
        204
    );
    let (status, body) = withdraw(&app, &bearer, id).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"message": "Cannot withdraw a sold-out ticket"}]})
    );
}
