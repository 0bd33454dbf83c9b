//! The queued drop: B signed-in buyers for one drop of Q tickets through NGINX, at most `in_flight`
//! requests at a time across all of them. Half join the queue before `onSaleAt`, half at it (the
//! crowd at the on-sale moment); each then reads its entry as the storefront's queue page does
//! (`contract::drops::next_read_ms`), orders as soon as it is admitted, and stops at `ordered`,
//! `lapsed` or `sold-out`, or when the listing has sold out. A share of the orders are then paid.
//!
//! Besides sold − Q and the 5xx count (both fail the run), it checks the queue's fairness: buyers who
//! joined after `onSaleAt` are let in in the order they joined; the pre-sale ones in the order the
//! seed revealed at `onSaleAt` gives, recomputed here from the seed alone.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use contract::api::{Entered, OrderRequest, TicketBody};
use contract::drops::{QueueEntryBody, QueueRequest, QueueState, next_read_ms};
use hdrhistogram::Histogram;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};

use crate::drop::{Accepted, Stack, pay};
use crate::results::{
    BestSingleOrder, PostSaleFairness, PreSaleOrder, QueuedDrop, Requests, Statuses,
};
use crate::stats;

pub struct QueuedSettings {
    pub buyers: usize,
    pub tickets: usize,
    pub in_flight: usize,
    /// From the listing to its `onSaleAt`: long enough for every pre-sale join to be answered.
    pub on_sale_after: Duration,
    /// The share of accepted orders that go on to pay.
    pub pay_share: f64,
}

/// How long after `onSaleAt` the buyers may take to buy every ticket: two admission windows
/// (`DROP_ADMISSION_SECONDS`, 120 by default), so that admissions that lapse unused are given to
/// the next in line within it, and a minute more.
const SELLING_LIMIT: Duration = Duration::from_secs(300);

/// How often a buyer tries to join when no answer or a 5xx comes back: joining again answers with
/// the entry a lost answer wrote.
const JOIN_ATTEMPTS: u32 = 5;

/// How often a buyer still admitted after an order that was refused orders again.
const ORDER_ATTEMPTS: usize = 3;

/// The storefront's slowest read after failures (`SLOWEST_MS` in `frontend/src/pages/queue.rs`).
const SLOWEST_MS: f64 = 30_000.0;

/// Open files each request in flight may need in this process and the stack it started (which
/// inherits the limit): the bench's connection, and NGINX's to the client and to the function.
const FILES_PER_REQUEST: u64 = 2;
/// Open files besides the requests: DynamoDB, NATS, binaries, logs.
const FILES_BESIDES: u64 = 512;

/// What every buyer shares: the client, the listing, the one semaphore of requests in flight, and
/// the signal that the drop is over.
struct Crowd {
    http: reqwest::Client,
    base_url: String,
    ticket_id: String,
    on_sale: OffsetDateTime,
    permits: Semaphore,
    /// Buyers whose entry was answered, admitted, ordered: the progress shown while it runs.
    joined: AtomicUsize,
    admitted: AtomicUsize,
    ordered: AtomicUsize,
    /// min(B, Q): once that many buyers have ordered, nothing is left to admit.
    expected: usize,
    over: watch::Sender<bool>,
}

/// One answer: its status (none when there was no answer), body and `Retry-After`, when it was sent
/// and answered (seconds since `onSaleAt`, negative before) and how long it took.
struct Answer {
    status: Option<u16>,
    body: Value,
    retry_after: Option<u64>,
    sent: f64,
    answered: f64,
    elapsed: Duration,
}

/// Where a buyer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The queue answered this state last.
    State(QueueState),
    /// Joining got no entry.
    NotJoined,
    /// A read answered 404 or another refusal.
    Gone,
    /// Admitted, but every order attempt was refused.
    Refused,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            Self::State(state) => state.as_str(),
            Self::NotJoined => "not joined",
            Self::Gone => "not in the queue",
            Self::Refused => "orders refused",
        }
    }
}

/// A buyer's order, known from its 201 or, when that answer was lost (no answer, a 5xx after the
/// write committed), from the entry read as `ordered`.
struct Order {
    id: String,
    /// When the bench learnt of it (seconds since `onSaleAt`).
    known: f64,
    accepted: bool,
}

/// What the bench saw of one buyer.
struct Trail {
    /// Joined after waiting for `onSaleAt`.
    joins_at_sale: bool,
    /// When the first join was sent (seconds since `onSaleAt`): a join whose answer was lost may
    /// have placed the entry then.
    join_sent: Option<f64>,
    /// The join that answered last (with the entry, unless every attempt failed).
    join: Option<Answer>,
    joins: Vec<(Option<u16>, Duration)>,
    /// `joinedAt` of the entry, as answered.
    joined_at: Option<OffsetDateTime>,
    /// When the bench first saw the entry admitted (seconds since `onSaleAt`), and the admission's
    /// end as answered.
    admitted: Option<(f64, Option<OffsetDateTime>)>,
    ordered: Option<Order>,
    /// When the first order was sent.
    first_order_sent: Option<f64>,
    /// An order was sent before `admittedUntil`.
    ordered_in_time: bool,
    reads: Vec<(Option<u16>, Duration)>,
    orders: Vec<(Option<u16>, Duration)>,
    end: End,
}

pub async fn run(
    stack: &Stack<'_>,
    settings: &QueuedSettings,
    best_single_order: Option<BestSingleOrder>,
) -> Result<QueuedDrop, String> {
    check_open_files(settings.in_flight)?;
    let sessions = stack.sessions();
    let seller = sessions.new_user()?;
    // (id, session): the id is the HMAC's message.
    let buyers: Vec<(String, String)> = (0..settings.buyers)
        .map(|_| {
            let id = uuid::Uuid::now_v7().to_string();
            sessions.token(&id).map(|token| (id, token))
        })
        .collect::<Result<_, _>>()?;

    let http = crate::drop::crowd_client(settings.in_flight)?;
    // Whole seconds, as the contract's times are.
    let on_sale = shared::time::now()
        + time::Duration::try_from(settings.on_sale_after).map_err(|e| e.to_string())?;
    let orders = stack.orders();
    let request = crate::drop::listing(
        "Queued drop",
        settings.tickets,
        Some(shared::time::rfc3339(on_sale)),
    );
    let listed = stack.list(&http, &seller, &request).await?;
    let ticket_id = listed.id.to_string();
    let seed_hash = listed
        .queue_seed_hash
        .ok_or("the drop has no queueSeedHash")?;

    // With fewer buyers than tickets, every buyer wins.
    let expected = settings.tickets.min(settings.buyers);
    let (over, _) = watch::channel(false);
    let crowd = Arc::new(Crowd {
        http: http.clone(),
        base_url: stack.base_url.to_owned(),
        ticket_id: ticket_id.clone(),
        on_sale,
        permits: Semaphore::new(settings.in_flight),
        joined: AtomicUsize::new(0),
        admitted: AtomicUsize::new(0),
        ordered: AtomicUsize::new(0),
        expected,
        over,
    });
    eprintln!(
        "bench: queued drop: {} buyers join, half before the sale at {} ({:.0} s from now), half at it",
        settings.buyers,
        shared::time::rfc3339(on_sale),
        since(on_sale).abs()
    );
    let tokens: Vec<String> = buyers.iter().map(|(_, token)| token.clone()).collect();
    let cpu_before = crate::cpu::snapshot(stack.run_dir);
    let trails = crowd_buys(crowd, tokens).await?;
    let cpu = crate::cpu::used_between(&cpu_before, &crate::cpu::snapshot(stack.run_dir));

    let seed = revealed_seed(&http, stack.base_url, &ticket_id, &seed_hash).await?;
    let replica = orders
        .replica(&ticket_id)
        .await
        .map_err(|e| format!("reading the drop: {e:?}"))?
        .ok_or("the drop vanished")?;
    let quantity = i64::try_from(settings.tickets).map_err(|e| e.to_string())?;
    let sold = trails.iter().filter(|t| t.ordered.is_some()).count();
    let sold_i64 = sold as i64;

    let paying: Vec<Accepted<'_>> = trails
        .iter()
        .enumerate()
        .filter_map(|(n, trail)| {
            trail.ordered.as_ref().map(|order| Accepted {
                token: &buyers[n].1,
                order_id: &order.id,
            })
        })
        .collect();
    let payments = pay(&http, stack.base_url, &paying, settings.pay_share).await;

    let pre_sale = |trail: &Trail| trail.joined_at.map(|at| at < on_sale);
    let (joins, join_errors) = requests(trails.iter().flat_map(|t| t.joins.iter().copied()));
    let (reads, read_errors) = requests(trails.iter().flat_map(|t| t.reads.iter().copied()));
    let (placed, order_errors) = requests(trails.iter().flat_map(|t| t.orders.iter().copied()));
    let mut final_states = Statuses::new();
    for trail in &trails {
        *final_states.entry(trail.end.name().to_owned()).or_default() += 1;
    }
    let last_accepted = trails
        .iter()
        .filter_map(|t| t.ordered.as_ref().map(|order| order.known))
        .reduce(f64::max);
    let first_order = trails
        .iter()
        .filter_map(|t| t.first_order_sent)
        .reduce(f64::min);
    let selling_seconds = last_accepted
        .zip(first_order)
        .map(|(last, first)| last - first);

    Ok(QueuedDrop {
        buyers: settings.buyers,
        tickets: settings.tickets,
        in_flight: settings.in_flight,
        on_sale_after_seconds: settings.on_sale_after.as_secs(),
        pre_sale_buyers: trails.iter().filter(|t| pre_sale(t) == Some(true)).count(),
        post_sale_buyers: trails.iter().filter(|t| pre_sale(t) == Some(false)).count(),
        not_joined: trails.iter().filter(|t| t.joined_at.is_none()).count(),
        pre_sale_joins_answered_late: trails
            .iter()
            .filter(|t| !t.joins_at_sale && t.join.as_ref().is_some_and(|a| a.answered >= 0.0))
            .count(),
        orders_accepted: trails
            .iter()
            .filter(|t| t.ordered.as_ref().is_some_and(|order| order.accepted))
            .count(),
        sold_minus_quantity: sold_i64 - quantity,
        sold_minus_expected: sold_i64 - expected as i64,
        // Admissions hold their tickets and orders take the admission's: once every admission is
        // used, the store holds exactly what was sold.
        held_in_store_minus_sold: quantity - replica.available - sold_i64,
        server_errors: join_errors + read_errors + order_errors,
        joins,
        reads,
        orders: placed,
        final_states,
        sold_out_after_on_sale_seconds: last_accepted.filter(|_| sold >= expected),
        selling_seconds,
        orders_per_second_selling_out: selling_seconds
            .filter(|seconds| *seconds > 0.0)
            .map(|seconds| sold as f64 / seconds),
        best_single_order,
        post_sale: post_sale_fairness(&trails, on_sale),
        pre_sale: seed.as_deref().map(|seed| {
            let ids: Vec<&str> = buyers.iter().map(|(id, _)| id.as_str()).collect();
            pre_sale_order(&trails, &ids, seed, on_sale, settings.tickets)
        }),
        seed_matches_hash: seed.is_some(),
        admitted_refused_in_time: trails
            .iter()
            .filter(|t| t.ordered_in_time && !t.ordered.as_ref().is_some_and(|o| o.accepted))
            .count() as u64,
        cpu,
        payments,
    })
}

/// Every buyer at once, half joining at `onSaleAt`, until the drop is over: what each saw, in the
/// buyers' order.
async fn crowd_buys(crowd: Arc<Crowd>, tokens: Vec<String>) -> Result<Vec<Trail>, String> {
    let mut tasks = tokio::task::JoinSet::new();
    for (n, token) in tokens.into_iter().enumerate() {
        let crowd = Arc::clone(&crowd);
        let joins_at_sale = n % 2 == 1;
        tasks.spawn(async move { (n, buyer(&crowd, n, &token, joins_at_sale).await) });
    }
    // Nobody waits for ever: past the limit, whoever is still in line stops.
    let limit = {
        let crowd = Arc::clone(&crowd);
        tokio::spawn(async move {
            tokio::time::sleep(until(crowd.on_sale) + SELLING_LIMIT).await;
            crowd.over.send_replace(true);
        })
    };
    let progress = {
        let crowd = Arc::clone(&crowd);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                eprintln!(
                    "bench: queued drop at {:+.0} s from the sale: {} joined, {} admitted, {} ordered",
                    since(crowd.on_sale),
                    crowd.joined.load(Ordering::Relaxed),
                    crowd.admitted.load(Ordering::Relaxed),
                    crowd.ordered.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut trails: Vec<Option<Trail>> = (0..tasks.len()).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (n, trail) = done.map_err(|e| format!("a buyer failed: {e}"))?;
        trails[n] = Some(trail);
    }
    limit.abort();
    progress.abort();
    let trails: Vec<Trail> = trails.into_iter().flatten().collect();
    eprintln!(
        "bench: queued drop over {:.1} s after the sale: {} buyers ordered",
        since(crowd.on_sale),
        crowd.ordered.load(Ordering::Relaxed)
    );
    Ok(trails)
}

/// The seed, published from `onSaleAt` on, when it hashes to the hash published before.
async fn revealed_seed(
    http: &reqwest::Client,
    base_url: &str,
    ticket_id: &str,
    seed_hash: &str,
) -> Result<Option<Vec<u8>>, String> {
    let revealed: TicketBody = http
        .get(format!("{base_url}/api/tickets/{ticket_id}"))
        .send()
        .await
        .map_err(|e| format!("reading the drop: {e}"))?
        .json()
        .await
        .map_err(|e| format!("reading the drop: {e}"))?;
    Ok(revealed
        .queue_seed
        .as_deref()
        .and_then(|seed| hex::decode(seed).ok())
        .filter(|seed| hex::encode(Sha256::digest(seed)) == seed_hash))
}

/// One buyer: joins (at `onSaleAt` when `joins_at_sale`), reads its entry at the storefront's
/// pace, orders once admitted.
async fn buyer(crowd: &Crowd, n: usize, token: &str, joins_at_sale: bool) -> Trail {
    let mut trail = Trail {
        joins_at_sale,
        join_sent: None,
        join: None,
        joins: Vec::new(),
        joined_at: None,
        admitted: None,
        ordered: None,
        first_order_sent: None,
        ordered_in_time: false,
        reads: Vec::new(),
        orders: Vec::new(),
        end: End::NotJoined,
    };
    let mut over = crowd.over.subscribe();
    if joins_at_sale && !wait(until(crowd.on_sale), &mut over).await {
        return trail;
    }
    let queue_url = format!("{}/api/tickets/{}/queue", crowd.base_url, crowd.ticket_id);
    let join = QueueRequest {
        quantity: Some(Entered::Number(1)),
    };
    // A buyer whose join got no answer, or a 5xx, joins again when the storefront would read
    // again, never sooner than `Retry-After`.
    let mut failures = 0_u32;
    let joined = loop {
        let Some(joined) = crowd
            .send(
                crowd.http.post(&queue_url).bearer_auth(token).json(&join),
                &mut over,
            )
            .await
        else {
            return trail;
        };
        trail.join_sent.get_or_insert(joined.sent);
        trail.joins.push((joined.status, joined.elapsed));
        if joined.status.is_some_and(|status| status < 500) || failures + 1 >= JOIN_ATTEMPTS {
            break joined;
        }
        failures += 1;
        let asked = joined.retry_after.unwrap_or(0) as f64 * 1_000.0;
        let delay_ms = jittered(backoff_ms(failures), n, failures).max(asked);
        if !wait(Duration::from_secs_f64(delay_ms / 1_000.0), &mut over).await {
            return trail;
        }
    };
    let entry = matches!(joined.status, Some(200 | 202))
        .then(|| serde_json::from_value::<QueueEntryBody>(joined.body.clone()).ok())
        .flatten();
    trail.join = Some(joined);
    let Some(mut entry) = entry else {
        return trail;
    };
    trail.joined_at = shared::time::parse_rfc3339(&entry.joined_at);
    crowd.joined.fetch_add(1, Ordering::Relaxed);

    let order = OrderRequest {
        ticket_id: crowd.ticket_id.clone(),
        quantity: Some(Entered::Number(1)),
    };
    let mut key = uuid::Uuid::now_v7().to_string();
    let mut reads = 0_u32;
    loop {
        trail.end = End::State(entry.state);
        // The join's answer is the page's first read: the next one comes when the storefront's
        // would.
        let mut delay_ms = match entry.state {
            QueueState::Admitted => {
                let until = entry
                    .admitted_until
                    .as_deref()
                    .and_then(shared::time::parse_rfc3339);
                if trail.admitted.is_none() {
                    trail.admitted = Some((since(crowd.on_sale), until));
                    crowd.admitted.fetch_add(1, Ordering::Relaxed);
                }
                if trail.orders.len() >= ORDER_ATTEMPTS {
                    trail.end = End::Refused;
                    return trail;
                }
                let Some(placed) = crowd
                    .send(
                        crowd
                            .http
                            .post(format!("{}/api/orders", crowd.base_url))
                            .bearer_auth(token)
                            .header("Idempotency-Key", &key)
                            .json(&order),
                        &mut over,
                    )
                    .await
                else {
                    return trail;
                };
                trail.first_order_sent.get_or_insert(placed.sent);
                trail.orders.push((placed.status, placed.elapsed));
                trail.ordered_in_time |=
                    until.is_some_and(|until| placed.sent < seconds_between(crowd.on_sale, until));
                if placed.status == Some(201) {
                    let id = placed.body["id"].as_str().unwrap_or_default().to_owned();
                    crowd.record(&mut trail, id, placed.answered, true);
                    return trail;
                }
                // A refusal gets a new key and a fresh read at once, as in the storefront. No answer
                // or a 5xx keeps the key: the order may have gone through, and the same key then
                // answers with it rather than ordering twice.
                if placed.status.is_some_and(|status| status < 500) {
                    key = uuid::Uuid::now_v7().to_string();
                }
                0.0
            }
            // Ordered although the bench did not hear so (the answer was lost): the entry says so.
            QueueState::Ordered => {
                if let Some(id) = &entry.order_id {
                    crowd.record(&mut trail, id.to_string(), since(crowd.on_sale), false);
                }
                return trail;
            }
            QueueState::Waiting => {
                let sale = shared::time::parse_rfc3339(&entry.on_sale_at).unwrap_or(crowd.on_sale);
                let until_sale_ms = -since(sale) * 1_000.0;
                next_read_ms(&entry, until_sale_ms).map_or(0.0, |ms| jittered(ms, n, reads))
            }
            QueueState::Lapsed | QueueState::SoldOut => return trail,
        };
        // Reads until one answers with the entry, backing off after failures as the storefront
        // does, never sooner than `Retry-After`.
        let mut failures = 0_u32;
        entry = loop {
            reads += 1;
            if !wait(Duration::from_secs_f64(delay_ms / 1_000.0), &mut over).await {
                return trail;
            }
            let Some(read) = crowd
                .send(crowd.http.get(&queue_url).bearer_auth(token), &mut over)
                .await
            else {
                return trail;
            };
            trail.reads.push((read.status, read.elapsed));
            match read.status {
                Some(200) => match serde_json::from_value::<QueueEntryBody>(read.body) {
                    Ok(entry) => break entry,
                    Err(_) => {
                        trail.end = End::Gone;
                        return trail;
                    }
                },
                None | Some(500..) => {
                    failures += 1;
                    let asked = read.retry_after.unwrap_or(0) as f64 * 1_000.0;
                    delay_ms = jittered(backoff_ms(failures), n, reads).max(asked);
                }
                Some(_) => {
                    trail.end = End::Gone;
                    return trail;
                }
            }
        };
    }
}

impl Crowd {
    /// Notes the buyer's order; the drop is over once every ticket is ordered.
    fn record(&self, trail: &mut Trail, id: String, known: f64, accepted: bool) {
        if trail.ordered.is_some() {
            return;
        }
        trail.ordered = Some(Order {
            id,
            known,
            accepted,
        });
        trail.end = End::State(QueueState::Ordered);
        if self.ordered.fetch_add(1, Ordering::Relaxed) + 1 >= self.expected {
            self.over.send_replace(true);
        }
    }

    /// Sends the request once a place among those in flight is free; `None` when the drop ended
    /// first.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        over: &mut watch::Receiver<bool>,
    ) -> Option<Answer> {
        let _permit = tokio::select! {
            permit = self.permits.acquire() => permit.ok()?,
            () = ended(over) => return None,
        };
        let sent = since(self.on_sale);
        let began = Instant::now();
        let (status, retry_after, body) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok());
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                (Some(status), retry_after, body)
            }
            Err(_) => (None, None, Value::Null),
        };
        Some(Answer {
            status,
            body,
            retry_after,
            sent,
            answered: since(self.on_sale),
            elapsed: began.elapsed(),
        })
    }
}

/// Once the drop is over.
async fn ended(over: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: over as well.
    let _ = over.wait_for(|over| *over).await;
}

/// Sleeps for `delay`; false when the drop ended first.
async fn wait(delay: Duration, over: &mut watch::Receiver<bool>) -> bool {
    if *over.borrow() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = ended(over) => false,
    }
}

/// Seconds from `at` to now (negative before `at`), by this machine's clock, which the stack's
/// functions share.
fn since(at: OffsetDateTime) -> f64 {
    (OffsetDateTime::now_utc() - at).as_seconds_f64()
}

/// How long until `at` (zero once it passed).
fn until(at: OffsetDateTime) -> Duration {
    Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or_default()
}

/// Seconds from `from` to `to`.
fn seconds_between(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    (to - from).as_seconds_f64()
}

/// The storefront's spread of a read's delay (`jittered` in `frontend/src/pages/queue.rs`: 85 %
/// to 115 %), so that a crowd that joined together does not read together; the draw is a hash of
/// the buyer and its read rather than a random number generator, so runs spread alike.
fn jittered(ms: f64, buyer: usize, read: u32) -> f64 {
    // splitmix64's finaliser over the buyer and the read.
    let mut x = ((buyer as u64) << 32 | u64::from(read)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let unit = (x >> 11) as f64 / (1_u64 << 53) as f64;
    ms * (0.85 + 0.3 * unit)
}

/// The storefront's wait after `failures` failed reads in a row (`backoff_ms` in
/// `frontend/src/pages/queue.rs`): 2 s, 4 s, 8 s … up to [`SLOWEST_MS`].
fn backoff_ms(failures: u32) -> f64 {
    (2_000.0 * 2f64.powi(failures.min(5) as i32)).min(SLOWEST_MS)
}

/// Counts, statuses and latencies of one kind of request, and how many got no answer or a 5xx.
fn requests(outcomes: impl IntoIterator<Item = (Option<u16>, Duration)>) -> (Requests, u64) {
    let outcomes: Vec<(Option<u16>, Duration)> = outcomes.into_iter().collect();
    let errors = outcomes
        .iter()
        .filter(|(status, _)| status.is_none_or(|s| s >= 500))
        .count() as u64;
    let (statuses, latencies): (Statuses, Histogram<u64>) =
        stats::answers(outcomes.iter().copied());
    (
        Requests {
            count: outcomes.len() as u64,
            statuses,
            latency: stats::percentiles(&latencies),
        },
        errors,
    )
}

/// Among buyers who joined from `onSaleAt` on: pairs of a winner (admitted) and a loser (never
/// admitted) where the loser's join was answered before the winner's was sent. A join tried again
/// counts from the winner's first attempt and to the loser's last answer: an entry may have been
/// written by an attempt whose answer was lost, so only what is certain counts as an inversion.
fn post_sale_fairness(trails: &[Trail], on_sale: OffsetDateTime) -> PostSaleFairness {
    let post: Vec<&Trail> = trails
        .iter()
        .filter(|t| t.joined_at.is_some_and(|at| at >= on_sale))
        .collect();
    let mut losers_answered: Vec<f64> = post
        .iter()
        .filter(|t| t.admitted.is_none())
        .filter_map(|t| t.join.as_ref().map(|join| join.answered))
        .collect();
    losers_answered.sort_by(f64::total_cmp);
    let winners_sent: Vec<f64> = post
        .iter()
        .filter(|t| t.admitted.is_some())
        .filter_map(|t| t.join_sent)
        .collect();
    let inversions = winners_sent
        .iter()
        .map(|sent| losers_answered.partition_point(|answered| answered < sent) as u64)
        .sum();
    PostSaleFairness {
        winners: winners_sent.len(),
        losers: losers_answered.len(),
        pairs: (winners_sent.len() * losers_answered.len()) as u64,
        inversions,
    }
}

/// The pre-sale entries against the revealed seed: each buyer's rank recomputed here as hex
/// HMAC-SHA256(key = the seed's 32 bytes, message = buyer id), independently of the orders context.
///
/// When each was admitted is read from the admission's end as answered (`admittedUntil`, which the
/// store keeps on the entry): it is the admission's time plus the window, in whole seconds, and
/// admissions are transactions conditioned on the replica's version, so one that ends in a later
/// second was admitted later. Entries let in by the same transaction, or by two in the same second,
/// cannot be told apart: only pairs whose admissions end in different seconds are compared. The
/// time the bench first saw each admission would be coarser (a read every 2 to 8 s).
fn pre_sale_order(
    trails: &[Trail],
    ids: &[&str],
    seed: &[u8],
    on_sale: OffsetDateTime,
    tickets: usize,
) -> PreSaleOrder {
    // (rank, admission end) of every pre-sale buyer, in ascending rank.
    let mut pre: Vec<(String, Option<Option<OffsetDateTime>>)> = trails
        .iter()
        .zip(ids)
        .filter(|(t, _)| t.joined_at.is_some_and(|at| at < on_sale))
        .map(|(t, id)| (rank(seed, id), t.admitted.map(|(_, until)| until)))
        .collect();
    pre.sort_by(|a, b| a.0.cmp(&b.0));
    let admitted: Vec<(&str, Option<OffsetDateTime>)> = pre
        .iter()
        .filter_map(|(r, admitted)| admitted.map(|until| (r.as_str(), until)))
        .collect();
    // Each wants one ticket: the first `tickets` fit, and one more for each admission that lapsed
    // unused (its ticket goes to the next in line). So the admitted must be the first of the line,
    // at least as many as fit.
    let expected_count = admitted.len().max(tickets.min(pre.len()));
    let expected: HashSet<&str> = pre
        .iter()
        .take(expected_count)
        .map(|(r, _)| r.as_str())
        .collect();
    let admitted_out_of_turn = admitted
        .iter()
        .filter(|(r, _)| !expected.contains(r))
        .count();
    let admitted_ranks: HashSet<&str> = admitted.iter().map(|(r, _)| *r).collect();
    let passed_over = expected
        .iter()
        .filter(|r| !admitted_ranks.contains(*r))
        .count();
    let ends: Vec<OffsetDateTime> = admitted.iter().filter_map(|(_, until)| *until).collect();
    let (mut comparable_pairs, mut out_of_order_pairs) = (0_u64, 0_u64);
    for (n, earlier) in ends.iter().enumerate() {
        for later in &ends[n + 1..] {
            if earlier != later {
                comparable_pairs += 1;
                // Ranked ahead, but admitted in a later second.
                if earlier > later {
                    out_of_order_pairs += 1;
                }
            }
        }
    }
    PreSaleOrder {
        expected: expected.len(),
        admitted: admitted.len(),
        admitted_out_of_turn,
        passed_over,
        comparable_pairs,
        out_of_order_pairs,
    }
}

/// Hex HMAC-SHA256 of the buyer id, keyed with the seed's bytes.
fn rank(seed: &[u8], id: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(seed) else {
        // HMAC takes a key of any length.
        return String::new();
    };
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Every request in flight needs a few open files here and in the stack, which inherits this
/// process's limit: fail with the fix rather than with connection errors counted as 5xx.
fn check_open_files(in_flight: usize) -> Result<(), String> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<u64>().ok());
    let needed = FILES_PER_REQUEST * in_flight as u64 + FILES_BESIDES;
    match soft {
        Some(soft) if soft < needed => Err(format!(
            "{in_flight} requests in flight need about {needed} open files, but this process may \
             open {soft}: raise it (`ulimit -n {needed}`) and run again"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).expect("a valid time")
    }

    fn trail(joined: i64, sent: f64, answered: f64, admitted: Option<i64>) -> Trail {
        Trail {
            joins_at_sale: false,
            join_sent: Some(sent),
            joins: Vec::new(),
            join: Some(Answer {
                status: Some(202),
                body: Value::Null,
                retry_after: None,
                sent,
                answered,
                elapsed: Duration::ZERO,
            }),
            joined_at: Some(at(joined)),
            admitted: admitted.map(|until| (0.0, Some(at(until)))),
            ordered: None,
            first_order_sent: None,
            ordered_in_time: false,
            reads: Vec::new(),
            orders: Vec::new(),
            end: End::State(QueueState::Waiting),
        }
    }

    #[test]
    fn a_late_winner_who_joined_after_a_loser_was_answered_is_an_inversion() {
        let trails = [
            // A loser answered at 1.0; a winner sent at 2.0 (inverted) and one sent at 0.5 (not).
            trail(0, 0.9, 1.0, None),
            trail(1, 2.0, 2.1, Some(200)),
            trail(0, 0.5, 0.6, Some(200)),
            // Pre-sale: not counted.
            trail(-5, -5.0, -4.9, None),
        ];
        let fairness = post_sale_fairness(&trails, at(0));
        assert_eq!((fairness.winners, fairness.losers), (2, 1));
        assert_eq!((fairness.pairs, fairness.inversions), (2, 1));
    }

    #[test]
    fn pre_sale_admissions_are_checked_against_the_ranks_the_seed_gives() {
        let seed = [7_u8; 32];
        let ids = ["a", "b", "c", "d"];
        let mut ranked: Vec<(String, usize)> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| (rank(&seed, id), n))
            .collect();
        ranked.sort();
        let order: Vec<usize> = ranked.iter().map(|(_, n)| *n).collect();
        // Two tickets: the first two ranks are admitted, the first in an earlier second.
        let mut trails: Vec<Trail> = (0..4).map(|_| trail(-10, -10.0, -9.9, None)).collect();
        trails[order[0]].admitted = Some((1.0, Some(at(120))));
        trails[order[1]].admitted = Some((1.0, Some(at(121))));
        let fair = pre_sale_order(&trails, &ids, &seed, at(0), 2);
        assert_eq!((fair.expected, fair.admitted), (2, 2));
        assert_eq!((fair.admitted_out_of_turn, fair.passed_over), (0, 0));
        assert_eq!((fair.comparable_pairs, fair.out_of_order_pairs), (1, 0));

        // The third rank let in before the second: out of turn, and the second passed over.
        trails[order[1]].admitted = None;
        trails[order[2]].admitted = Some((1.0, Some(at(119))));
        let unfair = pre_sale_order(&trails, &ids, &seed, at(0), 2);
        assert_eq!((unfair.admitted_out_of_turn, unfair.passed_over), (1, 1));
        assert_eq!(unfair.out_of_order_pairs, 1);
    }

    #[test]
    fn the_rank_is_the_hmac_of_the_buyer_id_keyed_with_the_seed_bytes() {
        // RFC 4231, test case 2: key "Jefe".
        assert_eq!(
            rank(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn reads_are_spread_over_85_to_115_percent_of_the_delay() {
        for buyer in 0..1_000 {
            let ms = jittered(2_000.0, buyer, 3);
            assert!((1_700.0..=2_300.0).contains(&ms), "{ms}");
        }
        assert_ne!(jittered(2_000.0, 1, 1), jittered(2_000.0, 2, 1));
    }
}
