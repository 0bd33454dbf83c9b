//! `PUT /api/tickets/:id`: the owner changes a listing's terms while nothing of it is held.
//!
//! A drop's on-sale time may be set, moved or removed only before sales start; from then on a PUT
//! must send it unchanged (400 `Sales have started: the on-sale time can no longer change`). A
//! withdrawn listing and a resale listing are not edited: the first is off sale for good, the
//! second's terms are the pass's (quantity 1, price capped), so its seller withdraws it and lists
//! the pass again.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::put;
use shared::error::{ApiError, ErrorEntry};
use shared::events::{CloudEvent, types};
use shared::json::JsonBody;
use shared::session::SignedIn;
use shared::validation::existing_id;

use contract::Quantity;
use contract::api::TicketBody;

use crate::listing::{
    BELOW_SOLD, DROP_QUANTITY_LOCKED, MODIFIED_CONCURRENTLY, ON_SALE_FUTURE, RESALE_FIXED,
    RESERVED, TicketRequest, WITHDRAWN, sales_started,
};
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
    let request = TicketRequest::update(&body)?;
    let id = existing_id(&id)?;
    for _ in 0..ATTEMPTS {
        let current = state.tickets.get(&id).await?.ok_or(ApiError::NotFound)?;
        if current.user_id != user.id {
            return Err(ApiError::Forbidden);
        }
        if current.withdrawn_at.is_some() {
            return Err(ApiError::rule(WITHDRAWN));
        }
        if current.resale_of.is_some() {
            return Err(ApiError::rule(RESALE_FIXED));
        }
        if current.held > Quantity(0) {
            return Err(ApiError::rule(RESERVED));
        }
        if request.quantity < current.sold {
            return Err(ApiError::rule(BELOW_SOLD));
        }
        let now = shared::time::now();
        request.check_on_sale(current.on_sale_at.as_deref(), now)?;
        // Admissions hold a live drop's tickets in the orders context, where this context cannot
        // see them: lowering the quantity could take tickets promised to admitted buyers.
        let live_drop = current
            .on_sale_at
            .as_deref()
            .is_some_and(|at| sales_started(at, now));
        if live_drop && request.quantity < current.quantity {
            return Err(ApiError::rule(DROP_QUANTITY_LOCKED));
        }
        // Sales have started for a listing that sold a ticket: too late to make it a drop.
        if current.on_sale_at.is_none()
            && request.on_sale_at.is_some()
            && current.sold > Quantity(0)
        {
            return Err(ApiError::Validation(vec![ErrorEntry::field(
                "onSaleAt",
                ON_SALE_FUTURE,
            )]));
        }
        let revised = current.revised(&request)?;
        let event = CloudEvent::of(
            "update-ticket",
            types::TICKET_UPDATED,
            &id,
            &revised.event_data(),
        )?;
        let record = state.outbox.record(&event)?;
        // Moved means the listing changed since it was read: a hold arrived, or another update
        // won. Read it again and decide on what it is now.
        if state
            .tickets
            .revise(&current, &revised, now, record)
            .await?
            == Revised::Revised
        {
            state.outbox.publish(&[event]).await;
            return Ok(axum::Json(revised.body_at(now)?));
        }
    }
    Err(ApiError::Conflict(MODIFIED_CONCURRENTLY.to_owned()))
}
