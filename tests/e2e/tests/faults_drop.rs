//! A ticket drop while the processes under it die: `place-order` and NATS are killed with SIGKILL in
//! the middle of it, devstack restarts them as a cluster restarts a pod, and afterwards every
//! accepted order exists once, nothing is held twice, and every event was applied exactly once.

use std::time::Duration;

use e2e::Stack;
use futures::StreamExt;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use shared::session::Sessions;

const TICKETS: usize = 60;
const BUYERS: usize = 240;
const IN_FLIGHT: usize = 40;

/// Sessions signed with the stack's own key, as sign-in would give them.
async fn bearers(stack: &Stack, count: usize) -> Vec<String> {
    let key = stack
        .function_env()
        .await
        .remove("JWT_KEY")
        .expect("JWT_KEY");
    let sessions = Sessions::new(key.as_bytes(), 3_600, false);
    (0..count)
        .map(|_| {
            let id = uuid::Uuid::now_v7().to_string();
            let token = sessions
                .issue(&sessions.claims_for(&id, &format!("{id}@example.com")))
                .expect("token");
            format!("Bearer {token}")
        })
        .collect()
}

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid}");
}

/// What one buyer's order attempt came to: the final status and, for a 201, the order.
struct Outcome {
    status: u16,
    order: Option<Value>,
}

/// Orders one ticket as a careful client does: the same `Idempotency-Key` on every try, and a
/// retry after a dropped connection, a 5xx, or a 409 (the first try still in flight), until an
/// answer that is final.
async fn buy(stack: &Stack, http: &reqwest::Client, bearer: &str, ticket: &str) -> Outcome {
    let key = uuid::Uuid::now_v7().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let sent = http
            .post(stack.url("/api/orders"))
            .header(AUTHORIZATION, bearer)
            .header("Idempotency-Key", &key)
            .json(&json!({ "ticketId": ticket }))
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            if status == 201 || (status < 500 && status != 409) {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                return Outcome {
                    status,
                    order: (status == 201).then_some(body),
                };
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Outcome {
                status: 0,
                order: None,
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn get_json(http: &reqwest::Client, url: &str, bearer: &str) -> (u16, Value) {
    let response = http
        .get(url)
        .header(AUTHORIZATION, bearer)
        .send()
        .await
        .expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_drop_keeps_every_order_once_when_place_order_and_nats_are_killed() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let people = bearers(&stack, BUYERS + 1).await;
    let (seller, buyers) = people.split_first().expect("a seller");
    let ticket = stack
        .list_and_replicate(&http, seller, i64::try_from(TICKETS).expect("count"))
        .await;

    let place_order = stack.pid_of("place-order").expect("place-order runs");
    let nats = stack.pid_of("nats-server").expect("NATS runs");
    let drop = futures::stream::iter(buyers.iter().enumerate())
        .map(|(index, buyer)| {
            let (stack, http, ticket) = (&stack, &http, &ticket);
            async move {
                // The faults strike while the crowd is at the door.
                if index == BUYERS / 6 {
                    kill(place_order);
                }
                if index == BUYERS / 3 {
                    kill(nats);
                }
                (buyer, buy(stack, http, buyer, ticket).await)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;

    for (name, old) in [("place-order", place_order), ("nats-server", nats)] {
        stack
            .wait_for_restart(name, old, Duration::from_secs(30))
            .await;
    }
    let unanswered = drop.iter().filter(|(_, o)| o.status == 0).count();
    assert_eq!(unanswered, 0, "every buyer got a final answer");
    let winners: Vec<(&String, &Value)> = drop
        .iter()
        .filter_map(|(buyer, outcome)| outcome.order.as_ref().map(|order| (*buyer, order)))
        .collect();
    let refused = drop.iter().filter(|(_, o)| o.status == 400).count();
    assert_eq!(
        (winners.len(), refused),
        (TICKETS, BUYERS - TICKETS),
        "exactly the tickets there were are sold, the rest are refused"
    );

    // Every 201 names an order that exists, and no buyer holds two.
    for (buyer, order) in &winners {
        let id = order["id"].as_str().expect("id");
        let (status, shown) =
            get_json(&http, &stack.url(&format!("/api/orders/{id}")), buyer).await;
        assert_eq!((status, &shown["status"]), (200, &json!("created")));
        let (_, mine) = get_json(&http, &stack.url("/api/orders"), buyer).await;
        assert_eq!(
            mine.as_array().map(Vec::len),
            Some(1),
            "one order per buyer"
        );
    }

    // The tickets side counts every hold once: all of them, after the events caught up.
    let listing = format!("/api/tickets/{ticket}");
    stack
        .wait_for(&http, &listing, Duration::from_secs(90), |t| {
            t["available"] == 0
        })
        .await;

    // Releasing some gives back exactly those, on both sides: orders lets exactly that many new
    // buyers in, and tickets counts them back once.
    let released = 5;
    for (buyer, order) in winners.iter().take(released) {
        let id = order["id"].as_str().expect("id");
        let cancelled = http
            .delete(stack.url(&format!("/api/orders/{id}")))
            .header(AUTHORIZATION, buyer.as_str())
            .send()
            .await
            .expect("cancel");
        assert_eq!(cancelled.status(), 204);
    }
    stack
        .wait_for(&http, &listing, Duration::from_secs(60), |t| {
            t["available"] == released
        })
        .await;
    let latecomers = bearers(&stack, released + 1).await;
    let mut statuses = Vec::new();
    for latecomer in &latecomers {
        statuses.push(
            stack
                .order(&http, latecomer, &ticket)
                .await
                .status()
                .as_u16(),
        );
    }
    let mut expected = vec![201; released];
    expected.push(400);
    assert_eq!(statuses, expected);
    stack
        .wait_for(&http, &listing, Duration::from_secs(60), |t| {
            t["available"] == 0
        })
        .await;
    assert!(stack.stop().await);
}
