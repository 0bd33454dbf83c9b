//! Unpaid holds expire through the timers, the sweep and the order events.

use std::time::{Duration, Instant};

use e2e::Stack;
use serde_json::{Value, json};

#[tokio::test]
async fn an_unpaid_order_is_cancelled_after_its_hold_and_its_ticket_can_be_bought_again() {
    let stack = Stack::start(&[
        ("ORDER_HOLD_SECONDS", "5"),
        ("EXPIRE_INTERVAL_SECONDS", "1"),
    ])
    .await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let late = stack.sign_up(&http, "late@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 1).await;

    let placed = Instant::now();
    let order = stack.order(&http, &buyer, &ticket).await;
    assert_eq!(order.status(), 201);
    let order: Value = order.json().await.expect("json");
    assert_eq!(
        stack.order(&http, &late, &ticket).await.status(),
        400,
        "held"
    );

    let id = order["id"].as_str().expect("id");
    let deadline = placed + Duration::from_secs(5 + 1 + 10);
    loop {
        let shown = stack.show_order(&http, &buyer, id).await;
        if shown["status"] == "cancelled" {
            break;
        }
        assert_eq!(shown["status"], "created");
        assert!(
            Instant::now() < deadline,
            "the order was not cancelled in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        placed.elapsed() >= Duration::from_secs(5),
        "not before its hold ended"
    );
    stack
        .wait_for(
            &http,
            &format!("/api/tickets/{ticket}"),
            Duration::from_secs(10),
            |t| t["available"] == json!(1),
        )
        .await;
    assert_eq!(stack.order(&http, &late, &ticket).await.status(), 201);
    assert!(stack.stop().await);
}
