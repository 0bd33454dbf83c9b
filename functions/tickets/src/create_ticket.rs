//! `POST /api/tickets`: lists tickets for sale.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::json::JsonBody;
use shared::session::SignedIn;

use crate::listing::{TicketBody, TicketItem, TicketRequest};
use crate::{Settings, TicketState};

pub fn router(state: TicketState) -> Router {
    Router::new()
        .route("/api/tickets", post(create_ticket))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?))
}

async fn create_ticket(
    State(state): State<TicketState>,
    SignedIn(user): SignedIn,
    body: JsonBody,
) -> Result<(StatusCode, axum::Json<TicketBody>), ApiError> {
    let request = TicketRequest::try_from(body)?;
    let id = uuid::Uuid::now_v7().to_string();
    let created_at = shared::time::rfc3339(shared::time::now());
    let ticket = TicketItem::new(id, user.id, request, created_at);
    let event = CloudEvent::new(
        "create-ticket",
        types::TICKET_CREATED,
        &ticket.id,
        &ticket.event_data(),
    )?;
    let items = vec![state.tickets.insert(&ticket)?, state.outbox.record(&event)?];
    if state.tickets.transact(items).await?.is_err() {
        return Err(ApiError::internal("a fresh ticket id already existed"));
    }
    state.outbox.publish(&[event]).await;
    Ok((StatusCode::CREATED, axum::Json(ticket.body())))
}
