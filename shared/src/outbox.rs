//! The transactional outbox: no state change without its event, no event without its state change.
//!
//! A function writes its items and an outbox record in one `TransactWriteItems`, then publishes the
//! event at once and deletes the record. When the publish fails (NATS down, the process killed), the
//! record stays, and the context's relay function, triggered periodically, publishes it later;
//! JetStream drops the duplicate when both got through, by `Nats-Msg-Id`.
//!
//! Records are spread over a few partitions (`shard#0`…) so that a drop's burst of writes does not
//! land on one key, and sorted by event id (UUIDv7, so oldest first).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use axum::Router;
use axum::extract::State;
use axum::routing::post;

use crate::dynamo::{self, Item, PK, SK, TableSpec};
use crate::error::ApiError;
use crate::events::CloudEvent;
use crate::publisher::Publisher;

const SHARDS: u32 = 8;

/// How old a record must be before the relay takes it: younger ones are most likely being published
/// by the function that wrote them right now.
pub const RELAY_GRACE: Duration = Duration::from_secs(2);

/// The outbox table of a context.
pub const fn table(name: &'static str) -> TableSpec {
    TableSpec {
        name,
        sort_key: true,
        index: false,
    }
}

#[derive(Clone)]
pub struct Outbox {
    client: Client,
    table: String,
    publisher: Publisher,
}

impl Outbox {
    pub fn new(client: Client, table: String, publisher: Publisher) -> Self {
        Self {
            client,
            table,
            publisher,
        }
    }

    /// The outbox record of an event, to be written in the same transaction as the change it
    /// announces.
    pub fn record(&self, event: &CloudEvent) -> Result<TransactWriteItem, ApiError> {
        let json = String::from_utf8(event.to_json()?).map_err(ApiError::internal)?;
        let put = Put::builder()
            .table_name(&self.table)
            .item(PK, dynamo::s(shard_of(&event.id)))
            .item(SK, dynamo::s(event.id.clone()))
            .item("event", dynamo::s(json))
            .item("createdAt", dynamo::n(crate::time::unix_now()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Publishes events whose transaction has committed, and removes their records. A failure is
    /// logged, not returned: the change happened, and the relay will announce it.
    pub async fn publish(&self, events: &[CloudEvent]) {
        for event in events {
            match self.publisher.publish(event).await {
                Ok(()) => {
                    if let Err(err) = self.forget(&event.id).await {
                        tracing::warn!(event = %event.id, error = %err, "published, but the outbox record stays; the relay will publish it again");
                    }
                }
                Err(err) => {
                    tracing::warn!(event = %event.id, kind = %event.kind, error = %err, "publish failed; left for the outbox relay");
                }
            }
        }
    }

    /// Publishes every record older than `grace`; returns how many.
    pub async fn relay(&self, grace: Duration) -> Result<usize, ApiError> {
        let cutoff = crate::time::unix_now() - i64::try_from(grace.as_secs()).unwrap_or(0);
        let mut relayed = 0;
        for shard in 0..SHARDS {
            let mut start: Option<Item> = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :shard")
                    .filter_expression("createdAt <= :cutoff")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":shard", dynamo::s(format!("shard#{shard}")))
                    .expression_attribute_values(":cutoff", dynamo::n(cutoff))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(dynamo::sdk_error)?;
                for item in page.items.unwrap_or_default() {
                    let Some(json) = item.get("event").and_then(|v| v.as_s().ok()) else {
                        continue;
                    };
                    let event = CloudEvent::from_structured(json.as_bytes()).map_err(|e| {
                        ApiError::internal(format!("unreadable outbox record: {e}"))
                    })?;
                    self.publisher
                        .publish(&event)
                        .await
                        .map_err(ApiError::unavailable)?;
                    self.forget(&event.id).await?;
                    relayed += 1;
                }
                match page.last_evaluated_key {
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
        }
        if relayed > 0 {
            tracing::info!(relayed, "outbox relay published stragglers");
        }
        Ok(relayed)
    }

    async fn forget(&self, event_id: &str) -> Result<(), ApiError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, dynamo::s(shard_of(event_id)))
            .key(SK, dynamo::s(event_id))
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        Ok(())
    }
}

fn shard_of(event_id: &str) -> String {
    let hash = event_id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    });
    format!("shard#{}", hash % SHARDS)
}

/// The relay function: any POST (the periodic ping) publishes the stragglers.
pub fn relay_router(outbox: Outbox) -> Router {
    Router::new().route("/", post(relay)).with_state(outbox)
}

async fn relay(State(outbox): State<Outbox>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let relayed = outbox.relay(RELAY_GRACE).await?;
    Ok(axum::Json(serde_json::json!({ "relayed": relayed })))
}

/// What a context that writes and announces changes needs from the environment: `TABLE_PREFIX`,
/// `NATS_URL`, `EVENT_SUBJECT_PREFIX`.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub prefix: crate::dynamo::TablePrefix,
    pub nats: crate::publisher::NatsSettings,
}

impl crate::config::FromEnv for StoreSettings {
    fn from_env(env: &mut crate::config::Env) -> Self {
        Self {
            prefix: crate::config::FromEnv::from_env(env),
            nats: crate::config::FromEnv::from_env(env),
        }
    }
}

impl StoreSettings {
    /// The DynamoDB client and the context's outbox. Neither connects yet.
    pub async fn connect(
        &self,
        outbox_table: &TableSpec,
    ) -> Result<(Client, Outbox), async_nats::ConnectError> {
        let client = dynamo::client().await;
        let publisher = Publisher::connect(self.nats.clone()).await?;
        let outbox = Outbox::new(client.clone(), self.prefix.table(outbox_table), publisher);
        Ok((client, outbox))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_always_lands_in_the_same_shard() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(shard_of(&id), shard_of(&id));
    }

    #[test]
    fn events_spread_over_every_shard() {
        let shards: std::collections::HashSet<String> = (0..200)
            .map(|_| shard_of(&uuid::Uuid::now_v7().to_string()))
            .collect();
        assert_eq!(shards.len(), SHARDS as usize);
    }
}
