//! Arming and disarming timers from the order events.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use shared::dynamo::{self, PK, SK, Table, TablePrefix, TableSpec};
use shared::error::ApiError;
use shared::events::data::{OrderCreatedData, OrderEndedData};
use shared::events::{CloudEvent, types};

use crate::ExpirationState;

pub const TABLE: TableSpec = TableSpec {
    name: "timers",
    sort_key: true,
    index: false,
};

const SHARDS: u32 = 8;
const STATE_SK: &str = "state";

pub mod state {
    pub const ARMED: &str = "armed";
    pub const DISARMED: &str = "disarmed";
    pub const FIRED: &str = "fired";
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

#[derive(Clone)]
pub struct Timers(Table);

impl std::ops::Deref for Timers {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.0
    }
}

impl Timers {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    /// The state item of an order's timer, if it was ever armed.
    pub async fn state_of(&self, order_id: &str) -> Result<Option<TimerState>, ApiError> {
        let found = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PK, dynamo::s(state_key(order_id)))
            .key(SK, dynamo::s(STATE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        found.item.map(dynamo::parse_item).transpose()
    }

    /// Moves the state item from `armed` to `to`.
    pub fn settle(&self, order_id: &str, to: &str) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(state_key(order_id)))
            .key(SK, dynamo::s(STATE_SK))
            .update_expression("SET #state = :to")
            .condition_expression("#state = :armed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":to", dynamo::s(to))
            .expression_attribute_values(":armed", dynamo::s(state::ARMED))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Removes a timer.
    pub fn remove(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, ApiError> {
        let delete = Delete::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(pk))
            .key(SK, dynamo::s(sk))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// What the state item holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerState {
    pub state: String,
    pub timer_pk: String,
    pub timer_sk: String,
}

pub fn arm_router(state: ExpirationState) -> Router {
    Router::new().route("/", post(arm)).with_state(state)
}

pub fn disarm_router(state: ExpirationState) -> Router {
    Router::new().route("/", post(disarm)).with_state(state)
}

async fn arm(
    State(state): State<ExpirationState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::ORDER_CREATED])?;
    // The whole payload is checked, not only what a timer needs: a timer armed for an order the
    // contract forbids (a quantity of -1000, a ticket that is no id) would announce its expiry later.
    let order: OrderCreatedData = event.payload()?;
    let due = shared::time::parse_rfc3339(&order.expires_at)
        .ok_or_else(|| ApiError::rule("order.created with an unreadable expiresAt"))?
        .unix_timestamp();
    let (timer_pk, timer_sk) = (shard(&order.id), due_key(due, &order.id));
    let table = state.timers.table();
    let timer = Put::builder()
        .table_name(table)
        .item(PK, dynamo::s(timer_pk.clone()))
        .item(SK, dynamo::s(timer_sk.clone()))
        .item("orderId", dynamo::s(order.id.clone()))
        .item("expiresAt", dynamo::s(order.expires_at.clone()))
        .build()
        .map_err(ApiError::internal)?;
    let record = Put::builder()
        .table_name(table)
        .item(PK, dynamo::s(state_key(&order.id)))
        .item(SK, dynamo::s(STATE_SK))
        .item("state", dynamo::s(state::ARMED))
        .item("timerPk", dynamo::s(timer_pk))
        .item("timerSk", dynamo::s(timer_sk))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .build()
        .map_err(ApiError::internal)?;
    let items = vec![
        TransactWriteItem::builder().put(record).build(),
        TransactWriteItem::builder().put(timer).build(),
    ];
    // Refused means the order was armed before: a duplicate, whatever happened to it since.
    let _ = state.timers.transact(items).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn disarm(
    State(state): State<ExpirationState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::ORDER_CANCELLED, types::ORDER_COMPLETED])?;
    let order: OrderEndedData = event.payload()?;
    let Some(current) = state.timers.state_of(&order.id).await? else {
        return Err(ApiError::Conflict(format!(
            "{} arrived before the order's creation",
            event.kind
        )));
    };
    if current.state != state::ARMED {
        return Ok(StatusCode::NO_CONTENT);
    }
    let items = vec![
        state.timers.settle(&order.id, state::DISARMED)?,
        state.timers.remove(&current.timer_pk, &current.timer_sk)?,
    ];
    // Refused: the sweep fired it meanwhile, or another delivery disarmed it. Either way it is done.
    let _ = state.timers.transact(items).await?;
    Ok(StatusCode::NO_CONTENT)
}
