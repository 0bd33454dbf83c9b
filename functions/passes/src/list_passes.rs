//! `GET /api/orders/:id/passes`: the passes of one of the caller's orders, by seat; `[]` until
//! the order is complete.
//!
//! The order is this context's copy of it, so an order placed a moment ago whose `order.created`
//! has not arrived here yet is a 404 for that moment; the storefront asks for passes only once
//! the order is complete, by which time the copy is long there.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use contract::OrderStatus;
use contract::passes::PassBody;
use shared::error::ApiError;
use shared::session::SignedIn;
use shared::validation::existing_id;

use crate::ListState;

/// The answer for an order that bought a resold pass its seller used first.
pub const RESALE_FAILED: &str = "The resold ticket was used before this order was paid: no pass was issued, and the payment is refunded";

pub fn router(state: ListState) -> Router {
    Router::new()
        .route("/api/orders/{id}/passes", get(list_passes))
        .with_state(state)
}

async fn list_passes(
    State(state): State<ListState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<PassBody>>, ApiError> {
    let id = existing_id(&id)?;
    let order = state.passes.order(&id).await?.ok_or(ApiError::NotFound)?;
    if order.user_id != user.id {
        return Err(ApiError::Forbidden);
    }
    if order.status == OrderStatus::Created {
        return Ok(axum::Json(Vec::new()));
    }
    if order.resale_failed.is_some() {
        return Err(ApiError::Conflict(RESALE_FAILED.to_owned()));
    }
    let passes = state.passes.passes_of(&order).await?;
    if passes.is_empty() {
        // Cancelled before it completed: it never had passes.
        return Ok(axum::Json(Vec::new()));
    }
    let listing = state
        .passes
        .listing(order.ticket_id.as_str())
        .await?
        .ok_or_else(|| ApiError::internal(format!("passes of {id} without their listing")))?;
    Ok(axum::Json(
        passes.iter().map(|pass| pass.body(&listing)).collect(),
    ))
}
