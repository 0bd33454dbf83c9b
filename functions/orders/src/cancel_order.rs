//! `DELETE /api/orders/:id`: the buyer gives the held tickets back.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::delete;
use shared::error::ApiError;
use shared::session::SignedIn;

use crate::order::{COMPLETED, status};
use crate::show_order::owned_order;
use crate::store::{self, Ending};
use crate::{OrderState, Settings};

pub fn router(state: OrderState) -> Router {
    Router::new()
        .route("/api/orders/{id}", delete(cancel_order))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(OrderState::connect(settings).await?))
}

async fn cancel_order(
    State(state): State<OrderState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let order = owned_order(&state, &user.id, &id).await?;
    let ended = store::end(&state, "cancel-order", order, Ending::Cancel).await?;
    if ended.status == status::COMPLETE {
        return Err(ApiError::rule(COMPLETED));
    }
    Ok(StatusCode::NO_CONTENT)
}
