//! Resale end to end through NGINX: a buyer resells a pass, another buyer pays for it, the old code
//! is refused and the new one checks in; a price above the original is refused; a seller
//! withdraws an unsold listing; checking the old pass in takes its resale listing off sale; and a
//! buyer who pays for a resale whose pass was checked in meanwhile gets the money back.

use std::time::Duration;

use e2e::Stack;
use e2e::crowd::get_json;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    bearer: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url).header(AUTHORIZATION, bearer);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: &str, bearer: &str, body: &Value) -> (u16, Value) {
    send(http, reqwest::Method::POST, url, bearer, Some(body)).await
}

/// Orders one ticket of `ticket` as `buyer` once the orders context knows the listing, pays for it
/// once payments knows the order, and returns the order's id.
async fn buy(
    stack: &Stack,
    http: &reqwest::Client,
    buyer: &str,
    stranger: &str,
    ticket: &str,
) -> String {
    let order = place(stack, http, buyer, ticket).await;
    pay(stack, http, buyer, stranger, &order).await;
    order
}

/// Places an order of one ticket of `ticket` (its hold) once the orders context knows the listing;
/// the order's id.
async fn place(stack: &Stack, http: &reqwest::Client, buyer: &str, ticket: &str) -> String {
    for _ in 0..150 {
        let (status, body) = post(
            http,
            &stack.url("/api/orders"),
            buyer,
            &json!({"ticketId": ticket}),
        )
        .await;
        if status == 201 {
            return body["id"].as_str().expect("order id").to_owned();
        }
        assert_eq!(status, 404, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{ticket} never reached the orders context");
}

/// Pays `order` by card once payments knows it; the PaymentIntent.
async fn pay(
    stack: &Stack,
    http: &reqwest::Client,
    buyer: &str,
    stranger: &str,
    order: &str,
) -> String {
    let pay = json!({"orderId": order, "paymentMethodId": "pm_card_visa"});
    // Someone else's attempt turns 404 into 403 once payments has its copy of the order.
    for _ in 0..100 {
        let (status, _) = post(http, &stack.url("/api/payments"), stranger, &pay).await;
        if status == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = post(http, &stack.url("/api/payments"), buyer, &pay).await;
    assert_eq!(status, 201, "{body}");
    body["stripeId"].as_str().expect("stripe id").to_owned()
}

/// The passes of an order, once it has `count`.
async fn passes(
    stack: &Stack,
    http: &reqwest::Client,
    bearer: &str,
    order: &str,
    count: usize,
) -> Vec<Value> {
    let url = stack.url(&format!("/api/orders/{order}/passes"));
    for _ in 0..150 {
        let (status, body) = get_json(http, &url, bearer).await;
        if status == 200 && body.as_array().is_some_and(|list| list.len() == count) {
            return body.as_array().cloned().unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the passes of {order} never appeared");
}

/// Lists `pass` for resale at `price` once the tickets context knows the pass.
async fn resell(
    stack: &Stack,
    http: &reqwest::Client,
    bearer: &str,
    pass: &str,
    price: Value,
) -> (u16, Value) {
    let url = stack.url(&format!("/api/passes/{pass}/resale"));
    for _ in 0..150 {
        let (status, body) = post(http, &url, bearer, &json!({"price": price})).await;
        if status != 404 {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the pass {pass} never reached the tickets context");
}

#[tokio::test]
async fn a_resold_pass_is_revoked_when_another_buyer_pays_and_the_new_one_checks_in() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let organiser = stack.sign_up(&http, "organiser@example.com").await;
    let holder = stack.sign_up(&http, "holder@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let ticket = stack.list_and_replicate(&http, &organiser, 10).await;

    let order = buy(&stack, &http, &holder, &organiser, &ticket).await;
    let old = passes(&stack, &http, &holder, &order, 1).await.remove(0);
    let old_id = old["id"].as_str().expect("pass id");

    let (status, body) = resell(&stack, &http, &holder, old_id, json!(20.01)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "Resale price must be at most the original price"
    );
    let (status, listing) = resell(&stack, &http, &holder, old_id, json!(18)).await;
    assert_eq!(status, 201, "{listing}");
    assert_eq!(listing["quantity"], 1);
    assert_eq!(listing["resaleOf"], old_id);
    let resale = listing["id"].as_str().expect("listing id");

    let new_order = buy(&stack, &http, &buyer, &organiser, resale).await;
    let new = passes(&stack, &http, &buyer, &new_order, 1).await.remove(0);
    assert_eq!(new["status"], "valid");
    assert_ne!(new["code"], old["code"]);
    let old_now = passes(&stack, &http, &holder, &order, 1).await.remove(0);
    assert_eq!(old_now["status"], "revoked");

    let checkins = stack.url("/api/checkins");
    let (status, body) = post(&http, &checkins, &organiser, &json!({"code": old["code"]})).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["errors"][0]["message"], "Pass revoked");
    let (status, body) = post(&http, &checkins, &organiser, &json!({"code": new["code"]})).await;
    assert_eq!(status, 200, "{body}");
    assert!(stack.stop().await, "devstack stopped cleanly");
}

#[tokio::test]
async fn a_withdrawn_listing_and_a_resale_whose_pass_was_used_cannot_be_ordered() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let organiser = stack.sign_up(&http, "organiser@example.com").await;
    let holder = stack.sign_up(&http, "holder@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;

    // An unsold listing, withdrawn by its seller: orders learns it and refuses.
    let unsold = stack.list_and_replicate(&http, &organiser, 5).await;
    let url = stack.url(&format!("/api/tickets/{unsold}"));
    let (status, _) = send(&http, reqwest::Method::DELETE, &url, &holder, None).await;
    assert_eq!(status, 403);
    let (status, withdrawn) = send(&http, reqwest::Method::DELETE, &url, &organiser, None).await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(withdrawn["available"], 0);
    refused_eventually(&stack, &http, &buyer, &unsold).await;

    // A resale listing whose pass is checked in first goes off sale.
    let ticket = stack.list_and_replicate(&http, &organiser, 10).await;
    let order = buy(&stack, &http, &holder, &organiser, &ticket).await;
    let pass = passes(&stack, &http, &holder, &order, 1).await.remove(0);
    let (status, listing) = resell(
        &stack,
        &http,
        &holder,
        pass["id"].as_str().expect("id"),
        json!(20),
    )
    .await;
    assert_eq!(status, 201, "{listing}");
    let resale = listing["id"].as_str().expect("listing id").to_owned();
    let (status, body) = post(
        &http,
        &stack.url("/api/checkins"),
        &organiser,
        &json!({"code": pass["code"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    stack
        .wait_for(
            &http,
            &format!("/api/tickets/{resale}"),
            Duration::from_secs(15),
            |t| t["available"] == 0 && t["quantity"] == 0,
        )
        .await;
    refused_eventually(&stack, &http, &buyer, &resale).await;
    assert!(stack.stop().await, "devstack stopped cleanly");
}

/// Ordering `ticket` is refused with a 400 once the orders context has learnt it is off sale.
async fn refused_eventually(stack: &Stack, http: &reqwest::Client, buyer: &str, ticket: &str) {
    for _ in 0..150 {
        let (status, body) = post(
            http,
            &stack.url("/api/orders"),
            buyer,
            &json!({"ticketId": ticket}),
        )
        .await;
        if status == 400 {
            return;
        }
        // Before the withdrawal reaches orders an order may still be placed (or the listing be
        // unknown); such an order holds nothing the seller sold.
        assert!(status == 201 || status == 404, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{ticket} could still be ordered");
}

#[tokio::test]
async fn a_resale_paid_after_its_pass_was_checked_in_issues_nothing_and_refunds_the_buyer() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let organiser = stack.sign_up(&http, "organiser@example.com").await;
    let holder = stack.sign_up(&http, "holder@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let ticket = stack.list_and_replicate(&http, &organiser, 10).await;
    let order = buy(&stack, &http, &holder, &organiser, &ticket).await;
    let old = passes(&stack, &http, &holder, &order, 1).await.remove(0);
    let (status, listing) = resell(
        &stack,
        &http,
        &holder,
        old["id"].as_str().expect("id"),
        json!(20),
    )
    .await;
    assert_eq!(status, 201, "{listing}");
    let resale = listing["id"].as_str().expect("listing id").to_owned();

    // The buyer holds the resale listing, so checking the old pass in cannot take it off sale...
    let resale_order = place(&stack, &http, &buyer, &resale).await;
    let (status, body) = post(
        &http,
        &stack.url("/api/checkins"),
        &organiser,
        &json!({"code": old["code"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // ...and the buyer pays for a pass that has been used.
    let intent = pay(&stack, &http, &buyer, &organiser, &resale_order).await;

    let url = stack.url(&format!("/api/orders/{resale_order}/passes"));
    let mut answer = (0, Value::Null);
    for _ in 0..150 {
        answer = get_json(&http, &url, &buyer).await;
        if answer.0 == 409 && refunds_of(&stack, &http, &intent).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer.0, 409, "{}", answer.1);
    assert_eq!(
        answer.1["errors"][0]["message"],
        "The resold ticket was used before this order was paid: no pass was issued, and the payment is refunded"
    );
    assert_eq!(refunds_of(&stack, &http, &intent).await, 1, "refunded once");
    let old_now = passes(&stack, &http, &holder, &order, 1).await.remove(0);
    assert_eq!(old_now["status"], "checked-in");
    assert!(stack.stop().await, "devstack stopped cleanly");
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
