//! `expire`: announces `order.expired` for every timer that is due. Triggered periodically (a
//! PingSource in a cluster, the bridge's timer locally); the order's own `expiresAt` is what payments
//! checks, so correctness never waits for this sweep.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use contract::events::OrderExpiredData;
use serde::Serialize;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};

use crate::ExpirationState;
use crate::store::Fired;

/// Timers handled per sweep, so that one request stays short after a long outage; the next sweep
/// takes the rest.
const MAX_PER_SWEEP: usize = 500;
/// How long one sweep keeps firing: well inside the request deadline (`REQUEST_TIMEOUT_SECONDS`,
/// 10 s by default), so that a sweep after a long outage answers how many it fired instead of
/// being cut off; the next sweep takes the rest.
const SWEEP_SECONDS: std::time::Duration = std::time::Duration::from_secs(5);

/// What a sweep answers.
#[derive(Debug, Serialize)]
pub struct SweepBody {
    /// How many timers this sweep fired.
    pub expired: usize,
}

pub fn router(state: ExpirationState) -> Router {
    Router::new().route("/", post(expire)).with_state(state)
}

async fn expire(State(state): State<ExpirationState>) -> Result<axum::Json<SweepBody>, ApiError> {
    let expired = sweep(&state, shared::time::unix_now()).await?;
    Ok(axum::Json(SweepBody { expired }))
}

/// Fires every timer due at `now`; returns how many this call fired.
pub async fn sweep(state: &ExpirationState, now: i64) -> Result<usize, ApiError> {
    let mut fired = 0;
    let started = std::time::Instant::now();
    for timer in state.timers.due(now, MAX_PER_SWEEP).await? {
        if started.elapsed() > SWEEP_SECONDS {
            break;
        }
        let event = CloudEvent::of(
            "expire",
            types::ORDER_EXPIRED,
            timer.order_id.as_str(),
            &OrderExpiredData {
                order_id: timer.order_id.clone(),
                expires_at: timer.expires_at.clone(),
            },
        )?;
        let record = state.outbox.record(&event)?;
        if state.timers.fire(&timer, record).await? == Fired::Fired {
            state.outbox.publish(&[event]).await;
            fired += 1;
        }
    }
    Ok(fired)
}
