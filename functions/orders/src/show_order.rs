//! `GET /api/orders/:id`: one of the caller's orders.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use contract::api::OrderBody;
use shared::dynamo::TablePrefix;
use shared::error::ApiError;
use shared::session::{Sessions, SignedIn};
use shared::validation::existing_id;

use crate::Buyers;
use crate::order::OrderItem;
use crate::store::Orders;

pub fn router(state: Buyers<Orders>) -> Router {
    Router::new()
        .route("/api/orders/{id}", get(show_order))
        .with_state(state)
}

/// Reads only: sessions and the table.
pub async fn app((sessions, prefix): (Sessions, TablePrefix)) -> Router {
    router(Buyers {
        store: Orders::connect(&prefix).await,
        sessions,
    })
}

/// The order, if it exists (404) and is the caller's (403).
pub async fn owned_order(
    orders: &Orders,
    user_id: &str,
    raw_id: &str,
) -> Result<OrderItem, ApiError> {
    let id = existing_id(raw_id)?;
    let order = orders.order(&id).await?.ok_or(ApiError::NotFound)?;
    if order.user_id != user_id {
        return Err(ApiError::Forbidden);
    }
    Ok(order)
}

async fn show_order(
    State(state): State<Buyers<Orders>>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<axum::Json<OrderBody>, ApiError> {
    Ok(axum::Json(
        owned_order(&state.store, &user.id, &id).await?.body(),
    ))
}
