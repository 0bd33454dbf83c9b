//! The ticket drop: B signed-in buyers race for one listing of Q tickets through NGINX, with the
//! whole local stack running, `in_flight` requests at a time; then a share of the winners pay.
//! sold − Q must be exactly 0 and no answer may be a 5xx: those two are checked on every run.

use std::time::{Duration, Instant};

use contract::api::{Entered, TicketBody, TicketRequest};
use futures::StreamExt;
use orders::store::Orders;
use serde_json::{Value, json};
use shared::dynamo::TablePrefix;
use shared::session::Sessions;

use crate::results::{Drop, Payments};
use crate::{cpu, stats};

pub struct DropSettings {
    pub buyers: usize,
    pub tickets: usize,
    pub in_flight: usize,
    /// The share of accepted orders that go on to pay.
    pub pay_share: f64,
}

pub struct Stack<'a> {
    pub base_url: &'a str,
    /// devstack's run folder: its pid files say which process is which ([`crate::cpu`]).
    pub run_dir: &'a std::path::Path,
    pub dynamodb_port: u16,
    pub table_prefix: &'a str,
    pub jwt_key: &'a str,
}

impl Stack<'_> {
    /// Signs sessions as `sign-in` would, with the stack's key: the bench's buyers and sellers
    /// skip signing up (password hashing is not what is measured).
    pub fn sessions(&self) -> Signer {
        Signer(Sessions::new(self.jwt_key.as_bytes(), 3_600, false))
    }

    /// The orders context's table, read directly to check what the crowd did.
    pub fn orders(&self) -> Orders {
        Orders::new(
            crate::dynamo::local_client(self.dynamodb_port),
            &TablePrefix(self.table_prefix.to_owned()),
        )
    }

    /// Lists `request` as `seller`, and waits until the orders context knows it (a drop: with its
    /// `onSaleAt`), as buyers would come after its announcement.
    pub async fn list(
        &self,
        http: &reqwest::Client,
        seller: &str,
        request: &TicketRequest,
    ) -> Result<TicketBody, String> {
        let listed: TicketBody = http
            .post(format!("{}/api/tickets", self.base_url))
            .bearer_auth(seller)
            .json(request)
            .send()
            .await
            .map_err(|e| format!("listing: {e}"))?
            .json()
            .await
            .map_err(|e| format!("listing: {e}"))?;
        let orders = self.orders();
        let deadline = Instant::now() + Duration::from_secs(30);
        while orders
            .replica(listed.id.as_str())
            .await
            .ok()
            .flatten()
            .is_none_or(|replica| replica.on_sale_at.is_none() && request.on_sale_at.is_some())
        {
            if Instant::now() > deadline {
                return Err("the listing never reached the orders context".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(listed)
    }
}

pub struct Signer(Sessions);

/// A listing of `quantity` tickets at 50 cents, a drop when `on_sale_at` is given.
pub fn listing(title: &str, quantity: usize, on_sale_at: Option<String>) -> TicketRequest {
    TicketRequest {
        title: title.to_owned(),
        price: Entered::Number(50),
        quantity: Some(Entered::Number(quantity as u64)),
        venue: None,
        starts_at: None,
        on_sale_at,
    }
}

/// The crowd's HTTP client: a connection kept for each request in flight, and a minute at most
/// for an answer (the functions' own deadline is 10 s; longer means something is stuck).
pub fn crowd_client(in_flight: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())
}

impl Signer {
    /// A session for the user `id`.
    pub fn token(&self, id: &str) -> Result<String, String> {
        self.0
            .issue(&self.0.claims_for(id, &format!("{id}@bench.example")))
            .map_err(|e| format!("cannot sign a session: {e:?}"))
    }

    /// A session for a new user.
    pub fn new_user(&self) -> Result<String, String> {
        self.token(&uuid::Uuid::now_v7().to_string())
    }
}

struct Placed {
    status: Option<u16>,
    elapsed: Duration,
    /// When the answer came, counted from the first request.
    answered_at: Duration,
    order_id: Option<String>,
    buyer: usize,
}

pub async fn run(stack: &Stack<'_>, settings: &DropSettings) -> Result<Drop, String> {
    let sessions = stack.sessions();
    let seller = sessions.new_user()?;
    let buyers: Vec<String> = (0..settings.buyers)
        .map(|_| sessions.new_user())
        .collect::<Result<_, _>>()?;

    let http = crowd_client(settings.in_flight)?;
    let request = listing("Drop day", settings.tickets, None);
    let ticket_id = stack.list(&http, &seller, &request).await?.id.to_string();
    let orders = stack.orders();

    let url = format!("{}/api/orders", stack.base_url);
    let cpu_before = cpu::snapshot(stack.run_dir);
    let started = Instant::now();
    let placed: Vec<Placed> = futures::stream::iter(buyers.iter().enumerate())
        .map(|(buyer, token)| {
            let (http, url, ticket_id) = (&http, &url, &ticket_id);
            async move {
                let began = Instant::now();
                let response = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({ "ticketId": ticket_id }))
                    .send()
                    .await;
                let (status, order_id) = match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        (Some(status), body["id"].as_str().map(str::to_owned))
                    }
                    Err(_) => (None, None),
                };
                Placed {
                    status,
                    elapsed: began.elapsed(),
                    answered_at: started.elapsed(),
                    order_id,
                    buyer,
                }
            }
        })
        .buffer_unordered(settings.in_flight)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu::used_between(&cpu_before, &cpu::snapshot(stack.run_dir));

    let (statuses, latencies) = stats::answers(placed.iter().map(|p| (p.status, p.elapsed)));
    let accepted: Vec<&Placed> = placed.iter().filter(|p| p.status == Some(201)).collect();
    let server_errors: u64 = placed
        .iter()
        .filter(|p| p.status.is_none_or(|s| s >= 500))
        .count() as u64;
    let sell_out_seconds = accepted
        .iter()
        .map(|p| p.answered_at.as_secs_f64())
        .reduce(f64::max);
    let sold = accepted.len() as i64;
    let replica = orders
        .replica(&ticket_id)
        .await
        .map_err(|e| format!("reading the listing: {e:?}"))?
        .ok_or("the listing vanished")?;
    let quantity = i64::try_from(settings.tickets).map_err(|e| e.to_string())?;
    let held_in_store = quantity - replica.available;

    let paying: Vec<Accepted<'_>> = accepted
        .iter()
        .map(|placed| Accepted {
            token: &buyers[placed.buyer],
            order_id: placed.order_id.as_deref().unwrap_or_default(),
        })
        .collect();
    let payments = pay(&http, stack.base_url, &paying, settings.pay_share).await;

    Ok(Drop {
        buyers: settings.buyers,
        tickets: settings.tickets,
        in_flight: settings.in_flight,
        orders_accepted: accepted.len(),
        sold_minus_quantity: sold - quantity,
        // With fewer buyers than tickets, every buyer wins: the invariant is sold = min(B, Q).
        sold_minus_expected: sold - quantity.min(settings.buyers as i64),
        held_in_store_minus_sold: held_in_store - sold,
        server_errors,
        statuses,
        seconds,
        requests_per_second: settings.buyers as f64 / seconds,
        sell_out_seconds,
        latency: stats::percentiles(&latencies),
        cpu,
        payments,
    })
}

/// An accepted order and the session of the buyer who placed it.
pub struct Accepted<'a> {
    pub token: &'a str,
    pub order_id: &'a str,
}

/// Pays for a share of the accepted orders with the test card, 20 at a time, as buyers would.
pub async fn pay(
    http: &reqwest::Client,
    base_url: &str,
    accepted: &[Accepted<'_>],
    share: f64,
) -> Payments {
    let count = ((accepted.len() as f64) * share).ceil() as usize;
    let url = format!("{base_url}/api/payments");
    let started = Instant::now();
    let outcomes: Vec<(Option<u16>, Duration)> = futures::stream::iter(accepted.iter().take(count))
        .map(|accepted| {
            let (http, url) = (http, &url);
            async move {
                let began = Instant::now();
                // The payments context learns of an order through its event: a 404 just after the
                // drop means "not yet", so ask again briefly.
                let mut status = None;
                for _ in 0..50 {
                    status = http
                        .post(url)
                        .bearer_auth(accepted.token)
                        .json(&json!({"orderId": accepted.order_id, "paymentMethodId": "pm_card_visa"}))
                        .send()
                        .await
                        .ok()
                        .map(|r| r.status().as_u16());
                    if status != Some(404) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (status, began.elapsed())
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    let attempted = outcomes.len();
    let (statuses, latencies) = stats::answers(outcomes);
    Payments {
        attempted,
        succeeded: statuses.get("201").copied().unwrap_or(0),
        statuses,
        seconds: started.elapsed().as_secs_f64(),
        latency: stats::percentiles(&latencies),
    }
}
