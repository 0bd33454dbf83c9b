//! The race between "paid" and "expired", through NGINX: a payment that succeeded inside the hold
//! keeps its ticket however late the news of it reaches orders.

use std::time::Duration;

use e2e::Stack;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

/// How long an order holds its ticket here.
const HOLD_SECONDS: u64 = 6;

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// How many refunds localstripe holds for a PaymentIntent.
async fn refunds_of(stack: &Stack, http: &reqwest::Client, intent: &str) -> usize {
    let base = stack
        .function_env()
        .await
        .remove("STRIPE_API_BASE")
        .expect("STRIPE_API_BASE");
    let refunds: Value = http
        .get(format!("{base}/v1/refunds"))
        .basic_auth("sk_test_local", Some(""))
        .send()
        .await
        .expect("list refunds")
        .json()
        .await
        .expect("json");
    refunds["data"]
        .as_array()
        .expect("refunds")
        .iter()
        .filter(|refund| refund["payment_intent"] == intent)
        .count()
}

/// Pays an order by card as soon as payments has its copy (404 before); returns the PaymentIntent.
async fn pay(stack: &Stack, http: &reqwest::Client, buyer: &str, order: &str) -> String {
    for _ in 0..50 {
        let response = http
            .post(stack.url("/api/payments"))
            .header(AUTHORIZATION, buyer)
            .json(&json!({"orderId": order, "paymentMethodId": "pm_card_visa"}))
            .send()
            .await
            .expect("pay");
        if response.status() != 404 {
            assert_eq!(response.status(), 201);
            let paid: Value = response.json().await.expect("json");
            return paid["stripeId"].as_str().expect("stripe id").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payments never got the order");
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

    let placed = stack.order(&http, &buyer, &ticket).await;
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.expect("json");
    let id = order["id"].as_str().expect("id").to_owned();

    // payment.created will reach orders only after the hold has run out.
    let complete_order = stack.pid_of("complete-order").expect("complete-order runs");
    signal(complete_order, "-STOP");
    let intent = pay(&stack, &http, &buyer, &id).await;

    // Well past expiresAt: the sweep has fired, and payments has had its say.
    tokio::time::sleep(Duration::from_secs(HOLD_SECONDS + 6)).await;
    let shown: Value = http
        .get(stack.url(&format!("/api/orders/{id}")))
        .header(AUTHORIZATION, &buyer)
        .send()
        .await
        .expect("show")
        .json()
        .await
        .expect("json");
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
        let shown: Value = http
            .get(stack.url(&format!("/api/orders/{id}")))
            .header(AUTHORIZATION, &buyer)
            .send()
            .await
            .expect("show")
            .json()
            .await
            .expect("json");
        if shown["status"] == "complete" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the paid order never completed: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(refunds_of(&stack, &http, &intent).await, 0);
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
    let placed = stack.order(&http, &buyer, &ticket).await;
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.expect("json");
    let id = order["id"].as_str().expect("id").to_owned();

    // The buyer cancels while payment.created is on its way to orders.
    let complete_order = stack.pid_of("complete-order").expect("complete-order runs");
    signal(complete_order, "-STOP");
    let intent = pay(&stack, &http, &buyer, &id).await;
    let cancelled = http
        .delete(stack.url(&format!("/api/orders/{id}")))
        .header(AUTHORIZATION, &buyer)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 204);
    signal(complete_order, "-CONT");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while refunds_of(&stack, &http, &intent).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "money kept for a cancelled order"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(refunds_of(&stack, &http, &intent).await, 1, "refunded once");
    assert!(stack.stop().await);
}
