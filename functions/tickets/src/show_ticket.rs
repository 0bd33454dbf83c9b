//! `GET /api/tickets/:id`: one listing, sold out or not.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use shared::error::ApiError;
use shared::validation::existing_id;

use crate::listing::TicketBody;
use crate::{Settings, TicketState};

pub fn router(state: TicketState) -> Router {
    Router::new()
        .route("/api/tickets/{id}", get(show_ticket))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?))
}

async fn show_ticket(
    State(state): State<TicketState>,
    Path(id): Path<String>,
) -> Result<axum::Json<TicketBody>, ApiError> {
    let id = existing_id(&id)?;
    let ticket = state.tickets.get(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(ticket.body()))
}
