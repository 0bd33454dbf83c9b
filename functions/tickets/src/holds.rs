//! What orders tell a listing: an order holds some of its tickets (`order.created`), lets them go
//! (`order.cancelled`), or buys them (`order.completed`). Three functions, one per event:
//! `hold-tickets`, `release-tickets`, `sell-tickets`.
//!
//! Each order has a hold item whose state moves none → held → released | sold, in the same
//! transaction as the listing's counts. A condition on that state makes each event count once: a
//! duplicate finds the state already moved (2xx, nothing changes), an event ahead of its
//! predecessor finds no hold yet (409, so the bridge retries it later).
//!
//! A resale listing whose pass was used at the door while a buyer held it carries a mark
//! (`track-passes`, [`crate::resale`]); the release of its last hold withdraws it in the same
//! transaction, and announces that as `ticket.updated`, so `release-tickets` has an outbox.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use contract::events::{OrderCreatedData, OrderEndedData};
use contract::{HoldState, OrderId, Quantity, TicketId};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};

use shared::dynamo::TablePrefix;
use shared::outbox::{Outbox, StoreSettings};

use crate::OUTBOX;
use crate::listing::{MODIFIED_CONCURRENTLY, TicketItem};
use crate::store::{Released, Stepped, Tickets, Transition};

/// How often a release is decided again on a listing that changed under it.
const ATTEMPTS: usize = 3;

/// What an order event tells a listing, from the catalogue payload of the step's event with every
/// rule of the contract checked: an event that breaks one is a 400 before anything is written.
#[derive(Debug)]
pub struct OrderEventData {
    pub id: OrderId,
    pub quantity: Quantity,
    pub ticket_id: TicketId,
}

impl OrderEventData {
    pub fn of(event: &CloudEvent, step: Step) -> Result<Self, ApiError> {
        event.expect_type(&[step.event])?;
        if step.event == types::ORDER_CREATED {
            let order: OrderCreatedData = event.payload()?;
            Ok(Self {
                id: order.id,
                quantity: order.quantity,
                ticket_id: order.ticket.id,
            })
        } else {
            let order: OrderEndedData = event.payload()?;
            Ok(Self {
                id: order.id,
                quantity: order.quantity,
                ticket_id: order.ticket.id,
            })
        }
    }
}

/// One step of a hold's life: the event that makes it, and what it does to the hold and the
/// listing's counts.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub event: &'static str,
    pub transition: Transition,
}

pub const HOLD: Step = Step {
    event: types::ORDER_CREATED,
    transition: Transition {
        from: None,
        to: HoldState::Held,
        held: 1,
        sold: 0,
    },
};
pub const RELEASE: Step = Step {
    event: types::ORDER_CANCELLED,
    transition: Transition {
        from: Some(HoldState::Held),
        to: HoldState::Released,
        held: -1,
        sold: 0,
    },
};
pub const SELL: Step = Step {
    event: types::ORDER_COMPLETED,
    transition: Transition {
        from: Some(HoldState::Held),
        to: HoldState::Sold,
        held: -1,
        sold: 1,
    },
};

/// `hold-tickets` and `sell-tickets` ([`release_router`] for `release-tickets`).
pub fn router(tickets: Tickets, step: Step) -> Router {
    Router::new()
        .route(
            "/",
            post(move |tickets: State<Tickets>, event: CloudEvent| apply(tickets, event, step)),
        )
        .with_state(tickets)
}

/// The handlers announce nothing and need no session: the table is all they read.
async fn app(prefix: TablePrefix, step: Step) -> Router {
    router(Tickets::connect(&prefix).await, step)
}

pub async fn hold_app(prefix: TablePrefix) -> Router {
    app(prefix, HOLD).await
}

#[derive(Clone)]
pub struct ReleaseState {
    pub tickets: Tickets,
    pub outbox: Outbox,
}

/// `release-tickets`.
pub fn release_router(state: ReleaseState) -> Router {
    Router::new().route("/", post(release)).with_state(state)
}

/// Announces the withdrawals it makes, so it needs the outbox; it reads no session.
pub async fn release_app(store: StoreSettings) -> Result<Router, async_nats::ConnectError> {
    let (client, outbox) = store.connect(&OUTBOX).await?;
    Ok(release_router(ReleaseState {
        tickets: Tickets::new(client, &store.prefix),
        outbox,
    }))
}

pub async fn sell_app(prefix: TablePrefix) -> Router {
    app(prefix, SELL).await
}

async fn apply(
    State(tickets): State<Tickets>,
    event: CloudEvent,
    step: Step,
) -> Result<StatusCode, ApiError> {
    let order = OrderEventData::of(&event, step)?;
    let stepped = tickets
        .step(step.transition, &order.id, &order.ticket_id, order.quantity)
        .await?;
    answer(stepped, &order, step)
}

/// `order.cancelled`: the hold released, and the listing withdrawn with it when its pass was used
/// while held and this was its last hold.
async fn release(
    State(state): State<ReleaseState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    let order = OrderEventData::of(&event, RELEASE)?;
    // Hardly any listing carries the mark: the release is tried before reading the listing, and
    // refused where it is the last hold of a marked one.
    let mut marked: Option<TicketItem> = None;
    for _ in 0..ATTEMPTS {
        let released = match &marked {
            Some(current) => release_withdrawing(&state, &order, current).await?,
            None => {
                state
                    .tickets
                    .release(&order.id, &order.ticket_id, order.quantity, None)
                    .await?
            }
        };
        match released {
            Released::Released | Released::Withdrawn => return Ok(StatusCode::NO_CONTENT),
            Released::HoldMoved => return classify(&state.tickets, &order).await,
            Released::ListingMoved => {}
        }
        let Some((current, pass_used)) = state.tickets.listing_and_mark(&order.ticket_id).await?
        else {
            return classify(&state.tickets, &order).await;
        };
        let last_hold =
            pass_used && current.withdrawn_at.is_none() && current.held == order.quantity;
        marked = last_hold.then_some(current);
    }
    Err(ApiError::Conflict(MODIFIED_CONCURRENTLY.to_owned()))
}

/// The last hold of listing `current`, whose pass was used, released and the listing withdrawn in
/// one transaction, announced as `ticket.updated` like any withdrawal.
async fn release_withdrawing(
    state: &ReleaseState,
    order: &OrderEventData,
    current: &TicketItem,
) -> Result<Released, ApiError> {
    let withdrawn = TicketItem {
        held: Quantity(0),
        ..current.withdrawn()
    };
    let announced = CloudEvent::of(
        "release-tickets",
        types::TICKET_UPDATED,
        current.id.as_str(),
        &withdrawn.event_data(),
    )?;
    let record = state.outbox.record(&announced)?;
    let released = state
        .tickets
        .release(
            &order.id,
            &order.ticket_id,
            order.quantity,
            Some((current, &withdrawn, record)),
        )
        .await?;
    if released == Released::Withdrawn {
        tracing::info!(
            ticket = %current.id,
            order = %order.id,
            "hold released, listing of a used pass withdrawn"
        );
        state.outbox.publish(&[announced]).await;
    }
    Ok(released)
}

/// A release that found no hold to release, or no listing: the plain step tells which (a
/// duplicate, early, contradicted, or unknown listing) and writes nothing, as the hold's
/// condition or the listing's fails again.
async fn classify(tickets: &Tickets, order: &OrderEventData) -> Result<StatusCode, ApiError> {
    let stepped = tickets
        .step(
            RELEASE.transition,
            &order.id,
            &order.ticket_id,
            order.quantity,
        )
        .await?;
    answer(stepped, order, RELEASE)
}

fn answer(stepped: Stepped, order: &OrderEventData, step: Step) -> Result<StatusCode, ApiError> {
    match stepped {
        Stepped::Applied | Stepped::AlreadyApplied => Ok(StatusCode::NO_CONTENT),
        Stepped::NoListing => Err(ApiError::rule(format!(
            "No listing {} for order {}",
            order.ticket_id, order.id
        ))),
        // The hold this event ends was never counted: the order's creation is still on its way.
        Stepped::Early => Err(ApiError::Conflict(format!(
            "{} arrived before the order's creation",
            step.event
        ))),
        Stepped::Contradicts(other) => Err(ApiError::rule(format!(
            "{} for a hold that is {}",
            step.event,
            other.as_str()
        ))),
    }
}
