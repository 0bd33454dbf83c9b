//! DynamoDB freezes (SIGSTOP): requests answer 503 within seconds instead of hanging, a listing
//! retried with its `Idempotency-Key` after the outage is listed once, and NGINX's own errors are the
//! contract's JSON.

use std::time::{Duration, Instant};

use e2e::Stack;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};

const TITLE: &str = "Listed through an outage";

/// Thaws DynamoDB Local when the test ends, also when it fails, so the stack can stop.
struct Frozen<'a>(&'a Stack);

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.0.signal_dynamodb("-CONT");
    }
}

fn assert_json_error(response: &reqwest::Response, status: u16) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/json",
        "{status} is JSON"
    );
}

/// The headers every `/api` answer carries, NGINX's own or a function's.
fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(
        headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}

async fn list(stack: &Stack, http: &reqwest::Client, seller: &str) -> reqwest::Response {
    http.post(stack.url("/api/tickets"))
        .header(AUTHORIZATION, seller)
        .header("idempotency-key", "outage-1")
        .json(&json!({"title": TITLE, "price": 20, "quantity": 5}))
        .send()
        .await
        .expect("POST /api/tickets answered")
}

#[tokio::test]
async fn a_frozen_database_answers_503_fast_and_a_retried_listing_is_listed_once() {
    let stack = Stack::start(&[]).await;
    // Longer than NGINX's own timeout: the deadline under test is the functions'.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let seller = stack.sign_up(&http, "seller@example.com").await;

    // NGINX's own refusal, before any function: JSON, with the API's headers.
    let too_large = http
        .post(stack.url("/api/tickets"))
        .header(AUTHORIZATION, &seller)
        .header(CONTENT_TYPE, "application/json")
        .body(format!("{{\"title\":\"{}\"}}", "x".repeat(20 * 1024)))
        .send()
        .await
        .expect("413");
    assert_json_error(&too_large, 413);
    assert_security_headers(&too_large);
    assert_eq!(
        too_large.json::<Value>().await.expect("json"),
        json!({"errors": [{"message": "Request body too large"}]})
    );
    let unknown = http
        .get(stack.url("/api/nothing-here"))
        .send()
        .await
        .expect("404");
    assert_json_error(&unknown, 404);
    assert_security_headers(&unknown);

    let frozen = Frozen(&stack);
    stack.signal_dynamodb("-STOP");
    let started = Instant::now();
    let during = list(&stack, &http, &seller).await;
    let took = started.elapsed();
    assert_json_error(&during, 503);
    assert_security_headers(&during);
    assert_eq!(during.headers()[RETRY_AFTER], "1");
    assert_eq!(
        during.json::<Value>().await.expect("json"),
        json!({"errors": [{"message": "Service unavailable, please retry"}]})
    );
    assert!(
        took < Duration::from_secs(8),
        "POST answered after {took:?}"
    );

    let started = Instant::now();
    let browsing = http
        .get(stack.url("/api/tickets"))
        .send()
        .await
        .expect("GET /api/tickets answered");
    let took = started.elapsed();
    assert_json_error(&browsing, 503);
    assert!(browsing.headers().contains_key(RETRY_AFTER));
    assert!(took < Duration::from_secs(8), "GET answered after {took:?}");
    drop(frozen);

    // The client retries as told. The frozen request's claim on the key may reach DynamoDB only now
    // (it was in its socket): a 409 until that claim lapses, never a second listing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let created = loop {
        let response = list(&stack, &http, &seller).await;
        match response.status().as_u16() {
            201 => break response.json::<Value>().await.expect("listing"),
            409 | 503 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => panic!(
                "retry after the outage got {other}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    };
    let replayed = list(&stack, &http, &seller).await;
    assert_eq!(replayed.status(), 201);
    assert_eq!(replayed.json::<Value>().await.expect("json"), created);

    let listed: Vec<Value> = http
        .get(stack.url("/api/tickets?limit=100"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("listings");
    let ours: Vec<&Value> = listed.iter().filter(|t| t["title"] == TITLE).collect();
    assert_eq!(ours.len(), 1, "one listing for one key: {listed:?}");
    assert_eq!(ours[0]["id"], created["id"]);

    assert!(stack.stop().await, "the stack stops cleanly");
}
