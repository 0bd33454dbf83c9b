//! Resale of passes: `POST /api/passes/:id/resale {price}` (`resell-pass`) lists a valid pass
//! again, as a listing of quantity 1 with `resaleOf`; `track-passes` keeps this context's copy of
//! passes from the passes context's events and takes a resale listing off sale when its pass is
//! checked in (or revoked) first.
//!
//! Why here and not in the passes context: a resale is a listing, and listings, their table, their
//! events and their withdrawal are this context's; the route answers with the new listing, which
//! only this context can write in the same transaction as its guard. What it needs from passes
//! (holder, price paid, still valid) arrives as events, as the orders' holds do: no function calls
//! another. The copy can lag the truth by the delivery time; what that costs is bounded: a pass
//! checked in after it was listed takes its listing off sale when `pass.checked-in` arrives (or,
//! if a buyer holds it then, when that hold is released: see `track`), and an order of it that
//! completes after the check-in finds the old pass no longer valid in `issue-passes`' transaction,
//! which then issues nothing (see `docs/architecture.md`, "Resale").

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use contract::passes::{
    PassCheckedInData, PassId, PassIssuedData, PassRevokedData, PassStatus, RESALE_NOT_VALID,
    RESALE_PRICE_CAP, types as pass_types,
};
use contract::{Quantity, UserId};
use shared::error::{ApiError, ErrorEntry};
use shared::events::CloudEvent;
use shared::json::JsonBody;
use shared::outbox::{Outbox, StoreSettings};
use shared::session::SignedIn;
use shared::validation::{DataRules, existing_id};

use crate::listing::{TicketItem, TicketRequest, WITHDRAW_RESERVED, WITHDRAW_SOLD_OUT};
use crate::store::{Marked, PassCopy, PassUsed, Resale, Tickets, pass_key};
use crate::withdraw_ticket::withdraw;
use crate::{OUTBOX, Settings, TicketState};

/// How often a resale is decided again when the pass changed under it.
const ATTEMPTS: usize = 3;

pub fn router(state: TicketState) -> Router {
    Router::new()
        .route("/api/passes/{id}/resale", post(resell_pass))
        .with_state(state)
}

/// `resell-pass`.
pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?))
}

fn price_error(message: &str) -> ApiError {
    ApiError::Validation(vec![ErrorEntry::field("price", message)])
}

async fn resell_pass(
    State(state): State<TicketState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let price = contract::money::parse_price(body.get("price")).map_err(price_error)?;
    let pass_id = PassId::new(existing_id(&id)?);
    for _ in 0..ATTEMPTS {
        let pass = state
            .tickets
            .pass(&pass_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if pass.user_id.as_str() != user.id {
            return Err(ApiError::Forbidden);
        }
        if pass.status != PassStatus::Valid {
            return Err(ApiError::rule(RESALE_NOT_VALID));
        }
        // A pass announced without its price cannot be checked against it: refused, not guessed.
        if pass.price.is_none_or(|paid| price > paid) {
            return Err(price_error(RESALE_PRICE_CAP));
        }
        let original = state
            .tickets
            .get(pass.ticket_id.as_str())
            .await?
            .ok_or_else(|| ApiError::internal(format!("pass {pass_id} without its listing")))?;
        let terms = TicketRequest {
            title: original.title.clone(),
            price,
            quantity: Quantity(1),
            venue: original.venue.clone(),
            starts_at: original.starts_at.clone(),
            on_sale_at: None,
        };
        let created_at = shared::time::rfc3339(shared::time::now());
        let ticket = TicketItem {
            resale_of: Some(pass_id.clone()),
            ..TicketItem::new(
                uuid::Uuid::now_v7().to_string(),
                UserId::new(user.id.clone()),
                terms,
                created_at,
            )?
        };
        let event = CloudEvent::of(
            "resell-pass",
            shared::events::types::TICKET_CREATED,
            ticket.id.as_str(),
            &ticket.event_data(),
        )?;
        let record = state.outbox.record(&event)?;
        match state.tickets.list_resale(&ticket, &pass, record).await? {
            Resale::Listed => {
                tracing::info!(pass = %pass_id, ticket = %ticket.id, "pass listed for resale");
                state.outbox.publish(&[event]).await;
                return Ok((StatusCode::CREATED, axum::Json(ticket.body()?)).into_response());
            }
            // A retry (or a second tab): the listing that is live is the answer, once.
            Resale::AlreadyListed(existing) => {
                let live = state
                    .tickets
                    .get(existing.as_str())
                    .await?
                    .ok_or_else(|| ApiError::internal("a resale guard without its listing"))?;
                return Ok((StatusCode::OK, axum::Json(live.body()?)).into_response());
            }
            Resale::PassMoved => {}
        }
    }
    Err(ApiError::Conflict(
        "The pass changed while it was being listed, please retry".to_owned(),
    ))
}

/// `track-passes`: the copy of passes, and a resale listing taken off sale when its pass is used.
#[derive(Clone)]
pub struct TrackState {
    pub tickets: Tickets,
    pub outbox: Outbox,
}

pub fn track_router(state: TrackState) -> Router {
    Router::new().route("/", post(track)).with_state(state)
}

/// Announces withdrawals, so it needs the outbox; it reads no session.
pub async fn track_app(store: StoreSettings) -> Result<Router, async_nats::ConnectError> {
    let (client, outbox) = store.connect(&OUTBOX).await?;
    Ok(track_router(TrackState {
        tickets: Tickets::new(client, &store.prefix),
        outbox,
    }))
}

/// A used pass's resale listing goes off sale now, or, while a buyer holds it, carries a mark that
/// makes the release of its last hold withdraw it (`release-tickets`, [`crate::holds`]). A hold
/// lasts up to the order's expiry (15 minutes), longer than the bridge retries an event, so the
/// withdrawal waits in the table, not in a redelivery.
async fn track(State(state): State<TrackState>, event: CloudEvent) -> Result<StatusCode, ApiError> {
    event.expect_type(&[
        pass_types::PASS_ISSUED,
        pass_types::PASS_CHECKED_IN,
        pass_types::PASS_REVOKED,
    ])?;
    let (id, status) = match event.kind.as_str() {
        pass_types::PASS_ISSUED => {
            let pass: PassIssuedData = event.data_as()?;
            let mut rules = DataRules::new();
            rules
                .id("id", pass.id.as_str())
                .id("ticketId", pass.ticket_id.as_str())
                .id("userId", pass.user_id.as_str());
            rules.finish(&event.kind)?;
            let copy = PassCopy {
                pk: pass_key(&pass.id),
                entity: "pass".to_owned(),
                id: pass.id,
                user_id: pass.user_id,
                ticket_id: pass.ticket_id,
                price: pass.price,
                status: PassStatus::Valid,
            };
            state.tickets.copy_pass(&copy).await?;
            return Ok(StatusCode::NO_CONTENT);
        }
        pass_types::PASS_CHECKED_IN => {
            let pass: PassCheckedInData = event.data_as()?;
            (pass.id, PassStatus::CheckedIn)
        }
        _ => {
            let pass: PassRevokedData = event.data_as()?;
            (pass.id, PassStatus::Revoked)
        }
    };
    let mut rules = DataRules::new();
    rules.id("id", id.as_str());
    rules.finish(&event.kind)?;
    if state.tickets.mark_pass(&id, status).await? == Marked::Unknown {
        return Err(ApiError::Conflict(format!(
            "{} before the pass was issued",
            event.kind
        )));
    }
    let Some(guard) = state.tickets.resale_guard(&id).await? else {
        return Ok(StatusCode::NO_CONTENT);
    };
    for _ in 0..ATTEMPTS {
        let withdrawn = withdraw(
            &state.tickets,
            &state.outbox,
            "track-passes",
            guard.ticket_id.as_str(),
            |_| Ok(()),
        )
        .await;
        match withdrawn {
            Ok(_) => return Ok(StatusCode::NO_CONTENT),
            // Sold: the sale revoked the pass (this very event), or it completes against a pass
            // already used, which issue-passes refuses.
            Err(ApiError::Rule(message)) if message == WITHDRAW_SOLD_OUT => {
                return Ok(StatusCode::NO_CONTENT);
            }
            Err(ApiError::Rule(message)) if message == WITHDRAW_RESERVED => {}
            Err(err) => return Err(err),
        }
        // A buyer holds it right now: marked, it goes off sale when the hold is released; a hold
        // that sells leaves it sold out. Refused when the hold ended meanwhile: withdraw again.
        let at = shared::time::rfc3339(shared::time::now());
        if state.tickets.mark_pass_used(&guard.ticket_id, &at).await? == PassUsed::Marked {
            tracing::info!(
                pass = %id,
                ticket = %guard.ticket_id,
                "held resale listing of a used pass marked"
            );
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    Err(ApiError::Conflict(format!(
        "resale listing {} of pass {id} changed while it was taken off sale",
        guard.ticket_id
    )))
}
