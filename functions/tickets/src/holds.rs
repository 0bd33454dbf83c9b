//! What orders tell a listing: an order holds some of its tickets (`order.created`), lets them go
//! (`order.cancelled`), or buys them (`order.completed`). Three functions, one per event:
//! `hold-tickets`, `release-tickets`, `sell-tickets`.
//!
//! Each order has a hold item whose state moves none → held → released | sold, in the same
//! transaction as the listing's counts. A condition on that state makes each event count once: a
//! duplicate finds the state already moved (2xx, nothing changes), an event ahead of its
//! predecessor finds no hold yet (409, so the bridge retries it later).

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use shared::dynamo::{self, PK};
use shared::error::ApiError;
use shared::events::data::{OrderCreatedData, OrderEndedData};
use shared::events::{CloudEvent, types};

use crate::listing::key;
use crate::{Settings, TicketState};

/// What an order event tells a listing, from the catalogue payload of the step's event with every
/// rule of the contract checked: an event that breaks one is a 400 before anything is written.
#[derive(Debug)]
pub struct OrderEventData {
    pub id: String,
    pub quantity: i64,
    pub ticket_id: String,
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

/// One step of a hold's life, and what it does to the listing's counts.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub event: &'static str,
    /// The state the hold must be in; `None` for the step that creates it.
    pub from: Option<&'static str>,
    pub to: &'static str,
    pub held: i64,
    pub sold: i64,
}

pub const HOLD: Step = Step {
    event: types::ORDER_CREATED,
    from: None,
    to: "held",
    held: 1,
    sold: 0,
};
pub const RELEASE: Step = Step {
    event: types::ORDER_CANCELLED,
    from: Some("held"),
    to: "released",
    held: -1,
    sold: 0,
};
pub const SELL: Step = Step {
    event: types::ORDER_COMPLETED,
    from: Some("held"),
    to: "sold",
    held: -1,
    sold: 1,
};

pub fn router(state: TicketState, step: Step) -> Router {
    Router::new()
        .route(
            "/",
            post(move |state: State<TicketState>, event: CloudEvent| apply(state, event, step)),
        )
        .with_state(state)
}

async fn app(settings: Settings, step: Step) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?, step))
}

pub async fn hold_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    app(settings, HOLD).await
}

pub async fn release_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    app(settings, RELEASE).await
}

pub async fn sell_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    app(settings, SELL).await
}

fn hold_key(order_id: &str) -> String {
    format!("hold#{order_id}")
}

async fn apply(
    State(state): State<TicketState>,
    event: CloudEvent,
    step: Step,
) -> Result<StatusCode, ApiError> {
    let order = OrderEventData::of(&event, step)?;
    let table = state.tickets.table();
    let hold = hold_key(&order.id);
    let hold_write = match step.from {
        None => {
            let put = Put::builder()
                .table_name(table)
                .item(PK, dynamo::s(hold.clone()))
                .item("entity", dynamo::s("hold"))
                .item("state", dynamo::s(step.to))
                .item("ticketId", dynamo::s(order.ticket_id.clone()))
                .item("quantity", dynamo::n(order.quantity))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build()
                .map_err(ApiError::internal)?;
            TransactWriteItem::builder().put(put).build()
        }
        Some(from) => {
            let update = Update::builder()
                .table_name(table)
                .key(PK, dynamo::s(hold.clone()))
                .update_expression("SET #state = :to")
                .condition_expression("#state = :from")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":to", dynamo::s(step.to))
                .expression_attribute_values(":from", dynamo::s(from))
                .build()
                .map_err(ApiError::internal)?;
            TransactWriteItem::builder().update(update).build()
        }
    };
    let held = step.held * order.quantity;
    let sold = step.sold * order.quantity;
    let counts = Update::builder()
        .table_name(table)
        .key(PK, dynamo::s(key(&order.ticket_id)))
        .update_expression(
            "SET held = held + :held, sold = sold + :sold, available = available - :taken",
        )
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_values(":held", dynamo::n(held))
        .expression_attribute_values(":sold", dynamo::n(sold))
        .expression_attribute_values(":taken", dynamo::n(held + sold))
        .build()
        .map_err(ApiError::internal)?;
    let items = vec![
        hold_write,
        TransactWriteItem::builder().update(counts).build(),
    ];
    let Err(refused) = state.tickets.transact(items).await? else {
        return Ok(StatusCode::NO_CONTENT);
    };
    if refused.failed(1) && !refused.failed(0) {
        return Err(ApiError::rule(format!(
            "No listing {} for order {}",
            order.ticket_id, order.id
        )));
    }
    explain(&state, &hold, step).await
}

/// The hold was not in the state the step needs: find out whether this event is a duplicate, early,
/// or impossible.
async fn explain(state: &TicketState, hold: &str, step: Step) -> Result<StatusCode, ApiError> {
    let found = state
        .tickets
        .client()
        .get_item()
        .table_name(state.tickets.table())
        .key(PK, dynamo::s(hold))
        .consistent_read(true)
        .send()
        .await
        .map_err(dynamo::sdk_error)?;
    let current = found
        .item
        .as_ref()
        .and_then(|item| item.get("state"))
        .and_then(|v| v.as_s().ok())
        .cloned();
    match current {
        // Already done: a duplicate delivery.
        Some(state) if state == step.to => Ok(StatusCode::NO_CONTENT),
        // The hold this event ends was never counted: the order's creation is still on its way.
        None => Err(ApiError::Conflict(format!(
            "{} arrived before the order's creation",
            step.event
        ))),
        // Created twice is a duplicate too; any other contradiction will never apply.
        Some(_) if step.from.is_none() => Ok(StatusCode::NO_CONTENT),
        Some(other) => Err(ApiError::rule(format!(
            "{} for a hold that is {other}",
            step.event
        ))),
    }
}
