//! `POST /api/orders`: holds tickets of a listing for the buyer until `expiresAt`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use shared::error::{ApiError, ErrorEntry};
use shared::events::{CloudEvent, types};
use shared::json::JsonBody;
use shared::session::SignedIn;
use shared::validation::existing_id;

use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use shared::idempotency::{Claim, IdempotencyKey, json_text_response};

use crate::order::{
    self, OWN_TICKET, OrderItem, OrderRequest, OrderedTicket, RESERVED, buyer_partition,
};
use crate::queue::{NOT_STARTED, WAIT_YOUR_TURN};
use crate::replica::TicketReplica;
use crate::store::{Placed, PlacedAdmitted, Placement};
use crate::{OrderState, Settings};

pub fn router(state: OrderState) -> Router {
    Router::new()
        .route("/api/orders", post(place_order))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(OrderState::connect(settings).await?))
}

async fn place_order(
    State(state): State<OrderState>,
    SignedIn(user): SignedIn,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let request = OrderRequest::try_from(body)?;
    let Some(key) = IdempotencyKey::from_headers(&headers, &user.id)? else {
        return place(&state, &user.id, &request, None).await;
    };
    match state.orders.keys().claim(&key).await? {
        Claim::Replay(response) => Ok(response),
        Claim::Claimed => match place(&state, &user.id, &request, Some(&key)).await {
            Ok(response) => Ok(response),
            Err(err) => {
                state.orders.keys().settle(&key, &err).await;
                Err(err)
            }
        },
    }
}

async fn place(
    state: &OrderState,
    user_id: &str,
    request: &OrderRequest,
    key: Option<&IdempotencyKey>,
) -> Result<Response, ApiError> {
    let ticket_id = existing_id(&request.ticket_id)?;
    let ticket = state
        .orders
        .replica(&ticket_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if ticket.user_id == user_id {
        return Err(ApiError::rule(OWN_TICKET));
    }
    if let Some(on_sale) = ticket.on_sale_unix() {
        return place_admitted(state, user_id, &ticket, on_sale, request, key).await;
    }
    // Only a shortcut for a sold-out listing during a drop: the hold's condition decides.
    if ticket.available < request.quantity.get() {
        return Err(ApiError::rule(RESERVED));
    }

    let order = new_order(user_id, &ticket, request.quantity, state.hold);
    let body = serde_json::to_string(&order.body()).map_err(ApiError::internal)?;
    let event = created_event(&order)?;
    let answer = key
        .map(|key| state.orders.keys().record(key, StatusCode::CREATED, &body))
        .transpose()?;
    let placement = Placement {
        order,
        event: state.outbox.record(&event)?,
        answer,
    };
    let orders = state.orders.clone();
    let placed = state
        .holds
        .submit(&ticket.id, placement, move |group| {
            let orders = orders.clone();
            async move { orders.place_group(&group).await }
        })
        .await
        .ok_or_else(|| ApiError::unavailable("the hold was not committed"))??;
    match (placed, key) {
        (Placed::Held, _) => {}
        (Placed::SoldOut, _) => return Err(ApiError::rule(RESERVED)),
        (Placed::KeyTaken, Some(key)) => return state.orders.keys().replay(key).await,
        (Placed::KeyTaken, None) => {
            return Err(ApiError::internal("a key was refused that was never sent"));
        }
    }
    state.outbox.publish(&[event]).await;
    Ok(json_text_response(StatusCode::CREATED, body))
}

/// An order on a drop: only from `onSaleAt` on, with a current admission from its queue, for at
/// most the admitted quantity; it takes the tickets the admission holds (no hold of its own, so it
/// cannot find them gone) and marks the entry `ordered`, in one transaction.
async fn place_admitted(
    state: &OrderState,
    user_id: &str,
    ticket: &TicketReplica,
    on_sale: i64,
    request: &OrderRequest,
    key: Option<&IdempotencyKey>,
) -> Result<Response, ApiError> {
    let now = shared::time::unix_now();
    if now < on_sale {
        return Err(ApiError::rule(NOT_STARTED));
    }
    let entry = state
        .orders
        .entry(&ticket.id, user_id)
        .await?
        .filter(|entry| entry.is_admitted_at(now));
    let Some(entry) = entry else {
        return Err(wait_your_turn());
    };
    if request.quantity.get() > entry.quantity {
        let message = format!(
            "Quantity must be a whole number between 1 and {}",
            entry.quantity
        );
        return Err(ApiError::Validation(vec![ErrorEntry::field(
            "quantity", &message,
        )]));
    }
    let mut order = new_order(user_id, ticket, request.quantity, state.hold);
    order.admitted = true;
    let body = serde_json::to_string(&order.body()).map_err(ApiError::internal)?;
    let event = created_event(&order)?;
    let answer = key
        .map(|key| state.orders.keys().record(key, StatusCode::CREATED, &body))
        .transpose()?;
    let placed = state
        .orders
        .place_admitted(&order, &entry, state.outbox.record(&event)?, answer)
        .await?;
    match (placed, key) {
        (PlacedAdmitted::Held, _) => {}
        // The admission ran out (or was used) since it was read.
        (PlacedAdmitted::NotAdmitted, _) => return Err(wait_your_turn()),
        (PlacedAdmitted::KeyTaken, Some(key)) => return state.orders.keys().replay(key).await,
        (PlacedAdmitted::KeyTaken, None) => {
            return Err(ApiError::internal("a key was refused that was never sent"));
        }
    }
    state.outbox.publish(&[event]).await;
    Ok(json_text_response(StatusCode::CREATED, body))
}

/// 403 `Wait for your turn in the queue`. Not remembered as the `Idempotency-Key`'s answer, as no
/// refusal is: the same key works once the buyer is admitted.
fn wait_your_turn() -> ApiError {
    ApiError::Denied(WAIT_YOUR_TURN.to_owned())
}

/// A new order for `quantity` tickets of a listing, held for `hold` from now.
pub fn new_order(
    user_id: &str,
    ticket: &TicketReplica,
    quantity: impl Into<Quantity>,
    hold: std::time::Duration,
) -> OrderItem {
    let quantity = quantity.into();
    let now = shared::time::now();
    let expires = shared::time::deadline_after(hold);
    let id = uuid::Uuid::now_v7().to_string();
    let price = Cents(ticket.price);
    OrderItem {
        pk: order::key(&id),
        entity: "order".to_owned(),
        id: OrderId::new(id.clone()),
        user_id: UserId::from(user_id),
        status: OrderStatus::Created,
        expires_at: shared::time::rfc3339(expires),
        expires_at_unix: expires.unix_timestamp(),
        quantity,
        ticket: OrderedTicket {
            id: TicketId::new(ticket.id.clone()),
            title: ticket.title.clone(),
            price,
        },
        total: price.times(quantity),
        version: 0,
        created_at: shared::time::rfc3339(now),
        gsi1pk: buyer_partition(user_id),
        gsi1sk: id,
        pending_stripe_id: None,
        admitted: false,
    }
}

/// The `order.created` event of a new order.
pub fn created_event(order: &OrderItem) -> Result<CloudEvent, ApiError> {
    CloudEvent::of(
        "place-order",
        types::ORDER_CREATED,
        order.id.as_str(),
        &order.created_data(),
    )
}
