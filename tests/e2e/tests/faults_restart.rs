//! A process of the stack killed with SIGKILL is started again by devstack, as a cluster restarts a
//! crashed pod, and the stack keeps serving: nothing else stops, and what the process had (NATS's
//! stream, localstripe's payments and webhook, DynamoDB Local's tables) is usable again.

use std::time::Duration;

use e2e::Stack;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use tokio::time::Instant;

/// How long a crashed function may take to answer again (devstack waits 0.2 s before the first
/// restart; a function starts in milliseconds).
const FUNCTION_BACK_WITHIN: Duration = Duration::from_secs(5);

/// POSTs `body` to `path` until the answer has status `want`, or panics after `limit`; returns the
/// answer's body. Failed connections and other statuses count as "not yet".
async fn post_until(
    stack: &Stack,
    http: &reqwest::Client,
    path: &str,
    bearer: Option<&str>,
    body: &Value,
    want: u16,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        let mut request = http.post(stack.url(path)).json(body);
        if let Some(bearer) = bearer {
            request = request.header(AUTHORIZATION, bearer);
        }
        match request.send().await {
            Ok(response) if response.status() == want => {
                return response.json().await.expect("JSON body");
            }
            Ok(response) => last = format!("{}", response.status()),
            Err(err) => last = format!("{err}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("POST {path} never answered {want} within {limit:?}; last: {last}");
}

#[tokio::test]
async fn a_killed_function_is_started_again_and_the_rest_of_the_stack_keeps_serving() {
    let mut stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 10).await;
    assert_eq!(stack.order(&http, &buyer, &ticket).await.status(), 201);
    let bystander = stack.pid_of("show-ticket").expect("show-ticket runs");

    let killed = stack.signal_process("place-order", "-KILL");
    let at = Instant::now();
    // While place-order is down, the other functions answer.
    let shown = http
        .get(stack.url(&format!("/api/tickets/{ticket}")))
        .send()
        .await
        .expect("show ticket");
    assert_eq!(shown.status(), 200);
    let orders = http
        .get(stack.url("/api/orders"))
        .header(AUTHORIZATION, &buyer)
        .send()
        .await
        .expect("list orders");
    assert_eq!(orders.status(), 200);

    stack
        .wait_for_restart("place-order", killed, FUNCTION_BACK_WITHIN)
        .await;
    let order = post_until(
        &stack,
        &http,
        "/api/orders",
        Some(&buyer),
        &json!({"ticketId": ticket}),
        201,
        FUNCTION_BACK_WITHIN,
    )
    .await;
    assert_eq!(order["status"], "created");
    assert!(
        at.elapsed() < FUNCTION_BACK_WITHIN,
        "place-order took {:?} to take orders again",
        at.elapsed()
    );
    // Nothing else was stopped or restarted, devstack included.
    assert!(stack.is_running(), "devstack stopped");
    assert_eq!(stack.pid_of("show-ticket"), Some(bystander));
    assert!(stack.stop().await);
}

#[tokio::test]
async fn a_killed_nats_comes_back_with_its_stream_and_later_orders_are_announced() {
    let mut stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 5).await;
    let path = format!("/api/tickets/{ticket}");
    assert_eq!(stack.order(&http, &buyer, &ticket).await.status(), 201);
    stack
        .wait_for(&http, &path, Duration::from_secs(30), |t| {
            t["available"] == 4
        })
        .await;

    let killed = stack.signal_process("nats-server", "-KILL");
    stack
        .wait_for_restart("nats-server", killed, Duration::from_secs(10))
        .await;
    let order = post_until(
        &stack,
        &http,
        "/api/orders",
        Some(&buyer),
        &json!({"ticketId": ticket}),
        201,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(order["status"], "created");
    // The order's event reaches tickets through the restarted NATS: the stream and the bridge's
    // consumers survived on disk.
    stack
        .wait_for(&http, &path, Duration::from_secs(30), |t| {
            t["available"] == 3
        })
        .await;
    assert!(stack.is_running(), "devstack stopped");
    assert!(stack.stop().await);
}

#[tokio::test]
async fn a_killed_dynamodb_local_comes_back_with_its_tables() {
    let mut stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    stack.sign_up(&http, "before@example.com").await;

    let killed = stack.signal_process("dynamodb-local", "-KILL");
    stack
        .wait_for_restart("dynamodb-local", killed, Duration::from_secs(10))
        .await;
    // In memory, its data is gone; devstack creates the tables again, and the stack works.
    post_until(
        &stack,
        &http,
        "/api/users/signup",
        None,
        &json!({"email": "after@example.com", "password": "long enough"}),
        201,
        Duration::from_secs(60),
    )
    .await;
    assert!(stack.is_running(), "devstack stopped");
    assert!(stack.stop().await);
}

#[tokio::test]
async fn a_killed_localstripe_keeps_its_payments_and_still_sends_webhooks() {
    let mut stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let buyer = stack.sign_up(&http, "buyer@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 2).await;
    let placed = stack.order(&http, &buyer, &ticket).await;
    assert_eq!(placed.status(), 201);
    let order = placed.json::<Value>().await.expect("order")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let stripe = |path: &str| format!("http://127.0.0.1:{}{path}", stack.ports[3]);
    // A 3-D Secure card: the payment waits for the buyer, and localstripe tells the stack by webhook.
    let card: Value = http
        .post(stripe("/v1/payment_methods"))
        .basic_auth("sk_test_local", Some(""))
        .form(&[
            ("type", "card"),
            ("card[number]", "4000002500003155"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2034"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .expect("create payment method")
        .json()
        .await
        .expect("json");
    // 404 until payments has its copy of the order.
    let pending = post_until(
        &stack,
        &http,
        "/api/payments",
        Some(&buyer),
        &json!({"orderId": order, "paymentMethodId": card["id"]}),
        202,
        Duration::from_secs(20),
    )
    .await;
    let secret = pending["clientSecret"].as_str().expect("client secret");
    let intent = secret.split("_secret_").next().expect("intent id");

    let killed = stack.signal_process("localstripe", "-KILL");
    stack
        .wait_for_restart("localstripe", killed, Duration::from_secs(10))
        .await;
    // The buyer passes 3-D Secure on the restarted localstripe: it still knows the PaymentIntent.
    let deadline = Instant::now() + Duration::from_secs(20);
    let authenticated = loop {
        let answer = http
            .post(stripe(&format!(
                "/v1/payment_intents/{intent}/_authenticate"
            )))
            .basic_auth("sk_test_local", Some(""))
            .form(&[("client_secret", secret), ("success", "true")])
            .send()
            .await;
        match answer {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("localstripe never answered again: {err}"),
        }
    };
    assert_eq!(
        authenticated.status(),
        200,
        "{:?}",
        authenticated.text().await
    );
    // Its payment_intent.succeeded webhook reaches the stack: the endpoint was registered again.
    let path = format!("/api/orders/{order}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = stack.show_order(&http, &buyer, &order).await;
        if shown["status"] == "complete" {
            break;
        }
        assert!(Instant::now() < deadline, "{path} never completed: {shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stack.is_running(), "devstack stopped");
    assert!(stack.stop().await);
}
