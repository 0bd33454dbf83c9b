//! Check-in at the door: the organiser scans 1,000 distinct passes through NGINX, 50 at a time, each
//! once, so every answer should be 200.
//!
//! The passes are bought first as fans would: one listing of 1,000, 100 buyers ordering 10 each and
//! paying with the test card (10 buyers at a time), until every order's passes are listed. Only the
//! scans are timed.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::drop::Stack;
use crate::results::Checkins;
use crate::stats;

const BUYERS: usize = 100;
/// Passes per order: the most one order may hold.
const PER_ORDER: usize = 10;
/// Buyers ordering and paying at once: the setup, not what is measured.
const BUYING_IN_FLIGHT: usize = 10;
/// Scans at once.
const IN_FLIGHT: usize = 50;
/// How long one order may take from payment to its passes being listed.
const PASSES_LIMIT: Duration = Duration::from_secs(120);

/// A buyer's session and the codes of the passes they bought.
struct Buyer {
    token: String,
    codes: Vec<String>,
}

pub async fn run(stack: &Stack<'_>) -> Result<Checkins, String> {
    let sessions = stack.sessions();
    let organiser = sessions.new_user()?;
    let buyers: Vec<Buyer> = (0..BUYERS)
        .map(|_| {
            sessions.new_user().map(|token| Buyer {
                token,
                codes: Vec::new(),
            })
        })
        .collect::<Result<_, _>>()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;

    eprintln!(
        "bench: check-in: {BUYERS} buyers order {PER_ORDER} tickets each and pay, {BUYING_IN_FLIGHT} at a time"
    );
    let buying = Instant::now();
    let request = crate::drop::listing("Door night", BUYERS * PER_ORDER, None);
    let ticket_id = stack
        .list(&http, &organiser, &request)
        .await?
        .id
        .to_string();
    let bought: Vec<Result<Buyer, String>> = futures::stream::iter(buyers)
        .map(|buyer| buy(&http, stack.base_url, &ticket_id, buyer))
        .buffer_unordered(BUYING_IN_FLIGHT)
        .collect()
        .await;
    let mut codes = Vec::with_capacity(BUYERS * PER_ORDER);
    for buyer in bought {
        codes.extend(buyer?.codes);
    }
    let passes = codes.len();
    codes.sort();
    codes.dedup();
    if codes.len() != passes {
        return Err(format!(
            "{} of the {passes} codes are duplicates",
            passes - codes.len()
        ));
    }

    eprintln!(
        "bench: every pass listed after {:.1} s; the organiser checks in {passes} passes, {IN_FLIGHT} in flight",
        buying.elapsed().as_secs_f64()
    );
    let url = format!("{}/api/checkins", stack.base_url);
    let started = Instant::now();
    let scans: Vec<(Option<u16>, Duration)> = futures::stream::iter(&codes)
        .map(|code| {
            let (http, url, organiser) = (&http, &url, &organiser);
            async move {
                let began = Instant::now();
                let status = http
                    .post(url)
                    .bearer_auth(organiser)
                    .json(&json!({ "code": code }))
                    .send()
                    .await
                    .ok()
                    .map(|response| response.status().as_u16());
                (status, began.elapsed())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let (statuses, latencies) = stats::answers(scans);
    Ok(Checkins {
        passes,
        in_flight: IN_FLIGHT,
        admitted: statuses.get("200").copied().unwrap_or(0),
        statuses,
        seconds,
        checkins_per_second: passes as f64 / seconds,
        latency: stats::percentiles(&latencies),
    })
}

/// Orders [`PER_ORDER`] tickets, pays, and waits until the order's passes are listed.
async fn buy(
    http: &reqwest::Client,
    base_url: &str,
    ticket_id: &str,
    mut buyer: Buyer,
) -> Result<Buyer, String> {
    // A retry after a lost answer must not order twice: the key makes it replay the first.
    let key = uuid::Uuid::now_v7().to_string();
    let order = json!({"ticketId": ticket_id, "quantity": PER_ORDER});
    let (status, body) = retried(|| {
        http.post(format!("{base_url}/api/orders"))
            .bearer_auth(&buyer.token)
            .header("Idempotency-Key", &key)
            .json(&order)
    })
    .await;
    if status != Some(201) {
        return Err(format!("ordering: {status:?} {body}"));
    }
    let order_id = body["id"].as_str().ok_or("the order has no id")?.to_owned();

    // 404 until the payments context has its copy of the order, 409 while another attempt runs; a
    // retry whose first attempt went through is told the order is already paid.
    let payment = json!({"orderId": order_id, "paymentMethodId": "pm_card_visa"});
    let (status, body) = retried(|| {
        http.post(format!("{base_url}/api/payments"))
            .bearer_auth(&buyer.token)
            .json(&payment)
    })
    .await;
    let paid =
        status == Some(201) || (status == Some(400) && body.to_string().contains("already paid"));
    if !paid {
        return Err(format!("paying for {order_id}: {status:?} {body}"));
    }

    let url = format!("{base_url}/api/orders/{order_id}/passes");
    let deadline = Instant::now() + PASSES_LIMIT;
    loop {
        let response = http.get(&url).bearer_auth(&buyer.token).send().await;
        if let Ok(response) = response
            && response.status().as_u16() == 200
            && let Ok(Value::Array(passes)) = response.json::<Value>().await
            && passes.len() == PER_ORDER
        {
            buyer.codes = passes
                .iter()
                .map(|pass| pass["code"].as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or(format!("a pass of {order_id} has no code"))?;
            return Ok(buyer);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the passes of {order_id} were not listed within {PASSES_LIMIT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends the request until its answer is final: again after no answer, 404 (not known there yet),
/// 409 (in progress) or a 5xx, for up to about 30 s.
async fn retried(request: impl Fn() -> reqwest::RequestBuilder) -> (Option<u16>, Value) {
    let mut answer = (None, Value::Null);
    for _ in 0..100 {
        answer = match request().send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (Some(status), response.json().await.unwrap_or(Value::Null))
            }
            Err(err) => (None, Value::String(err.to_string())),
        };
        if matches!(answer.0, Some(status) if status != 404 && status != 409 && status < 500) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    answer
}
