//! A drop through NGINX: buyers join its queue before sales start, one is admitted at `onSaleAt`
//! and orders, and the waiting list takes over when that order is cancelled.

use std::time::Duration;

use e2e::Stack;
use serde_json::{Value, json};

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn buyers_queue_before_a_drop_and_are_let_in_one_after_another() {
    let stack = Stack::start(&[("DROP_ADMISSION_SECONDS", "30")]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "seller@example.com").await;
    let first = stack.sign_up(&http, "first@example.com").await;
    let second = stack.sign_up(&http, "second@example.com").await;
    let uninvited = stack.sign_up(&http, "uninvited@example.com").await;

    let on_sale = shared::time::deadline_after(Duration::from_secs(6));
    let (status, listed) = send(
        http.post(stack.url("/api/tickets"))
            .header("authorization", &seller)
            .json(&json!({"title": "Drop", "price": 20, "quantity": 1,
                "onSaleAt": shared::time::rfc3339(on_sale)})),
    )
    .await;
    assert_eq!(status, 201, "{listed}");
    let ticket = listed["id"].as_str().expect("id").to_owned();
    let queue = stack.url(&format!("/api/tickets/{ticket}/queue"));

    // The orders context knows the drop once its replica arrived: 404 until then.
    let mut joined = (404, Value::Null);
    for _ in 0..100 {
        joined = send(http.post(&queue).header("authorization", &first)).await;
        if joined.0 != 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(joined.0, 202, "{}", joined.1);
    assert_eq!(joined.1["state"], "waiting");
    let again = send(http.post(&queue).header("authorization", &first)).await;
    assert_eq!(again.0, 200);
    let (status, _) = send(http.post(&queue).header("authorization", &second)).await;
    assert_eq!(status, 202);
    let (status, body) = send(http.post(&queue).header("authorization", &seller)).await;
    assert_eq!(
        (status, message(&body)),
        (400, "You cannot buy your own ticket")
    );
    let early = stack.order(&http, &first, &ticket).await;
    assert_eq!(early.status(), 400);
    let early: Value = early.json().await.expect("json");
    assert_eq!(message(&early), "Sales have not started");
    // The ticket's own route is still the tickets context's.
    let (status, shown) = send(http.get(stack.url(&format!("/api/tickets/{ticket}")))).await;
    assert_eq!(status, 200);
    assert!(shown["queueSeedHash"].is_string(), "{shown}");

    // From onSaleAt on (admissions wait a 2 s grace for the last pre-sale joins to be seen),
    // exactly one of the two is let in (the seed decides which).
    tokio::time::sleep(Duration::from_secs(9)).await;
    let mut states = Vec::new();
    for bearer in [&first, &second] {
        let (status, entry) = send(http.get(&queue).header("authorization", bearer)).await;
        assert_eq!(status, 200);
        states.push(entry);
    }
    let (winner, loser) = if states[0]["state"] == "admitted" {
        (&first, &second)
    } else {
        (&second, &first)
    };
    let waiting = if states[0]["state"] == "admitted" {
        &states[1]
    } else {
        &states[0]
    };
    assert_eq!(waiting["state"], "waiting", "{states:?}");
    assert_eq!(waiting["position"], 1);
    let refused = stack.order(&http, &uninvited, &ticket).await;
    assert_eq!(refused.status(), 403);
    let refused: Value = refused.json().await.expect("json");
    assert_eq!(message(&refused), "Wait for your turn in the queue");
    assert_eq!(stack.order(&http, loser, &ticket).await.status(), 403);

    let order = stack.order(&http, winner, &ticket).await;
    assert_eq!(order.status(), 201);
    let order: Value = order.json().await.expect("json");
    let id = order["id"].as_str().expect("id");
    let (_, entry) = send(http.get(&queue).header("authorization", winner)).await;
    assert_eq!(entry["state"], "ordered");
    assert_eq!(entry["orderId"], order["id"]);

    // The winner gives the ticket back: the one waiting is let in.
    let cancelled = http
        .delete(stack.url(&format!("/api/orders/{id}")))
        .header("authorization", winner)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 204);
    // `show-queue` shares what it read of the listing (the head of its line) for 250 ms: the
    // admission another function made shows a moment later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, entry) = send(http.get(&queue).header("authorization", loser)).await;
    assert_eq!(entry["state"], "admitted", "{entry}");
    assert_eq!(stack.order(&http, loser, &ticket).await.status(), 201);
    assert!(stack.stop().await);
}
