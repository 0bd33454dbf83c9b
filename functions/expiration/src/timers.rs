//! Arming and disarming timers from the order events.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use contract::events::{OrderCreatedData, OrderEndedData};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};

use crate::store::{Disarmed, Timers};

pub fn arm_router(timers: Timers) -> Router {
    Router::new().route("/", post(arm)).with_state(timers)
}

pub fn disarm_router(timers: Timers) -> Router {
    Router::new().route("/", post(disarm)).with_state(timers)
}

async fn arm(State(timers): State<Timers>, event: CloudEvent) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::ORDER_CREATED])?;
    // The whole payload is checked, not only what a timer needs: a timer armed for an order the
    // contract forbids (a quantity of -1000, a ticket that is no id) would announce its expiry later.
    let order: OrderCreatedData = event.payload()?;
    let due = shared::time::parse_rfc3339(&order.expires_at)
        .ok_or_else(|| ApiError::rule("order.created with an unreadable expiresAt"))?
        .unix_timestamp();
    // Already armed is a duplicate, whatever happened to the timer since: done either way.
    timers.arm(&order.id, &order.expires_at, due).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn disarm(State(timers): State<Timers>, event: CloudEvent) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::ORDER_CANCELLED, types::ORDER_COMPLETED])?;
    let order: OrderEndedData = event.payload()?;
    match timers.disarm(&order.id).await? {
        Disarmed::Disarmed | Disarmed::AlreadySettled => Ok(StatusCode::NO_CONTENT),
        Disarmed::NotArmed => Err(ApiError::Conflict(format!(
            "{} arrived before the order's creation",
            event.kind
        ))),
    }
}
