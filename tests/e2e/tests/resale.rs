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

/// A new listing of `organiser`'s, one ticket of it bought and paid for by `holder`: the order's id
/// and its pass.
async fn holder_s_pass(
    stack: &Stack,
    http: &reqwest::Client,
    organiser: &str,
    holder: &str,
) -> (String, Value) {
    let ticket = stack.list_and_replicate(http, organiser, 10).await;
    let order = stack.buy(http, holder, &ticket).await;
    let pass = passes(stack, http, holder, &order, 1).await.remove(0);
    (order, pass)
}

/// Lists `pass` for resale at its original price, which must succeed; the listing's id.
async fn resold(stack: &Stack, http: &reqwest::Client, holder: &str, pass: &Value) -> String {
    let id = pass["id"].as_str().expect("pass id");
    let (status, listing) = resell(stack, http, holder, id, json!(20)).await;
    assert_eq!(status, 201, "{listing}");
    listing["id"].as_str().expect("listing id").to_owned()
}

/// Scans `pass`'s code at the door as `organiser`.
async fn check_in(
    stack: &Stack,
    http: &reqwest::Client,
    organiser: &str,
    pass: &Value,
) -> (u16, Value) {
    let body = json!({"code": pass["code"]});
    post(http, &stack.url("/api/checkins"), organiser, &body).await
}

#[tokio::test]
async fn a_resold_pass_is_revoked_when_another_buyer_pays_and_the_new_one_checks_in() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let organiser = stack.sign_up(&http, "organiser@example.com").await;
    let holder = stack.sign_up(&http, "holder@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let (order, old) = holder_s_pass(&stack, &http, &organiser, &holder).await;
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

    let new_order = stack.buy(&http, &buyer, resale).await;
    let new = passes(&stack, &http, &buyer, &new_order, 1).await.remove(0);
    assert_eq!(new["status"], "valid");
    assert_ne!(new["code"], old["code"]);
    let old_now = passes(&stack, &http, &holder, &order, 1).await.remove(0);
    assert_eq!(old_now["status"], "revoked");

    let (status, body) = check_in(&stack, &http, &organiser, &old).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["errors"][0]["message"], "Pass revoked");
    let (status, body) = check_in(&stack, &http, &organiser, &new).await;
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
    let (_, pass) = holder_s_pass(&stack, &http, &organiser, &holder).await;
    let resale = resold(&stack, &http, &holder, &pass).await;
    let (status, body) = check_in(&stack, &http, &organiser, &pass).await;
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
    let (order, old) = holder_s_pass(&stack, &http, &organiser, &holder).await;
    let resale = resold(&stack, &http, &holder, &old).await;

    // The buyer holds the resale listing, so checking the old pass in cannot take it off sale...
    let resale_order = stack.place(&http, &buyer, &resale).await;
    let (status, body) = check_in(&stack, &http, &organiser, &old).await;
    assert_eq!(status, 200, "{body}");
    // ...and the buyer pays for a pass that has been used.
    let intent = stack.pay(&http, &buyer, &resale_order).await;

    let url = stack.url(&format!("/api/orders/{resale_order}/passes"));
    let mut answer = (0, Value::Null);
    for _ in 0..150 {
        answer = get_json(&http, &url, &buyer).await;
        if answer.0 == 409 && stack.refunds_of(&http, &intent).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer.0, 409, "{}", answer.1);
    assert_eq!(
        answer.1["errors"][0]["message"],
        "The resold ticket was used before this order was paid: no pass was issued, and the payment is refunded"
    );
    assert_eq!(stack.refunds_of(&http, &intent).await, 1, "refunded once");
    let old_now = passes(&stack, &http, &holder, &order, 1).await.remove(0);
    assert_eq!(old_now["status"], "checked-in");
    assert!(stack.stop().await, "devstack stopped cleanly");
}
