//! The ceiling: how many place-order transactions per second DynamoDB Local itself sustains, driven
//! directly (no HTTP, no functions) with the drop's conditions: B attempts on one listing of Q
//! tickets, the same number in flight, the same transaction (`orders::store::Orders::place`, what
//! `place-order` calls) and the same retry on transaction conflicts.

use std::time::{Duration, Instant};

use contract::events::TicketData;
use contract::{Cents, Quantity, TicketId, UserId};
use futures::StreamExt;
use orders::place_order::{created_event, new_order};
use orders::store::{Orders, Placed};

use shared::dynamo::{self, TablePrefix};
use shared::events::types;
use shared::outbox::Outbox;
use shared::publisher::{NatsSettings, Publisher};

use crate::drop::DropSettings;
use crate::results::Ceiling;
use crate::stats;

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

async fn measure(
    client: &aws_sdk_dynamodb::Client,
    prefix: &TablePrefix,
    nats_url: &str,
    settings: &DropSettings,
) -> Result<Ceiling, String> {
    let orders = Orders::new(client.clone(), prefix);
    // The outbox is written, never published: the ceiling is DynamoDB's alone.
    let publisher = Publisher::connect(NatsSettings {
        url: nats_url.to_owned(),
        subject_prefix: "bench.ceiling".to_owned(),
    })
    .await
    .map_err(|e| format!("nats: {e}"))?;
    let outbox = Outbox::new(client.clone(), prefix.table(&orders::OUTBOX), publisher);

    let ticket_id = uuid::Uuid::now_v7().to_string();
    let quantity = i64::try_from(settings.tickets).map_err(|e| e.to_string())?;
    // The listing's replica, as `replicate-ticket` writes it from `ticket.created`.
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
    let listing = orders
        .replica(&ticket_id)
        .await
        .map_err(|e| format!("reading the listing: {e:?}"))?
        .ok_or("the seeded listing is missing")?;

    let mut latencies = stats::latencies();
    let started = Instant::now();
    let results: Vec<(Result<bool, String>, Duration)> = futures::stream::iter(0..settings.buyers)
        .map(|buyer| {
            let (orders, outbox, listing) = (&orders, &outbox, &listing);
            async move {
                let began = Instant::now();
                let order = new_order(
                    &format!("buyer-{buyer}"),
                    listing,
                    1,
                    Duration::from_secs(900),
                );
                let outcome = async {
                    let event = created_event(&order).map_err(|e| format!("{e:?}"))?;
                    let record = outbox.record(&event).map_err(|e| format!("{e:?}"))?;
                    let placed = orders
                        .place(&order, record, None)
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    Ok(placed == Placed::Held)
                }
                .await;
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
