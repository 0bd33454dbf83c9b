//! The timers table: timers (`due#0..7` / `<due unix, 12 digits>#<order id>`) and each order's
//! state item (`order#<id>` / `state`: armed → disarmed | fired). The only place in this context
//! that speaks DynamoDB: each operation says what happened as an enum, never as a refused write's
//! position.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use contract::OrderId;
use serde::{Deserialize, Serialize};
use shared::dynamo::{self, Item, PK, SK, Table, TablePrefix, TableSpec, Writes};
use shared::error::ApiError;

pub const TABLE: TableSpec = TableSpec {
    name: "timers",
    sort_key: true,
    index: false,
};

const SHARDS: u32 = 8;
const STATE_SK: &str = "state";

/// Where an order's timer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerState {
    Armed,
    /// The order was cancelled or paid first.
    Disarmed,
    /// The sweep announced the order's expiry.
    Fired,
}

impl TimerState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Armed => "armed",
            Self::Disarmed => "disarmed",
            Self::Fired => "fired",
        }
    }
}

/// The partition of an order's timer.
pub fn shard(order_id: &str) -> String {
    let hash = order_id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    });
    format!("due#{}", hash % SHARDS)
}

pub fn shards() -> impl Iterator<Item = String> {
    (0..SHARDS).map(|n| format!("due#{n}"))
}

/// The sort key of a timer: due time first (fixed width, so text order is time order).
pub fn due_key(due_unix: i64, order_id: &str) -> String {
    format!("{due_unix:012}#{order_id}")
}

pub fn state_key(order_id: &str) -> String {
    format!("order#{order_id}")
}

/// What an order's state item holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerRecord {
    pub state: TimerState,
    pub timer_pk: String,
    pub timer_sk: String,
}

/// A timer that is due.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DueTimer {
    pub pk: String,
    pub sk: String,
    pub order_id: OrderId,
    pub expires_at: String,
}

/// What arming did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Armed {
    Armed,
    /// The order was armed before: a duplicate, whatever happened to its timer since.
    AlreadyArmed,
}

/// What disarming did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disarmed {
    Disarmed,
    /// Fired by the sweep or disarmed by another delivery, before or meanwhile: done either way.
    AlreadySettled,
    /// Never armed: the order's creation is still on its way.
    NotArmed,
}

/// What firing a due timer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    Fired,
    /// Disarmed, or fired by a concurrent sweep, since it was read.
    AlreadySettled,
}

/// The writes of this context's transactions, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    State,
    Timer,
    Outbox,
}

#[derive(Clone)]
pub struct Timers(Table);

impl Timers {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    /// The table on a client from the environment (no network call yet).
    pub async fn connect(prefix: &TablePrefix) -> Self {
        Self::new(dynamo::client().await, prefix)
    }

    /// The state item of an order's timer, if it was ever armed.
    pub async fn state_of(&self, order_id: &str) -> Result<Option<TimerRecord>, ApiError> {
        let found = self
            .0
            .client()
            .get_item()
            .table_name(self.0.table())
            .key(PK, dynamo::s(state_key(order_id)))
            .key(SK, dynamo::s(STATE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        found.item.map(dynamo::parse_item).transpose()
    }

    /// Arms an order's timer for `due_unix`, once per order.
    pub async fn arm(
        &self,
        order_id: &OrderId,
        expires_at: &str,
        due_unix: i64,
    ) -> Result<Armed, ApiError> {
        let (timer_pk, timer_sk) = (
            shard(order_id.as_str()),
            due_key(due_unix, order_id.as_str()),
        );
        let table = self.0.table();
        let timer = Put::builder()
            .table_name(table)
            .item(PK, dynamo::s(timer_pk.clone()))
            .item(SK, dynamo::s(timer_sk.clone()))
            .item("orderId", dynamo::s(order_id.as_str()))
            .item("expiresAt", dynamo::s(expires_at))
            .build()
            .map_err(ApiError::internal)?;
        let record = Put::builder()
            .table_name(table)
            .item(PK, dynamo::s(state_key(order_id.as_str())))
            .item(SK, dynamo::s(STATE_SK))
            .item("state", dynamo::s(TimerState::Armed.as_str()))
            .item("timerPk", dynamo::s(timer_pk))
            .item("timerSk", dynamo::s(timer_sk))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes
            .add(
                Write::State,
                TransactWriteItem::builder().put(record).build(),
            )
            .add(
                Write::Timer,
                TransactWriteItem::builder().put(timer).build(),
            );
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Armed::Armed),
            Err(refused) if refused.failed(Write::State) => Ok(Armed::AlreadyArmed),
            Err(refused) => Err(ApiError::internal(format!(
                "arming refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Disarms an order's timer: armed → disarmed, and the timer goes.
    pub async fn disarm(&self, order_id: &OrderId) -> Result<Disarmed, ApiError> {
        let Some(current) = self.state_of(order_id.as_str()).await? else {
            return Ok(Disarmed::NotArmed);
        };
        if current.state != TimerState::Armed {
            return Ok(Disarmed::AlreadySettled);
        }
        let mut writes = Writes::new();
        writes
            .add(
                Write::State,
                self.settle(order_id.as_str(), TimerState::Disarmed)?,
            )
            .add(
                Write::Timer,
                self.remove(&current.timer_pk, &current.timer_sk)?,
            );
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Disarmed::Disarmed),
            Err(refused) if refused.failed(Write::State) => Ok(Disarmed::AlreadySettled),
            Err(refused) => Err(ApiError::internal(format!(
                "disarming refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Timers due at `now` (up to and including it), at most `limit`, partition by partition.
    pub async fn due(&self, now: i64, limit: usize) -> Result<Vec<DueTimer>, ApiError> {
        let mut due: Vec<Item> = Vec::new();
        // Keys of that second start with it, and `~` sorts after every character of an id.
        let until = format!("{now:012}~");
        for shard in shards() {
            let mut start: Option<Item> = None;
            loop {
                let page = self
                    .0
                    .client()
                    .query()
                    .table_name(self.0.table())
                    .key_condition_expression("#pk = :shard AND #sk <= :until")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":shard", dynamo::s(shard.clone()))
                    .expression_attribute_values(":until", dynamo::s(until.clone()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(dynamo::sdk_error)?;
                due.extend(page.items.unwrap_or_default());
                match page.last_evaluated_key {
                    Some(key) if due.len() < limit => start = Some(key),
                    _ => break,
                }
            }
        }
        due.into_iter()
            .take(limit)
            .map(dynamo::parse_item)
            .collect()
    }

    /// Fires a due timer: armed → fired, the timer goes, and the expiry's event is recorded, in one
    /// transaction.
    pub async fn fire(
        &self,
        timer: &DueTimer,
        event: TransactWriteItem,
    ) -> Result<Fired, ApiError> {
        let mut writes = Writes::new();
        writes
            .add(
                Write::State,
                self.settle(timer.order_id.as_str(), TimerState::Fired)?,
            )
            .add(Write::Timer, self.remove(&timer.pk, &timer.sk)?)
            .add(Write::Outbox, event);
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Fired::Fired),
            Err(refused) if refused.failed(Write::State) => Ok(Fired::AlreadySettled),
            Err(refused) => Err(ApiError::internal(format!(
                "firing refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Moves the state item from `armed` to `to`.
    fn settle(&self, order_id: &str, to: TimerState) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(state_key(order_id)))
            .key(SK, dynamo::s(STATE_SK))
            .update_expression("SET #state = :to")
            .condition_expression("#state = :armed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":to", dynamo::s(to.as_str()))
            .expression_attribute_values(":armed", dynamo::s(TimerState::Armed.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Removes a timer.
    fn remove(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, ApiError> {
        let delete = Delete::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(pk))
            .key(SK, dynamo::s(sk))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}
