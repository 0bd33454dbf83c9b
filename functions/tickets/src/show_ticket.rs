//! `GET /api/tickets/:id`: one listing, sold out or not.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use contract::api::TicketBody;
use shared::error::ApiError;
use shared::validation::existing_id;

use shared::dynamo::TablePrefix;

use crate::store::Tickets;

pub fn router(tickets: Tickets) -> Router {
    Router::new()
        .route("/api/tickets/{id}", get(show_ticket))
        .with_state(tickets)
}

/// Public and read-only: the table is all it needs.
pub async fn app(prefix: TablePrefix) -> Router {
    router(Tickets::connect(&prefix).await)
}

async fn show_ticket(
    State(tickets): State<Tickets>,
    Path(id): Path<String>,
) -> Result<axum::Json<TicketBody>, ApiError> {
    let id = existing_id(&id)?;
    let ticket = tickets.get(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(ticket.body()?))
}
