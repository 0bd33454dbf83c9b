//! Money owed back. Every decision to refund is written first, in the same transaction as what
//! decided it (the payment record and a record in the refunds table: [`crate::store::Payments`]);
//! Stripe is then asked at once, and `relay-payments` asks again for every refund still owed each
//! time it runs, until Stripe has made it. So no outage of Stripe, of this function or of the
//! event bus can leave money kept for an order that did not get its tickets. The idempotency key
//! `refund-<PaymentIntent>` makes a repeated ask return the first refund.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Serialize;
use shared::error::ApiError;

use crate::PaymentState;

/// How old a refund owed must be before the relay takes it: younger ones are most likely being
/// refunded right now by the function that decided them.
const RELAY_GRACE_SECONDS: i64 = 10;
/// Refunds per relay run: each is one Stripe call, and the run must end within its deadline.
const RELAY_BATCH: usize = 25;

/// Asks Stripe for the refund of `stripe_id`, and records that it is owed no more.
pub async fn pay_back(state: &PaymentState, stripe_id: &str) -> Result<(), ApiError> {
    state.stripe.refund(stripe_id).await?;
    state.payments.refunded(stripe_id).await
}

/// Tries the refund now. A failure is only logged: the refund is owed durably, and the relay
/// tries again.
pub async fn try_now(state: &PaymentState, order_id: &str, stripe_id: &str) {
    match pay_back(state, stripe_id).await {
        Ok(()) => tracing::warn!(
            order = order_id,
            intent = stripe_id,
            "payment refunded: the order could not take it"
        ),
        Err(err) => tracing::warn!(order = order_id, intent = stripe_id, error = %err,
            "refund owed, not made yet; relay-payments retries it"),
    }
}

/// How long one relay run spends on refunds: each Stripe call may take 8 s, and the whole request
/// must answer inside its deadline (`REQUEST_TIMEOUT_SECONDS`, 10 s by default). A refund cut off
/// stays owed; Stripe's idempotency key makes the next run's retry refund once.
const REFUNDS_BUDGET: Duration = Duration::from_secs(5);

/// Makes the refunds owed for `grace_seconds` or longer; how many it made. Stops at the first
/// failure (Stripe is most likely down) or when its time is up; the next run starts again.
pub async fn relay(state: &PaymentState, grace_seconds: i64) -> Result<usize, ApiError> {
    let started = Instant::now();
    let before = shared::time::unix_now() - grace_seconds;
    let owed = state.payments.refunds_due(before, RELAY_BATCH).await?;
    let mut made = 0;
    for refund in &owed {
        let Some(left) = REFUNDS_BUDGET.checked_sub(started.elapsed()) else {
            break;
        };
        let outcome = match tokio::time::timeout(left, pay_back(state, &refund.sk)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ApiError::unavailable("the run's time for refunds is up")),
        };
        if let Err(err) = outcome {
            tracing::warn!(order = %refund.order_id, intent = %refund.sk, error = %err,
                owed = owed.len() - made, "refund still owed; retried at the next run");
            break;
        }
        made += 1;
    }
    if made > 0 {
        tracing::info!(made, "relay made refunds owed");
    }
    Ok(made)
}

#[derive(Serialize)]
struct Relayed {
    relayed: usize,
    refunded: usize,
}

/// `relay-payments`: any POST (the periodic ping) publishes the outbox's stragglers and makes the
/// refunds still owed.
pub fn relay_router(state: PaymentState) -> Router {
    Router::new().route("/", post(relay_both)).with_state(state)
}

async fn relay_both(State(state): State<PaymentState>) -> Result<axum::Json<Relayed>, ApiError> {
    let relayed = state.outbox.relay(shared::outbox::RELAY_GRACE).await?;
    let refunded = relay(&state, RELAY_GRACE_SECONDS).await?;
    Ok(axum::Json(Relayed { relayed, refunded }))
}
