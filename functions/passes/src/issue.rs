//! `issue-passes`: keeps this context's copies of listings (`ticket.created`, `ticket.updated`)
//! and orders (`order.created`), issues an order's passes on `order.completed` and revokes them on
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
use contract::passes::{PassId, PassIssuedData, PassRevokedData, PassStatus, types as pass_types};
use shared::error::ApiError;
use shared::events::CloudEvent;

use crate::IssueState;
use crate::store::{self, Issued, ListingCopy, OrderCopy, PassItem, Revoked};

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
        // The listing events do not carry the event's details yet (issue 15, part 1); passes show
        // them as null until they do.
        venue: None,
        starts_at: None,
        version: ticket.version,
    };
    state.passes.copy_listing(&copy).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `order.created`: the copy, once.
async fn copy_order(state: &IssueState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let order: OrderCreatedData = event.payload()?;
    let copy = OrderCopy::new(order.id, order.user_id, order.ticket.id, order.quantity);
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
                organiser_id: listing.user_id.clone(),
                seat,
                of,
                code: state.signer.code(&id),
                status: PassStatus::Valid,
                checked_in_at: None,
                issued_at: issued_at.clone(),
            }
        })
        .collect();
    let events = passes
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
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let records = records(state, &events)?;
    match state.passes.issue(&order, &passes, records).await? {
        Issued::Issued => {
            tracing::info!(order = %order.id, passes = of, "passes issued");
            state.outbox.publish(&events).await;
        }
        Issued::AlreadyDecided => {}
    }
    Ok(StatusCode::NO_CONTENT)
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
            .map(|pass| {
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
            })
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

fn records(
    state: &IssueState,
    events: &[CloudEvent],
) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, ApiError> {
    events.iter().map(|e| state.outbox.record(e)).collect()
}
