//! `expire`: announces `order.expired` for every timer that is due. Triggered periodically (a
//! PingSource in a cluster, the bridge's timer locally); the order's own `expiresAt` is what payments
//! checks, so correctness never waits for this sweep.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::json;
use shared::dynamo::{self, Item, PK, SK};
use shared::error::ApiError;
use shared::events::data::OrderExpiredData;
use shared::events::{CloudEvent, types};

use crate::ExpirationState;
use crate::timers::{self, state};

/// Timers handled per sweep, so that one request stays short after a long outage; the next sweep
/// takes the rest.
const MAX_PER_SWEEP: usize = 500;

pub fn router(state: ExpirationState) -> Router {
    Router::new().route("/", post(expire)).with_state(state)
}

async fn expire(
    State(state): State<ExpirationState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let fired = sweep(&state, shared::time::unix_now()).await?;
    Ok(axum::Json(json!({ "expired": fired })))
}

/// Fires every timer due at `now`; returns how many this call fired.
pub async fn sweep(state: &ExpirationState, now: i64) -> Result<usize, ApiError> {
    let mut due: Vec<Item> = Vec::new();
    // Everything up to and including `now`: keys of that second start with it, and `~` sorts after
    // every character of an id.
    let until = format!("{now:012}~");
    for shard in timers::shards() {
        let mut start: Option<Item> = None;
        loop {
            let page = state
                .timers
                .client()
                .query()
                .table_name(state.timers.table())
                .key_condition_expression("#pk = :shard AND #sk <= :until")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":shard", AttributeValue::S(shard.clone()))
                .expression_attribute_values(":until", AttributeValue::S(until.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(dynamo::sdk_error)?;
            due.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if due.len() < MAX_PER_SWEEP => start = Some(key),
                _ => break,
            }
        }
    }
    let mut fired = 0;
    for timer in due.into_iter().take(MAX_PER_SWEEP) {
        let text = |name: &str| {
            timer
                .get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let (order_id, expires_at) = (text("orderId"), text("expiresAt"));
        let event = CloudEvent::new(
            "expire",
            types::ORDER_EXPIRED,
            &order_id,
            &OrderExpiredData {
                order_id: order_id.clone(),
                expires_at,
            },
        )?;
        let items = vec![
            state.timers.settle(&order_id, state::FIRED)?,
            state.timers.remove(&text(PK), &text(SK))?,
            state.outbox.record(&event)?,
        ];
        // A refusal: disarmed, or fired by a concurrent sweep, since it was read.
        if state.timers.transact(items).await?.is_ok() {
            state.outbox.publish(&[event]).await;
            fired += 1;
        }
    }
    Ok(fired)
}
