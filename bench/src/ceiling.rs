//! The ceiling: how many place-order transactions per second DynamoDB Local itself sustains, driven
//! directly (no HTTP, no functions) with the drop's conditions: B attempts on one listing of Q
//! tickets, the same number in flight, the same transaction (`orders::store::Orders::place`, what
//! `place-order` calls) and the same retry on transaction conflicts.
//!
//! [`sweep`] measures the same single-order transaction at 1, 2, 4 … 256 in flight: contention on
//! the one item, not the item itself, is the limit, so the best of those levels is the honest
//! one-order ceiling to compare group commit with.

use std::time::{Duration, Instant};

use contract::events::TicketData;
use contract::{Cents, Quantity, TicketId, UserId};
use futures::StreamExt;
use orders::place_order::{created_event, new_order};
use orders::replica::TicketReplica;
use orders::store::{Orders, Placed};

use shared::dynamo::{self, TablePrefix};
use shared::events::types;
use shared::outbox::Outbox;
use shared::publisher::{NatsSettings, Publisher};

use crate::drop::DropSettings;
use crate::results::{Ceiling, CeilingLevel, CeilingSweep};
use crate::stats;

/// The concurrencies of the sweep.
pub const SWEEP_IN_FLIGHT: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/// How long each level of the sweep starts transactions: long enough for 256 in flight to cycle
/// several times even in the collapse (about 100 per second).
const SECONDS_PER_LEVEL: f64 = 3.0;
/// Tickets on each level's listing: more than any level can hold, so every transaction is a hold.
const SWEEP_TICKETS: i64 = 100_000_000;

pub async fn run(
    dynamodb_port: u16,
    nats_url: &str,
    settings: &DropSettings,
) -> Result<Ceiling, String> {
    let client = crate::dynamo::local_client(dynamodb_port);
    let prefix = TablePrefix(format!("bench-ceiling-{}-", std::process::id()));
    dynamo::ensure_tables(&client, &prefix, orders::TABLES)
        .await
        .map_err(|e| format!("ceiling tables: {e:?}"))?;
    let outcome = measure(&client, &prefix, nats_url, settings).await;
    let _ = dynamo::delete_tables(&client, &prefix, orders::TABLES).await;
    outcome
}

/// The single-order transaction at each of [`SWEEP_IN_FLIGHT`], each level on a fresh listing.
pub async fn sweep(dynamodb_port: u16, nats_url: &str) -> Result<CeilingSweep, String> {
    let client = crate::dynamo::local_client(dynamodb_port);
    let prefix = TablePrefix(format!("bench-sweep-{}-", std::process::id()));
    dynamo::ensure_tables(&client, &prefix, orders::TABLES)
        .await
        .map_err(|e| format!("ceiling sweep tables: {e:?}"))?;
    let outcome = async {
        let (orders, outbox) = store(&client, &prefix, nats_url).await?;
        let mut levels = Vec::new();
        for in_flight in SWEEP_IN_FLIGHT {
            let level = measure_level(&orders, &outbox, in_flight).await?;
            eprintln!(
                "bench: {in_flight:>3} in flight: {:.0} orders/s, p99 {:.0} ms",
                level.orders_per_second, level.latency.p99_ms
            );
            levels.push(level);
        }
        Ok(CeilingSweep {
            seconds_per_level: SECONDS_PER_LEVEL,
            levels,
        })
    }
    .await;
    let _ = dynamo::delete_tables(&client, &prefix, orders::TABLES).await;
    outcome
}

/// The orders store and an outbox that is written, never published: the ceiling is DynamoDB's
/// alone.
async fn store(
    client: &aws_sdk_dynamodb::Client,
    prefix: &TablePrefix,
    nats_url: &str,
) -> Result<(Orders, Outbox), String> {
    let orders = Orders::new(client.clone(), prefix);
    let publisher = Publisher::connect(NatsSettings {
        url: nats_url.to_owned(),
        subject_prefix: "bench.ceiling".to_owned(),
    })
    .await
    .map_err(|e| format!("nats: {e}"))?;
    let outbox = Outbox::new(client.clone(), prefix.table(&orders::OUTBOX), publisher);
    Ok((orders, outbox))
}

/// Holds one ticket on `listing` with place-order's transaction: whether it was held.
async fn place_one(
    orders: &Orders,
    outbox: &Outbox,
    listing: &TicketReplica,
    buyer: usize,
) -> Result<bool, String> {
    let order = new_order(
        &format!("buyer-{buyer}"),
        listing,
        1,
        Duration::from_secs(900),
    );
    let event = created_event(&order).map_err(|e| format!("{e:?}"))?;
    let record = outbox.record(&event).map_err(|e| format!("{e:?}"))?;
    let placed = orders
        .place(&order, record, None)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(placed == Placed::Held)
}

/// One level of the sweep: `in_flight` transactions at a time for [`SECONDS_PER_LEVEL`], then
/// those in flight finish; the rate counts every hold over the whole time.
async fn measure_level(
    orders: &Orders,
    outbox: &Outbox,
    in_flight: usize,
) -> Result<CeilingLevel, String> {
    let listing = seed_listing(orders, SWEEP_TICKETS).await?;
    let window = Duration::from_secs_f64(SECONDS_PER_LEVEL);
    let started = Instant::now();
    let results: Vec<(Result<bool, String>, Duration)> = futures::stream::iter(0..)
        .take_while(|_| std::future::ready(started.elapsed() < window))
        .map(|buyer| {
            let listing = &listing;
            async move {
                let began = Instant::now();
                let outcome = place_one(orders, outbox, listing, buyer).await;
                (outcome, began.elapsed())
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies = stats::latencies();
    let (mut held, mut failed) = (0u64, 0u64);
    for (outcome, elapsed) in &results {
        stats::record(&mut latencies, *elapsed);
        match outcome {
            Ok(true) => held += 1,
            Ok(false) => {}
            Err(err) => {
                if failed == 0 {
                    eprintln!("bench: ceiling sweep transaction failed: {err}");
                }
                failed += 1;
            }
        }
    }
    Ok(CeilingLevel {
        in_flight,
        held,
        failed,
        seconds,
        orders_per_second: held as f64 / seconds,
        latency: stats::percentiles(&latencies),
    })
}

/// A listing of `quantity` in the orders context, as `replicate-ticket` writes it from
/// `ticket.created`.
async fn seed_listing(orders: &Orders, quantity: i64) -> Result<TicketReplica, String> {
    let ticket_id = uuid::Uuid::now_v7().to_string();
    let ticket = TicketData {
        id: TicketId::from(ticket_id.as_str()),
        version: 0,
        title: "Ceiling".to_owned(),
        price: Cents(5000),
        quantity: Quantity(quantity),
        user_id: UserId::from(uuid::Uuid::now_v7().to_string().as_str()),
        venue: None,
        starts_at: None,
        on_sale_at: None,
        queue_seed: None,
        resale_of: None,
    };
    orders
        .replicate(types::TICKET_CREATED, &ticket)
        .await
        .map_err(|e| format!("seeding the listing: {e:?}"))?;
    orders
        .replica(&ticket_id)
        .await
        .map_err(|e| format!("reading the listing: {e:?}"))?
        .ok_or_else(|| "the seeded listing is missing".to_owned())
}

async fn measure(
    client: &aws_sdk_dynamodb::Client,
    prefix: &TablePrefix,
    nats_url: &str,
    settings: &DropSettings,
) -> Result<Ceiling, String> {
    let (orders, outbox) = store(client, prefix, nats_url).await?;
    let quantity = i64::try_from(settings.tickets).map_err(|e| e.to_string())?;
    let listing = seed_listing(&orders, quantity).await?;

    let mut latencies = stats::latencies();
    let started = Instant::now();
    let results: Vec<(Result<bool, String>, Duration)> = futures::stream::iter(0..settings.buyers)
        .map(|buyer| {
            let (orders, outbox, listing) = (&orders, &outbox, &listing);
            async move {
                let began = Instant::now();
                let outcome = place_one(orders, outbox, listing, buyer).await;
                (outcome, began.elapsed())
            }
        })
        .buffer_unordered(settings.in_flight)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();

    let (mut held, mut refused, mut failed) = (0u64, 0u64, 0u64);
    for (outcome, elapsed) in &results {
        stats::record(&mut latencies, *elapsed);
        match outcome {
            Ok(true) => held += 1,
            Ok(false) => refused += 1,
            Err(err) => {
                if failed == 0 {
                    eprintln!("bench: ceiling transaction failed: {err}");
                }
                failed += 1;
            }
        }
    }
    Ok(Ceiling {
        transactions: settings.buyers,
        held,
        refused,
        failed,
        seconds,
        transactions_per_second: settings.buyers as f64 / seconds,
        latency: stats::percentiles(&latencies),
    })
}
