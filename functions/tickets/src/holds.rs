//! What orders tell a listing: an order holds some of its tickets (`order.created`), lets them go
//! (`order.cancelled`), or buys them (`order.completed`). Three functions, one per event:
//! `hold-tickets`, `release-tickets`, `sell-tickets`.
//!
//! Each order has a hold item whose state moves none → held → released | sold, in the same
//! transaction as the listing's counts. A condition on that state makes each event count once: a
//! duplicate finds the state already moved (2xx, nothing changes), an event ahead of its
//! predecessor finds no hold yet (409, so the bridge retries it later).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use contract::events::{OrderCreatedData, OrderEndedData};
use contract::{HoldState, OrderId, Quantity, TicketId};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};

use shared::dynamo::TablePrefix;

use crate::store::{Stepped, Tickets, Transition};

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

pub async fn release_app(prefix: TablePrefix) -> Router {
    app(prefix, RELEASE).await
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
