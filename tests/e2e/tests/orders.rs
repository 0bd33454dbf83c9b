//! Listings and orders through NGINX, with events flowing through JetStream and the bridge.

use std::time::Duration;

use e2e::Stack;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

async fn sign_up_many(
    stack: &Stack,
    http: &reqwest::Client,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let emails: Vec<String> = (0..count)
        .map(|i| format!("{prefix}{i}@example.com"))
        .collect();
    let mut buyers = Vec::new();
    for chunk in emails.chunks(10) {
        let batch = chunk.iter().map(|email| stack.sign_up(http, email));
        buyers.extend(futures::future::join_all(batch).await);
    }
    buyers
}

#[tokio::test]
async fn sixty_buyers_for_ten_tickets_ten_win_and_a_cancelled_ticket_can_be_bought_again() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 10).await;
    let buyers = sign_up_many(&stack, &http, "buyer", 60).await;

    let responses =
        futures::future::join_all(buyers.iter().map(|b| stack.order(&http, b, &ticket))).await;
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for (buyer, response) in buyers.iter().zip(responses) {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json body");
        match status {
            201 => winners.push((buyer.clone(), body["id"].as_str().expect("id").to_owned())),
            400 => {
                assert_eq!(
                    body,
                    json!({"errors": [{"message": "Ticket is already reserved"}]})
                );
                losers.push(buyer.clone());
            }
            other => panic!("a buyer got {other}: {body}"),
        }
    }
    assert_eq!((winners.len(), losers.len()), (10, 50));

    let path = format!("/api/tickets/{ticket}");
    stack
        .wait_for(&http, &path, Duration::from_secs(30), |t| {
            t["available"] == 0
        })
        .await;

    let (winner, order_id) = &winners[0];
    let cancelled = http
        .delete(stack.url(&format!("/api/orders/{order_id}")))
        .header(AUTHORIZATION, winner)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 204);
    stack
        .wait_for(&http, &path, Duration::from_secs(30), |t| {
            t["available"] == 1
        })
        .await;

    let second_chance = stack.order(&http, &losers[0], &ticket).await;
    assert_eq!(second_chance.status(), 201);
    stack
        .wait_for(&http, &path, Duration::from_secs(30), |t| {
            t["available"] == 0
        })
        .await;
    assert!(stack.stop().await);
}

#[tokio::test]
async fn orders_placed_while_nats_is_stopped_are_announced_once_it_is_back() {
    let stack = Stack::start(&[("PING_INTERVAL_SECONDS", "1")]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 20).await;
    let buyers = sign_up_many(&stack, &http, "buyer", 6).await;

    stack.signal_nats("-STOP");
    let responses =
        futures::future::join_all(buyers.iter().map(|b| stack.order(&http, b, &ticket))).await;
    let mut placed = Vec::new();
    for (buyer, response) in buyers.iter().zip(responses) {
        match response.status().as_u16() {
            201 => placed.push((
                buyer.clone(),
                response.json::<Value>().await.expect("json")["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            )),
            503 => assert_eq!(response.headers()["retry-after"], "1"),
            other => panic!("an order during the outage got {other}"),
        }
    }
    // What was accepted exists, whatever NATS is doing.
    for (buyer, id) in &placed {
        let shown = http
            .get(stack.url(&format!("/api/orders/{id}")))
            .header(AUTHORIZATION, buyer)
            .send()
            .await
            .expect("show");
        assert_eq!(shown.status(), 200);
    }
    stack.signal_nats("-CONT");

    let expected = 20 - placed.len() as i64;
    let listing = stack
        .wait_for(
            &http,
            &format!("/api/tickets/{ticket}"),
            Duration::from_secs(60),
            |t| t["available"] == expected,
        )
        .await;
    assert_eq!(
        listing["available"], expected,
        "every accepted order's event arrived, once"
    );
    // Nothing more arrives later (a duplicate would count a hold twice).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = http
        .get(stack.url(&format!("/api/tickets/{ticket}")))
        .send()
        .await
        .expect("show");
    assert_eq!(
        after.json::<Value>().await.expect("json")["available"],
        expected
    );
    assert!(stack.stop().await);
}
