//! The ceiling: how many place-order transactions per second DynamoDB Local itself sustains, driven
//! directly (no HTTP, no functions) with the drop's conditions: B attempts on one listing of Q
//! tickets, the same number in flight, the same transaction (`orders::place_order::placement`) and
//! the same retry on transaction conflicts.

use std::time::{Duration, Instant};

use futures::StreamExt;
use orders::place_order::{created_event, new_order, placement};
use orders::replica::{self, TicketReplica};
use orders::store::Orders;
use serde_json::{Value, json};
use shared::dynamo::{self, TablePrefix};
use shared::outbox::Outbox;
use shared::publisher::{NatsSettings, Publisher};

use crate::drop::DropSettings;
use crate::stats;

pub async fn run(
    dynamodb_port: u16,
    nats_url: &str,
    settings: &DropSettings,
) -> Result<Value, String> {
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
) -> Result<Value, String> {
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
    let listing = TicketReplica {
        pk: replica::key(&ticket_id),
        entity: "ticket".to_owned(),
        id: ticket_id,
        title: "Ceiling".to_owned(),
        price: 5000,
        quantity,
        user_id: "seller".to_owned(),
        version: 0,
        reserved: 0,
        available: quantity,
    };
    client
        .put_item()
        .table_name(orders.table())
        .set_item(Some(
            dynamo::item_of(&listing).map_err(|e| format!("{e:?}"))?,
        ))
        .send()
        .await
        .map_err(|e| format!("seeding the listing: {e}"))?;

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
                    let items =
                        placement(orders, outbox, &order, &event).map_err(|e| format!("{e:?}"))?;
                    let result = orders.transact(items).await.map_err(|e| format!("{e:?}"))?;
                    Ok(result.is_ok())
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
    Ok(json!({
        "transactions": settings.buyers,
        "held": held,
        "refused": refused,
        "failed": failed,
        "seconds": seconds,
        "transactionsPerSecond": settings.buyers as f64 / seconds,
        "latency": stats::percentiles(&latencies),
    }))
}
