//! `GET /api/tickets`: listings that still have tickets available, oldest first, a page at a time.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use contract::api::TicketBody;
use shared::dynamo::{self, TablePrefix};
use shared::error::ApiError;
use shared::paging::{self, Page};

use crate::listing::TicketItem;
use crate::store::Tickets;

pub fn router(tickets: Tickets) -> Router {
    Router::new()
        .route("/api/tickets", get(list_tickets))
        .with_state(tickets)
}

/// Public and read-only: the table is all it needs.
pub async fn app(prefix: TablePrefix) -> Router {
    router(Tickets::connect(&prefix).await)
}

async fn list_tickets(State(tickets): State<Tickets>, page: Page) -> Result<Response, ApiError> {
    let listed = tickets.list_available(&page).await?;
    let tickets = listed
        .items
        .into_iter()
        .map(|item| dynamo::parse_item::<TicketItem>(item).and_then(|t| t.body()))
        .collect::<Result<Vec<TicketBody>, _>>()?;
    Ok(paging::response(
        "/api/tickets",
        &page,
        &tickets,
        listed.next,
    ))
}
