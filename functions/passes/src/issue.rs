//! `issue-passes`: keeps this context's copies of listings (`ticket.created`, `ticket.updated`)
//! and orders (`order.created`), issues an order's passes on `order.completed` (or, for a resale
//! whose pass was used first, voids it: `pass.resale-voided`) and revokes them on
//! `order.cancelled`.
//!
//! Every handler is idempotent: the order copy's status moves created → complete | cancelled once,
//! and that move is the condition of the transaction that writes the passes (or revokes them) and
//! their events, so a second delivery writes nothing. Pass ids and codes are deterministic
//! ([`store::pass_id`](crate::store::pass_id), Ed25519 signatures), so even a retried transaction
//! writes the same passes. An end that comes before the order's creation, or an order whose
//! listing has not been copied yet, is a 409: the bridge retries it.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use contract::OrderStatus;
use contract::events::{OrderCreatedData, OrderEndedData, TicketData, types};
use contract::passes::{
    PassId, PassIssuedData, PassResaleVoidedData, PassRevokedData, PassStatus, types as pass_types,
};
use shared::error::ApiError;
use shared::events::CloudEvent;

use crate::IssueState;
use crate::store::{self, Issued, ListingCopy, OrderCopy, PassItem, Revoked, Voided};

const FUNCTION: &str = "issue-passes";

/// How often a revocation is decided again when a pass or the order changed under it.
const ATTEMPTS: usize = 3;

pub fn router(state: IssueState) -> Router {
    Router::new().route("/", post(handle)).with_state(state)
}

async fn handle(
    State(state): State<IssueState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[
        types::TICKET_CREATED,
        types::TICKET_UPDATED,
        types::ORDER_CREATED,
        types::ORDER_COMPLETED,
        types::ORDER_CANCELLED,
    ])?;
    match event.kind.as_str() {
        types::TICKET_CREATED | types::TICKET_UPDATED => copy_listing(&state, &event).await,
        types::ORDER_CREATED => copy_order(&state, &event).await,
        types::ORDER_COMPLETED => issue(&state, &event).await,
        _ => revoke(&state, &event).await,
    }
}

/// `ticket.created` / `ticket.updated`: the listing at its version (a later one wins).
async fn copy_listing(state: &IssueState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let ticket: TicketData = event.payload()?;
    let copy = ListingCopy {
        pk: store::listing_key(ticket.id.as_str()),
        entity: "ticket".to_owned(),
        id: ticket.id,
        user_id: ticket.user_id,
        title: ticket.title,
        venue: ticket.venue,
        starts_at: ticket.starts_at,
        resale_of: ticket.resale_of,
        version: ticket.version,
    };
    state.passes.copy_listing(&copy).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `order.created`: the copy, once.
async fn copy_order(state: &IssueState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let order: OrderCreatedData = event.payload()?;
    let copy = OrderCopy::new(
        order.id,
        order.user_id,
        order.ticket.id,
        order.quantity,
        order.ticket.price,
    );
    state.passes.copy_order(&copy).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `order.completed`: one pass per ticket, seats 1 to the order's quantity.
async fn issue(state: &IssueState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let data: OrderEndedData = event.payload()?;
    let Some(order) = state.passes.order(data.id.as_str()).await? else {
        return Err(ApiError::Conflict(format!(
            "{} before the order's creation",
            event.kind
        )));
    };
    if order.status != OrderStatus::Created {
        return Ok(StatusCode::NO_CONTENT);
    }
    let Some(listing) = state.passes.listing(order.ticket_id.as_str()).await? else {
        return Err(ApiError::Conflict(format!(
            "order {} completed before its listing {} was copied",
            order.id, order.ticket_id
        )));
    };
    // A resale listing's buyer gets a new pass in place of the one resold; its organiser stays
    // the one of the first listing.
    let resold = match &listing.resale_of {
        None => None,
        Some(old) => Some(state.passes.pass(old.as_str()).await?.ok_or_else(|| {
            ApiError::internal(format!(
                "listing {} resells an unknown pass {old}",
                listing.id
            ))
        })?),
    };
    let organiser = resold
        .as_ref()
        .map_or(&listing.user_id, |old| &old.organiser_id);
    let issued_at = shared::time::rfc3339(shared::time::now());
    let of = order.quantity.get();
    let passes: Vec<PassItem> = (1..=of)
        .map(|seat| {
            let id = store::pass_id(&order.id, seat);
            let pass_id = PassId::new(id.hyphenated().to_string());
            PassItem {
                pk: store::pass_key(pass_id.as_str()),
                entity: "pass".to_owned(),
                id: pass_id,
                order_id: order.id.clone(),
                ticket_id: order.ticket_id.clone(),
                user_id: order.user_id.clone(),
                organiser_id: organiser.clone(),
                seat,
                of,
                code: state.signer.code(&id),
                status: PassStatus::Valid,
                checked_in_at: None,
                issued_at: issued_at.clone(),
            }
        })
        .collect();
    let mut events = passes
        .iter()
        .map(|pass| {
            CloudEvent::of(
                FUNCTION,
                pass_types::PASS_ISSUED,
                pass.id.as_str(),
                &PassIssuedData {
                    id: pass.id.clone(),
                    order_id: pass.order_id.clone(),
                    ticket_id: pass.ticket_id.clone(),
                    user_id: pass.user_id.clone(),
                    seat: pass.seat,
                    of: pass.of,
                    price: order.price,
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(old) = &resold {
        events.push(revoked_event(old)?);
    }
    let records = records(state, &events)?;
    let resold_id = resold.as_ref().map(|old| &old.id);
    match state
        .passes
        .issue(&order, &passes, resold_id, records)
        .await?
    {
        Issued::Issued => {
            tracing::info!(order = %order.id, passes = of, resold = ?resold_id, "passes issued");
            state.outbox.publish(&events).await;
        }
        Issued::AlreadyDecided => {}
        Issued::ResoldPassGone => {
            let old = resold
                .as_ref()
                .ok_or_else(|| ApiError::internal("a resold pass gone without a resold pass"))?;
            void_resale(state, &order, old).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The old holder used (or lost) the pass before this buyer's payment completed: no pass to hand
/// over. The order copy completes with nothing issued (its passes page says why), and
/// `pass.resale-voided` in the same transaction makes payments refund the order: money is never
/// kept for a ticket not delivered.
async fn void_resale(
    state: &IssueState,
    order: &OrderCopy,
    resold: &PassItem,
) -> Result<(), ApiError> {
    let why = state
        .passes
        .pass(resold.id.as_str())
        .await?
        .map_or(PassStatus::Revoked, |pass| pass.status);
    let voided = CloudEvent::of(
        FUNCTION,
        pass_types::PASS_RESALE_VOIDED,
        order.id.as_str(),
        &PassResaleVoidedData {
            order_id: order.id.clone(),
            ticket_id: order.ticket_id.clone(),
            pass_id: resold.id.clone(),
        },
    )?;
    let record = state.outbox.record(&voided)?;
    match state.passes.void_resale(order, why, record).await? {
        Voided::Voided => {
            tracing::warn!(
                order = %order.id,
                pass = %resold.id,
                status = why.as_str(),
                "a resold pass was no longer valid when its sale completed: no pass issued, payment to be refunded"
            );
            state.outbox.publish(&[voided]).await;
        }
        Voided::AlreadyDecided => {}
    }
    Ok(())
}

/// `order.cancelled`: the copy is cancelled and every pass still valid is revoked. A pass already
/// checked in stays checked in: its holder is inside, and the check-in was announced.
async fn revoke(state: &IssueState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let data: OrderEndedData = event.payload()?;
    for _ in 0..ATTEMPTS {
        let Some(order) = state.passes.order(data.id.as_str()).await? else {
            return Err(ApiError::Conflict(format!(
                "{} before the order's creation",
                event.kind
            )));
        };
        if order.status == OrderStatus::Cancelled {
            return Ok(StatusCode::NO_CONTENT);
        }
        let valid: Vec<PassItem> = if order.status == OrderStatus::Complete {
            state
                .passes
                .passes_of(&order)
                .await?
                .into_iter()
                .filter(|pass| pass.status == PassStatus::Valid)
                .collect()
        } else {
            Vec::new()
        };
        let events = valid
            .iter()
            .map(revoked_event)
            .collect::<Result<Vec<_>, _>>()?;
        let records = records(state, &events)?;
        match state.passes.revoke(&order, &valid, records).await? {
            Revoked::Revoked => {
                if !valid.is_empty() {
                    tracing::info!(order = %order.id, passes = valid.len(), "passes revoked");
                }
                state.outbox.publish(&events).await;
                return Ok(StatusCode::NO_CONTENT);
            }
            Revoked::Moved => {}
        }
    }
    Err(ApiError::Conflict(format!(
        "order {} or its passes kept changing",
        data.id
    )))
}

fn revoked_event(pass: &PassItem) -> Result<CloudEvent, ApiError> {
    CloudEvent::of(
        FUNCTION,
        pass_types::PASS_REVOKED,
        pass.id.as_str(),
        &PassRevokedData {
            id: pass.id.clone(),
            order_id: pass.order_id.clone(),
            ticket_id: pass.ticket_id.clone(),
        },
    )
}

fn records(
    state: &IssueState,
    events: &[CloudEvent],
) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, ApiError> {
    events.iter().map(|e| state.outbox.record(e)).collect()
}
