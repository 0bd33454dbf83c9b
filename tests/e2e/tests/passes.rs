//! E-tickets end to end through NGINX: buy and pay, the passes appear, the organiser checks them
//! in once, simultaneous scans give one 200, forged codes are refused.

use std::time::Duration;

use e2e::Stack;
use e2e::crowd::get_json;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

async fn post(http: &reqwest::Client, url: &str, bearer: &str, body: &Value) -> (u16, Value) {
    let response = http
        .post(url)
        .header(AUTHORIZATION, bearer)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_paid_order_s_passes_check_in_once_and_forged_codes_are_refused() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let seller = stack.sign_up(&http, "organiser@example.com").await;
    let buyer = stack.sign_up(&http, "fan@example.com").await;
    let ticket = stack.list_and_replicate(&http, &seller, 10).await;

    let (status, order) = post(
        &http,
        &stack.url("/api/orders"),
        &buyer,
        &json!({"ticketId": ticket, "quantity": 2}),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let order = order["id"].as_str().expect("order id").to_owned();
    let passes_url = stack.url(&format!("/api/orders/{order}/passes"));

    // Pay once payments has its copy of the order (the seller's attempt turns 404 into 403).
    let pay = json!({"orderId": order, "paymentMethodId": "pm_card_visa"});
    for _ in 0..100 {
        let (status, _) = post(&http, &stack.url("/api/payments"), &seller, &pay).await;
        if status == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = post(&http, &stack.url("/api/payments"), &buyer, &pay).await;
    assert_eq!(status, 201, "{body}");

    // The passes appear once the order is complete; before, the list is empty (or the order not
    // yet known here).
    let mut passes = Vec::new();
    for _ in 0..150 {
        let (status, body) = get_json(&http, &passes_url, &buyer).await;
        if status == 200 && body.as_array().is_some_and(|list| list.len() == 2) {
            passes = body.as_array().cloned().unwrap_or_default();
            break;
        }
        assert!(status == 200 || status == 404, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(passes.len(), 2, "the passes never appeared");
    assert_eq!(passes[0]["seat"], 1);
    assert_eq!(passes[1]["seat"], 2);
    assert!(
        passes
            .iter()
            .all(|p| p["of"] == 2 && p["status"] == "valid")
    );
    assert!(passes.iter().all(|p| p["title"] == "Drop"));
    // show-order still answers its own route beside the passes'.
    assert_eq!(
        stack.show_order(&http, &buyer, &order).await["status"],
        "complete"
    );
    // Nobody else sees them.
    assert_eq!(get_json(&http, &passes_url, &seller).await.0, 403);

    let checkins = stack.url("/api/checkins");
    let first = json!({"code": passes[0]["code"]});
    // The buyer is not the organiser.
    assert_eq!(post(&http, &checkins, &buyer, &first).await.0, 403);
    let (status, admitted) = post(&http, &checkins, &seller, &first).await;
    assert_eq!(status, 200, "{admitted}");
    assert_eq!(admitted["pass"]["status"], "checked-in");
    let (status, again) = post(&http, &checkins, &seller, &first).await;
    assert_eq!(status, 409);
    assert_eq!(again["errors"][0]["message"], "Already checked in");
    assert_eq!(again["checkedInAt"], admitted["checkedInAt"]);

    // Twenty scanners at once on the second pass: one wins.
    let second = json!({"code": passes[1]["code"]});
    let scans = (0..20).map(|_| post(&http, &checkins, &seller, &second));
    let statuses: Vec<u16> = futures::future::join_all(scans)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );

    // A code altered in one character, and one that is not a code at all.
    let code = passes[1]["code"].as_str().expect("code");
    let last = if code.ends_with('A') { "B" } else { "A" };
    let forged = format!("{}{last}", &code[..code.len() - 1]);
    for bad in [forged.as_str(), "not a code"] {
        let (status, body) = post(&http, &checkins, &seller, &json!({"code": bad})).await;
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["message"], "Invalid code");
    }

    let keys = http
        .get(stack.url("/api/passes/keys"))
        .send()
        .await
        .expect("keys");
    assert_eq!(keys.status(), 200);
    let keys: Value = keys.json().await.expect("json");
    assert!(code.starts_with(&format!(
        "{}:",
        keys["keys"][0]["kid"].as_str().expect("kid")
    )));

    let shown = get_json(&http, &passes_url, &buyer).await.1;
    assert!(
        shown
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["status"] == "checked-in")
    );
    assert!(stack.stop().await, "devstack stopped cleanly");
}
