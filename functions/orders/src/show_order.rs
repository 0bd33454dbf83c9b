//! `GET /api/orders/:id`: one of the caller's orders.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use shared::error::ApiError;
use shared::session::SignedIn;
use shared::validation::existing_id;

use crate::order::{OrderBody, OrderItem};
use crate::{OrderState, Settings};

pub fn router(state: OrderState) -> Router {
    Router::new()
        .route("/api/orders/{id}", get(show_order))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(OrderState::connect(settings).await?))
}

/// The order, if it exists (404) and is the caller's (403).
pub async fn owned_order(
    state: &OrderState,
    user_id: &str,
    raw_id: &str,
) -> Result<OrderItem, ApiError> {
    let id = existing_id(raw_id)?;
    let order = state.orders.order(&id).await?.ok_or(ApiError::NotFound)?;
    if order.user_id != user_id {
        return Err(ApiError::Forbidden);
    }
    Ok(order)
}

async fn show_order(
    State(state): State<OrderState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<axum::Json<OrderBody>, ApiError> {
    Ok(axum::Json(owned_order(&state, &user.id, &id).await?.body()))
}
