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
use contract::OrderStatus;
use contract::events::{
    OrderExpiredData, PaymentCreatedData, PaymentFailedData, PaymentPendingData,
};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::validation::existing_id;

use shared::dynamo::TablePrefix;
use shared::outbox::StoreSettings;

use crate::Ledger;
use crate::queue::Admission;
use crate::store::{self, Ending, Orders, Tracked};

pub fn track_payment_router(orders: Orders) -> Router {
    Router::new()
        .route("/", post(track_payment))
        .with_state(orders)
}

/// Announces nothing: the table is all it needs.
pub async fn track_payment_app(prefix: TablePrefix) -> Router {
    track_payment_router(Orders::connect(&prefix).await)
}

/// `payment.pending` (the buyer must authenticate: `created` → `awaiting:payment`) and
/// `payment.failed` (`awaiting:payment` → `created`, while the hold lasts). Any other state means the
/// order moved on, and the event changes nothing.
async fn track_payment(
    State(orders): State<Orders>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::PAYMENT_PENDING, types::PAYMENT_FAILED])?;
    // What the step needs: the order, the PaymentIntent, and the statuses it moves between.
    let (order_id, stripe_id, from, to) = if event.kind == types::PAYMENT_PENDING {
        let data: PaymentPendingData = event.payload()?;
        let to = OrderStatus::AwaitingPayment;
        (data.order_id, data.stripe_id, OrderStatus::Created, to)
    } else {
        let data: PaymentFailedData = event.payload()?;
        let to = OrderStatus::Created;
        (
            data.order_id,
            data.stripe_id,
            OrderStatus::AwaitingPayment,
            to,
        )
    };
    let pending = (to == OrderStatus::AwaitingPayment).then_some(stripe_id.as_str());
    for _ in 0..3 {
        let order = find(&orders, order_id.as_str()).await?;
        let stale_failure = event.kind == types::PAYMENT_FAILED
            && order.pending_stripe_id.as_deref() != Some(stripe_id.as_str());
        if order.status != from || stale_failure {
            return Ok(StatusCode::NO_CONTENT);
        }
        // Conditioned on the version read, so the check above still holds when it applies.
        if orders.track(&order, to, pending).await? == Tracked::Tracked {
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    Err(ApiError::Conflict(
        "Order was modified concurrently".to_owned(),
    ))
}

pub fn expire_router(ledger: Ledger) -> Router {
    Router::new()
        .route("/", post(expire_order))
        .with_state(ledger)
}

pub fn complete_router(ledger: Ledger) -> Router {
    Router::new()
        .route("/", post(complete_order))
        .with_state(ledger)
}

/// The tables, NATS, `DROP_ADMISSION_SECONDS` and `DROP_ADMITTED_MAX` (an expired order lets a
/// drop's queue move on).
pub async fn expire_app(
    (store, admission): (StoreSettings, Admission),
) -> Result<Router, async_nats::ConnectError> {
    Ok(expire_router(Ledger::connect(store, admission).await?))
}

pub async fn complete_app(store: StoreSettings) -> Result<Router, async_nats::ConnectError> {
    Ok(complete_router(
        Ledger::connect(store, Admission::default()).await?,
    ))
}

async fn expire_order(
    State(ledger): State<Ledger>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::PAYMENT_LAPSED])?;
    let data: OrderExpiredData = event.payload()?;
    // Payments has decided: the order lapsed unpaid. No clock is consulted again here.
    let order = find(&ledger.orders, data.order_id.as_str()).await?;
    let ended = store::end(
        &ledger.orders,
        &ledger.outbox,
        "expire-order",
        order,
        Ending::Cancel,
    )
    .await?;
    ledger.advance_queue(&ended).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn complete_order(
    State(ledger): State<Ledger>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::PAYMENT_CREATED])?;
    let data: PaymentCreatedData = event.payload()?;
    let order = find(&ledger.orders, data.order_id.as_str()).await?;
    let ended = store::end(
        &ledger.orders,
        &ledger.outbox,
        "complete-order",
        order,
        Ending::Complete,
    )
    .await?;
    if ended.status == OrderStatus::Cancelled {
        // Only a buyer's cancel can race a payment (expiry waits for payments' verdict); payments
        // refunds it when `order.cancelled` reaches its paid copy. The order stays cancelled.
        tracing::warn!(order = %ended.id, "payment for a cancelled order: payments refunds it");
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn find(orders: &Orders, id: &str) -> Result<crate::order::OrderItem, ApiError> {
    let id = existing_id(id).map_err(|_| ApiError::rule("Event names no valid order id"))?;
    // Not found is retried: the order may not be visible yet to this reader.
    orders.order(&id).await?.ok_or(ApiError::NotFound)
}
