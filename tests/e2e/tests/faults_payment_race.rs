//! The race between "paid" and "expired", through NGINX: a payment that succeeded inside the hold
//! keeps its ticket however late the news of it reaches orders.

use std::time::Duration;

use e2e::Stack;
use reqwest::header::AUTHORIZATION;
use serde_json::Value;

/// How long an order holds its ticket here.
const HOLD_SECONDS: u64 = 6;

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

#[tokio::test]
async fn a_payment_made_in_time_completes_the_order_even_when_its_news_comes_after_the_expiry() {
    let hold = HOLD_SECONDS.to_string();
    let stack = Stack::start(&[
        ("ORDER_HOLD_SECONDS", hold.as_str()),
        ("EXPIRE_INTERVAL_SECONDS", "1"),
    ])
    .await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let rival = stack.sign_up(&http, "rival@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 1).await;

    let id = stack.place(&http, &buyer, &ticket).await;

    // payment.created will reach orders only after the hold has run out.
    let complete_order = stack.pid_of("complete-order").expect("complete-order runs");
    signal(complete_order, "-STOP");
    let intent = stack.pay(&http, &buyer, &id).await;

    // Well past expiresAt: the sweep has fired, and payments has had its say.
    tokio::time::sleep(Duration::from_secs(HOLD_SECONDS + 6)).await;
    let shown = stack.show_order(&http, &buyer, &id).await;
    assert_ne!(
        shown["status"], "cancelled",
        "expiry cancelled a paid order"
    );
    let resold = stack.order(&http, &rival, &ticket).await;
    assert_eq!(
        resold.status(),
        400,
        "the paid ticket must not be sold again"
    );

    signal(complete_order, "-CONT");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let shown = stack.show_order(&http, &buyer, &id).await;
        if shown["status"] == "complete" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the paid order never completed: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stack.refunds_of(&http, &intent).await, 0);
    let listing: Value = http
        .get(stack.url(&format!("/api/tickets/{ticket}")))
        .send()
        .await
        .expect("listing")
        .json()
        .await
        .expect("json");
    assert_eq!(listing["available"], 0);
    assert!(stack.stop().await);
}

#[tokio::test]
async fn an_order_cancelled_while_its_payment_goes_through_is_refunded() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 1).await;
    let id = stack.place(&http, &buyer, &ticket).await;

    // The buyer cancels while payment.created is on its way to orders.
    let complete_order = stack.pid_of("complete-order").expect("complete-order runs");
    signal(complete_order, "-STOP");
    let intent = stack.pay(&http, &buyer, &id).await;
    let cancelled = http
        .delete(stack.url(&format!("/api/orders/{id}")))
        .header(AUTHORIZATION, &buyer)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 204);
    signal(complete_order, "-CONT");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stack.refunds_of(&http, &intent).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "money kept for a cancelled order"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.refunds_of(&http, &intent).await, 1, "refunded once");
    assert!(stack.stop().await);
}
