//! `PUT /api/tickets/:id`: the owner changes a listing's terms while nothing of it is held.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::put;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::json::JsonBody;
use shared::session::SignedIn;
use shared::validation::existing_id;

use contract::Quantity;
use contract::api::TicketBody;

use crate::listing::{BELOW_SOLD, MODIFIED_CONCURRENTLY, RESERVED, TicketItem, TicketRequest};
use crate::store::Revised;
use crate::{Settings, TicketState};

/// How often an update is tried again on a newer version before the client is told to retry.
const ATTEMPTS: usize = 3;

pub fn router(state: TicketState) -> Router {
    Router::new()
        .route("/api/tickets/{id}", put(update_ticket))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?))
}

async fn update_ticket(
    State(state): State<TicketState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<axum::Json<TicketBody>, ApiError> {
    let request = TicketRequest::try_from(body)?;
    let id = existing_id(&id)?;
    for _ in 0..ATTEMPTS {
        let current = state.tickets.get(&id).await?.ok_or(ApiError::NotFound)?;
        if current.user_id != user.id {
            return Err(ApiError::Forbidden);
        }
        if current.held > Quantity(0) {
            return Err(ApiError::rule(RESERVED));
        }
        if request.quantity < current.sold {
            return Err(ApiError::rule(BELOW_SOLD));
        }
        let revised = TicketItem {
            title: request.title.clone(),
            price: request.price,
            quantity: request.quantity,
            available: Quantity(request.quantity.get() - current.sold.get()),
            version: current.version + 1,
            ..current.clone()
        };
        let event = CloudEvent::of(
            "update-ticket",
            types::TICKET_UPDATED,
            &id,
            &revised.event_data(),
        )?;
        let record = state.outbox.record(&event)?;
        // Moved means the listing changed since it was read: a hold arrived, or another update
        // won. Read it again and decide on what it is now.
        if state.tickets.revise(&current, &request, record).await? == Revised::Revised {
            state.outbox.publish(&[event]).await;
            return Ok(axum::Json(revised.body()));
        }
    }
    Err(ApiError::Conflict(MODIFIED_CONCURRENTLY.to_owned()))
}
