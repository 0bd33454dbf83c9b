//! `DELETE /api/tickets/:id`: the seller takes a listing off sale while nothing of it is held.
//!
//! The listing stays (its page, its sold tickets, its passes), with its quantity cut to what was
//! sold and `available` 0; the answer is 200 with that ticket JSON. The cut is announced as
//! `ticket.updated`, so every replica learns it the way it learns any update: the orders replica's
//! `available` drops to what it holds beyond the sold ones, at most 0, and no new hold succeeds.
//! Withdrawing is one conditional write (the version read, nothing held, not withdrawn yet) and
//! happens once: withdrawing a withdrawn listing again answers 200 with it as it is and announces
//! nothing. An order placed before the cut reached the orders replica still completes; its hold
//! arrives here after the withdrawal and counts as usual.
//!
//! [`withdraw`] is also how a resale listing goes off sale when its pass is used at the door
//! ([`crate::resale`]).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::delete;
use contract::Quantity;
use contract::api::TicketBody;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::session::SignedIn;
use shared::validation::existing_id;

use crate::listing::{
    MODIFIED_CONCURRENTLY, TicketItem, WITHDRAW_LIVE_DROP, WITHDRAW_RESERVED, WITHDRAW_SOLD_OUT,
    sales_started,
};
use crate::store::{Tickets, Withdrawn};
use crate::{Settings, TicketState};
use shared::outbox::Outbox;

const FUNCTION: &str = "withdraw-ticket";

/// How often a withdrawal is tried again on a newer version before the client is told to retry.
const ATTEMPTS: usize = 3;

pub fn router(state: TicketState) -> Router {
    Router::new()
        .route("/api/tickets/{id}", delete(withdraw_ticket))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?))
}

async fn withdraw_ticket(
    State(state): State<TicketState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<axum::Json<TicketBody>, ApiError> {
    let id = existing_id(&id)?;
    let withdrawn = withdraw(&state.tickets, &state.outbox, FUNCTION, &id, |current| {
        if current.user_id != user.id {
            return Err(ApiError::Forbidden);
        }
        Ok(())
    })
    .await?;
    Ok(axum::Json(withdrawn.body()?))
}

/// Takes listing `id` off sale once `allowed` agrees, announcing it as `function`: the listing
/// as it is afterwards (or as it already was, withdrawn before).
pub async fn withdraw(
    tickets: &Tickets,
    outbox: &Outbox,
    function: &str,
    id: &str,
    allowed: impl Fn(&TicketItem) -> Result<(), ApiError>,
) -> Result<TicketItem, ApiError> {
    for _ in 0..ATTEMPTS {
        let current = tickets.get(id).await?.ok_or(ApiError::NotFound)?;
        allowed(&current)?;
        if current.withdrawn_at.is_some() {
            return Ok(current);
        }
        if current.held > Quantity(0) {
            return Err(ApiError::rule(WITHDRAW_RESERVED));
        }
        if current.sold >= current.quantity {
            return Err(ApiError::rule(WITHDRAW_SOLD_OUT));
        }
        let live_drop = current
            .on_sale_at
            .as_deref()
            .is_some_and(|at| sales_started(at, shared::time::now()));
        if live_drop {
            return Err(ApiError::rule(WITHDRAW_LIVE_DROP));
        }
        let withdrawn = current.withdrawn();
        let event = CloudEvent::of(function, types::TICKET_UPDATED, id, &withdrawn.event_data())?;
        let record = outbox.record(&event)?;
        if tickets.withdraw(&current, &withdrawn, record).await? == Withdrawn::Withdrawn {
            tracing::info!(ticket = %id, sold = current.sold.get(), "listing withdrawn");
            outbox.publish(&[event]).await;
            return Ok(withdrawn);
        }
    }
    Err(ApiError::Conflict(MODIFIED_CONCURRENTLY.to_owned()))
}
