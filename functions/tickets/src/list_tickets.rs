//! `GET /api/tickets`: listings that still have tickets available, oldest first, a page at a time.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use shared::dynamo;
use shared::error::ApiError;
use shared::paging::{self, Page};

use crate::listing::{TicketBody, TicketItem};
use crate::{Settings, TicketState};

pub fn router(state: TicketState) -> Router {
    Router::new()
        .route("/api/tickets", get(list_tickets))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?))
}

async fn list_tickets(State(state): State<TicketState>, page: Page) -> Result<Response, ApiError> {
    let listed = state.tickets.list_available(&page).await?;
    let tickets = listed
        .items
        .into_iter()
        .map(|item| dynamo::parse_item::<TicketItem>(item).map(|t| t.body()))
        .collect::<Result<Vec<TicketBody>, _>>()?;
    Ok(paging::response(
        "/api/tickets",
        &page,
        &tickets,
        listed.next,
    ))
}
