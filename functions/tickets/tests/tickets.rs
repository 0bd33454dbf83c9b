//! The listing routes against DynamoDB Local and NATS.

mod support;

use serde_json::{Value, json};
use shared::events::types;
use shared::testing::{authed_json, empty_request, json_body};
use support::TestApp;

fn messages(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn listing_a_ticket_needs_a_session() {
    let app = TestApp::start().await;
    let response = app
        .send(shared::testing::json_request(
            "POST",
            "/api/tickets",
            &json!({"title": "Concert", "price": 20}),
        ))
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        json_body(response).await,
        json!({"errors": [{"message": "Not authorized"}]})
    );
}

#[tokio::test]
async fn a_new_listing_starts_at_version_zero_fully_available_and_is_announced() {
    let app = TestApp::start().await;
    let (seller, bearer) = app.user("seller");
    let response = app
        .send(authed_json(
            "POST",
            "/api/tickets",
            &bearer,
            &json!({"title": "  Concert ", "price": "19.99", "quantity": 500}),
        ))
        .await;
    assert_eq!(response.status(), 201);
    let ticket = json_body(response).await;
    assert_eq!(ticket["title"], "Concert");
    assert_eq!(ticket["price"], json!(19.99));
    assert_eq!(ticket["quantity"], 500);
    assert_eq!(ticket["available"], 500);
    assert_eq!(ticket["version"], 0);
    assert_eq!(ticket["userId"], seller.as_str());
    assert!(
        ticket["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let events = app.store.events.events(types::TICKET_CREATED).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject.as_deref(), ticket["id"].as_str());
    assert_eq!(events[0].source, "/ticketing/create-ticket");
    let id = ticket["id"].as_str().expect("id");
    let expected = support::ticket_data(id, &seller, 0, "Concert", 1999, 500);
    assert_eq!(
        events[0].data,
        serde_json::to_value(expected).expect("json")
    );
    let shown = app.show(ticket["id"].as_str().expect("id")).await;
    assert_eq!(shown, ticket);
}

#[tokio::test]
async fn every_invalid_field_gets_its_own_message_in_order() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let cases = [
        (
            json!({}),
            vec![
                ("title", "Title is required"),
                ("price", "Price must be greater than 0"),
            ],
        ),
        (
            json!({"title": "x".repeat(201), "price": 19.999, "quantity": 0}),
            vec![
                ("title", "Title must be at most 200 characters"),
                ("price", "Price must have at most 2 decimal places"),
                (
                    "quantity",
                    "Quantity must be a whole number between 1 and 100000",
                ),
            ],
        ),
        (
            json!({"title": 5, "price": true, "quantity": "many"}),
            vec![
                ("title", "Title is required"),
                ("price", "Price must be greater than 0"),
                (
                    "quantity",
                    "Quantity must be a whole number between 1 and 100000",
                ),
            ],
        ),
        (
            json!({"title": "ok", "price": 1_000_001}),
            vec![("price", "Price must be at most 1000000")],
        ),
        (
            json!({"title": "ok", "price": -1}),
            vec![("price", "Price must be greater than 0")],
        ),
        (
            json!({"title": "ok", "price": 1, "quantity": 100_001}),
            vec![(
                "quantity",
                "Quantity must be a whole number between 1 and 100000",
            )],
        ),
    ];
    for (body, expected) in cases {
        let response = app
            .send(authed_json("POST", "/api/tickets", &bearer, &body))
            .await;
        assert_eq!(response.status(), 400, "{body}");
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(f, m)| (f.to_owned(), m.to_owned()))
            .collect();
        assert_eq!(messages(&json_body(response).await), expected, "{body}");
    }
    assert!(
        app.store
            .events
            .events(types::TICKET_CREATED)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let app = TestApp::start().await;
    for path in [
        format!("/api/tickets/{}", uuid::Uuid::now_v7()),
        "/api/tickets/not-an-id".to_owned(),
    ] {
        let response = app.send(empty_request("GET", &path)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            json_body(response).await,
            json!({"errors": [{"message": "Not Found"}]})
        );
    }
}

#[tokio::test]
async fn each_update_raises_the_version_by_one_and_is_announced() {
    let app = TestApp::start().await;
    let (_, bearer) = app.user("seller");
    let ticket = app.list(&bearer, "Concert", 5).await;
    let path = format!("/api/tickets/{}", ticket["id"].as_str().expect("id"));
    for (version, title) in [(1, "First"), (2, "Second")] {
        let response = app
            .send(authed_json(
                "PUT",
                &path,
                &bearer,
                &json!({"title": title, "price": 25, "quantity": 7}),
            ))
            .await;
        assert_eq!(response.status(), 200);
        let updated = json_body(response).await;
        assert_eq!(updated["version"], version);
        assert_eq!(updated["title"], title);
        assert_eq!(updated["price"], 25);
        assert_eq!(updated["available"], 7);
    }
    let events = app.store.events.events(types::TICKET_UPDATED).await;
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e.data["version"].as_i64().expect("v"))
        .collect();
    assert_eq!(versions, vec![1, 2]);
    assert_eq!(events[1].data["price"], 2500);
}

#[tokio::test]
async fn only_the_owner_may_update_and_checks_come_in_the_contract_order() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let (_, stranger) = app.user("stranger");
    let ticket = app.list(&seller, "Concert", 1).await;
    let path = format!("/api/tickets/{}", ticket["id"].as_str().expect("id"));
    let valid = json!({"title": "Mine now", "price": 1});

    let anonymous = app
        .send(shared::testing::json_request("PUT", &path, &valid))
        .await;
    assert_eq!(anonymous.status(), 401);
    let invalid = app
        .send(authed_json("PUT", &path, &stranger, &json!({"price": 1})))
        .await;
    assert_eq!(invalid.status(), 400, "validation comes before ownership");
    let unknown = app
        .send(authed_json(
            "PUT",
            &format!("/api/tickets/{}", uuid::Uuid::now_v7()),
            &stranger,
            &valid,
        ))
        .await;
    assert_eq!(unknown.status(), 404);
    let forbidden = app.send(authed_json("PUT", &path, &stranger, &valid)).await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(
        json_body(forbidden).await,
        json!({"errors": [{"message": "Forbidden"}]})
    );
    assert_eq!(
        app.show(ticket["id"].as_str().expect("id")).await["title"],
        "Concert"
    );
}

#[tokio::test]
async fn a_listing_with_held_tickets_cannot_be_edited_until_released() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let ticket = app.list(&seller, "Concert", 3).await;
    let id = ticket["id"].as_str().expect("id");
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, id, 1).await,
        204
    );
    let path = format!("/api/tickets/{id}");
    let body = json!({"title": "Changed", "price": 30});
    let refused = app.send(authed_json("PUT", &path, &seller, &body)).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        json_body(refused).await,
        json!({"errors": [{"message": "Cannot edit a reserved ticket"}]})
    );
    assert_eq!(
        app.order_event(types::ORDER_CANCELLED, &order, id, 1).await,
        204
    );
    let allowed = app.send(authed_json("PUT", &path, &seller, &body)).await;
    assert_eq!(allowed.status(), 200);
}

#[tokio::test]
async fn quantity_cannot_drop_below_what_is_sold() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let ticket = app.list(&seller, "Concert", 5).await;
    let id = ticket["id"].as_str().expect("id");
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, id, 3).await,
        204
    );
    assert_eq!(
        app.order_event(types::ORDER_COMPLETED, &order, id, 3).await,
        204
    );
    let path = format!("/api/tickets/{id}");
    let refused = app
        .send(authed_json(
            "PUT",
            &path,
            &seller,
            &json!({"title": "C", "price": 1, "quantity": 2}),
        ))
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        json_body(refused).await,
        json!({"errors": [{"message": "Quantity cannot be less than the number sold"}]})
    );
    let allowed = app
        .send(authed_json(
            "PUT",
            &path,
            &seller,
            &json!({"title": "C", "price": 1, "quantity": 4}),
        ))
        .await;
    assert_eq!(json_body(allowed).await["available"], 1);
}

#[tokio::test]
async fn concurrent_updates_never_lose_one_another() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let ticket = app.list(&seller, "Concert", 5).await;
    let path = format!("/api/tickets/{}", ticket["id"].as_str().expect("id"));
    let updates = (0..6).map(|i| {
        let request = authed_json(
            "PUT",
            &path,
            &seller,
            &json!({"title": format!("T{i}"), "price": 1}),
        );
        app.send(request)
    });
    let responses = futures::future::join_all(updates).await;
    let mut versions = Vec::new();
    for response in responses {
        match response.status().as_u16() {
            200 => versions.push(json_body(response).await["version"].as_i64().expect("v")),
            409 => assert_eq!(
                json_body(response).await,
                json!({"errors": [{"message": "Ticket was modified concurrently, please retry"}]})
            ),
            other => panic!("unexpected status {other}"),
        }
    }
    versions.sort_unstable();
    let expected: Vec<i64> = (1..=versions.len() as i64).collect();
    assert_eq!(versions, expected, "each success is its own version");
    let shown = app.show(ticket["id"].as_str().expect("id")).await;
    assert_eq!(shown["version"], versions.len() as i64);
    assert_eq!(
        app.store.events.events(types::TICKET_UPDATED).await.len(),
        versions.len()
    );
}

#[tokio::test]
async fn the_list_shows_listings_with_tickets_left_oldest_first_a_page_at_a_time() {
    let app = TestApp::start().await;
    let (_, seller) = app.user("seller");
    let mut ids = Vec::new();
    for title in ["A", "B", "C", "D"] {
        ids.push(
            app.list(&seller, title, 1).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    // B is sold out.
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.order_event(types::ORDER_CREATED, &order, &ids[1], 1)
            .await,
        204
    );

    let first = app.send(empty_request("GET", "/api/tickets?limit=2")).await;
    assert_eq!(first.status(), 200);
    let link = first.headers()["link"].to_str().expect("link").to_owned();
    let titles = |body: &Value| -> Vec<String> {
        body.as_array()
            .expect("array")
            .iter()
            .map(|t| t["title"].as_str().expect("t").to_owned())
            .collect()
    };
    assert_eq!(titles(&json_body(first).await), vec!["A", "C"]);
    assert_eq!(
        link,
        format!("</api/tickets?limit=2&after={}>; rel=\"next\"", ids[2])
    );

    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("url")
        .to_owned();
    let second = app.send(empty_request("GET", &next)).await;
    assert!(
        second.headers().get("link").is_none(),
        "the last page has no next link"
    );
    assert_eq!(titles(&json_body(second).await), vec!["D"]);

    let bad = app.send(empty_request("GET", "/api/tickets?limit=0")).await;
    assert_eq!(bad.status(), 400);
    let bad = app
        .send(empty_request("GET", "/api/tickets?after=garbage"))
        .await;
    assert_eq!(bad.status(), 400);
}
