//! `copy-order`: keeps this context's copy of each order from `order.created`, `order.cancelled`
//! and `order.completed`, and decides `order.expired` (paid or lapsed). A later version replaces an
//! earlier one; an end that comes before the creation is a 409 for the bridge to retry.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use shared::error::ApiError;
use shared::events::data::{OrderCreatedData, OrderEndedData, OrderExpiredData};
use shared::events::{CloudEvent, types};

use crate::PaymentState;
use crate::store::{Copied, Lapse, OrderCopy, order_key, status};

pub fn router(state: PaymentState) -> Router {
    Router::new().route("/", post(copy_order)).with_state(state)
}

async fn copy_order(
    State(state): State<PaymentState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[
        types::ORDER_CREATED,
        types::ORDER_CANCELLED,
        types::ORDER_COMPLETED,
        types::ORDER_EXPIRED,
    ])?;
    match event.kind.as_str() {
        types::ORDER_CREATED => copy(&state, &event).await,
        types::ORDER_EXPIRED => lapse(&state, &event).await,
        _ => end(&state, &event).await,
    }
}

/// `order.created`: the copy, once.
async fn copy(state: &PaymentState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let order: OrderCreatedData = event.payload()?;
    let copy = OrderCopy {
        pk: order_key(&order.id),
        id: order.id,
        user_id: order.user_id,
        status: status::CREATED.to_owned(),
        total: order.total,
        expires_at_unix: time_of(&order.expires_at)?,
        version: order.version,
        attempt_until: None,
        paid_by: None,
    };
    state.payments.insert_copy(&copy).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `order.cancelled` / `order.completed`: a later version replaces an earlier one. A cancellation
/// of an order this context already has paid (the buyer cancelled while the payment went through)
/// refunds that payment first: money is never kept for a cancelled order.
async fn end(state: &PaymentState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let order: OrderEndedData = event.payload()?;
    let id = order.id;
    let to = if event.kind == types::ORDER_CANCELLED {
        status::CANCELLED
    } else {
        status::COMPLETE
    };
    for _ in 0..3 {
        match state.payments.apply_end(&id, to, order.version).await? {
            Copied::Applied | Copied::Stale => return Ok(StatusCode::NO_CONTENT),
            Copied::NotCopied => {
                return Err(ApiError::Conflict(format!(
                    "{} before the order's creation",
                    event.kind
                )));
            }
            Copied::PaidButCancelled(stripe_id) => {
                state.stripe.refund(&stripe_id).await?;
                if state
                    .payments
                    .cancel_paid(&id, &stripe_id, order.version)
                    .await?
                {
                    tracing::warn!(order = %id, intent = %stripe_id,
                        "order cancelled while being paid: payment refunded");
                    return Ok(StatusCode::NO_CONTENT);
                }
            }
            Copied::Raced => {}
        }
    }
    Err(ApiError::Conflict(
        "Order copy modified concurrently".to_owned(),
    ))
}

/// `order.expired`: payments decides the race between "paid" and "expired" here, in one
/// conditional write on the copy; only if the order is unpaid does `payment.lapsed` tell orders to
/// cancel it. A payment attempt in flight is waited for (409: the bridge retries).
async fn lapse(state: &PaymentState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let data: OrderExpiredData = event.payload()?;
    let id = data.order_id.clone();
    let lapsed = CloudEvent::new(
        "copy-order",
        types::PAYMENT_LAPSED,
        &id,
        &OrderExpiredData {
            order_id: id.clone(),
            expires_at: data.expires_at.clone(),
        },
    )?;
    let record = state.outbox.record(&lapsed)?;
    match state
        .payments
        .lapse(&id, shared::time::unix_now(), record)
        .await?
    {
        Lapse::Lapsed => {
            state.outbox.publish(&[lapsed]).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Lapse::Paid | Lapse::Ended => Ok(StatusCode::NO_CONTENT),
        Lapse::AttemptInFlight => Err(ApiError::Conflict(
            "A payment attempt is in flight".to_owned(),
        )),
        Lapse::NotCopied => Err(ApiError::Conflict(
            "order.expired before the order's creation".to_owned(),
        )),
        // Early by more than the skew allowed: the sweep's clock runs ahead. Its timer has fired
        // and will not fire again, so this event is retried (409) until it is due, never dropped.
        Lapse::NotDue => Err(ApiError::Conflict(format!(
            "Order {id} does not expire until after {}",
            data.expires_at
        ))),
    }
}

fn time_of(text: &str) -> Result<i64, ApiError> {
    shared::time::parse_rfc3339(text)
        .map(|t| t.unix_timestamp())
        .ok_or_else(|| ApiError::rule("Event with an unreadable expiresAt"))
}
