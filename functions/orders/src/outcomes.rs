//! What other contexts report about an order: its hold ran out unpaid (`payment.lapsed`: payments'
//! verdict on the expiry sweep's `order.expired`; `expire-order`) or it was paid
//! (`payment.created`: `complete-order`). Payments decides between the two in one conditional
//! write, so an order whose payment succeeded in time is never cancelled by expiry, however late
//! `payment.created` arrives.
//!
//! Both are idempotent through the order's own state: an order that already ended is left as it is
//! and the event answered 2xx.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use shared::error::ApiError;
use shared::events::data::OrderExpiredData;
use shared::events::{CloudEvent, types};
use shared::validation::existing_id;

use crate::order::status;
use crate::store::{self, Ending};
use crate::{OrderState, Settings};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentData {
    order_id: String,
    #[serde(default)]
    stripe_id: String,
}

pub fn track_payment_router(state: OrderState) -> Router {
    Router::new()
        .route("/", post(track_payment))
        .with_state(state)
}

pub async fn track_payment_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(track_payment_router(OrderState::connect(settings).await?))
}

/// `payment.pending` (the buyer must authenticate: `created` → `awaiting:payment`) and
/// `payment.failed` (`awaiting:payment` → `created`, while the hold lasts). Any other state means the
/// order moved on, and the event changes nothing.
async fn track_payment(
    State(state): State<OrderState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::PAYMENT_PENDING, types::PAYMENT_FAILED])?;
    let data: PaymentData = event.data_as()?;
    let (from, to) = if event.kind == types::PAYMENT_PENDING {
        (status::CREATED, status::AWAITING_PAYMENT)
    } else {
        (status::AWAITING_PAYMENT, status::CREATED)
    };
    let pending = (to == status::AWAITING_PAYMENT).then_some(data.stripe_id.as_str());
    for _ in 0..3 {
        let order = find(&state, &data.order_id).await?;
        let stale_failure = event.kind == types::PAYMENT_FAILED
            && order.pending_stripe_id.as_deref() != Some(data.stripe_id.as_str());
        if order.status != from || stale_failure {
            return Ok(StatusCode::NO_CONTENT);
        }
        // Conditioned on the version read, so the check above still holds when it applies.
        if state.orders.set_status(&order, to, pending).await? {
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    Err(ApiError::Conflict(
        "Order was modified concurrently".to_owned(),
    ))
}

pub fn expire_router(state: OrderState) -> Router {
    Router::new()
        .route("/", post(expire_order))
        .with_state(state)
}

pub fn complete_router(state: OrderState) -> Router {
    Router::new()
        .route("/", post(complete_order))
        .with_state(state)
}

pub async fn expire_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(expire_router(OrderState::connect(settings).await?))
}

pub async fn complete_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(complete_router(OrderState::connect(settings).await?))
}

async fn expire_order(
    State(state): State<OrderState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::PAYMENT_LAPSED])?;
    let data: OrderExpiredData = event.payload()?;
    // Payments has decided: the order lapsed unpaid. No clock is consulted again here.
    let order = find(&state, &data.order_id).await?;
    store::end(&state, "expire-order", order, Ending::Cancel).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn complete_order(
    State(state): State<OrderState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::PAYMENT_CREATED])?;
    let data: PaymentData = event.data_as()?;
    let order = find(&state, &data.order_id).await?;
    let ended = store::end(&state, "complete-order", order, Ending::Complete).await?;
    if ended.status == status::CANCELLED {
        // Only a buyer's cancel can race a payment (expiry waits for payments' verdict); payments
        // refunds it when `order.cancelled` reaches its paid copy. The order stays cancelled.
        tracing::warn!(order = %ended.id, "payment for a cancelled order: payments refunds it");
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn find(state: &OrderState, id: &str) -> Result<crate::order::OrderItem, ApiError> {
    let id = existing_id(id).map_err(|_| ApiError::rule("Event names no valid order id"))?;
    // Not found is retried: the order may not be visible yet to this reader.
    state.orders.order(&id).await?.ok_or(ApiError::NotFound)
}
