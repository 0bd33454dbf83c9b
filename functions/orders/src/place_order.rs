//! `POST /api/orders`: holds tickets of a listing for the buyer until `expiresAt`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::json::JsonBody;
use shared::session::SignedIn;
use shared::validation::existing_id;

use aws_sdk_dynamodb::types::TransactWriteItem;
use shared::outbox::Outbox;

use crate::idempotency::{self, Claim, IdempotencyKey};
use crate::order::{
    self, OWN_TICKET, OrderItem, OrderRequest, OrderedTicket, RESERVED, buyer_partition, status,
};
use crate::replica::TicketReplica;
use crate::store::Orders;
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
    match idempotency::claim(&state.orders, &key).await? {
        Claim::Replay(response) => Ok(response),
        Claim::Claimed => match place(&state, &user.id, &request, Some(&key)).await {
            Ok(response) => Ok(response),
            Err(err) => {
                idempotency::settle(&state.orders, &key, &err).await;
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
    // Only a shortcut for a sold-out listing during a drop: the hold's condition decides.
    if ticket.available < request.quantity {
        return Err(ApiError::rule(RESERVED));
    }

    let order = new_order(user_id, &ticket, request.quantity, state.hold);
    let body = serde_json::to_string(&order.body()).map_err(ApiError::internal)?;
    let event = created_event(&order)?;
    let mut items = placement(&state.orders, &state.outbox, &order, &event)?;
    if let Some(key) = key {
        items.push(idempotency::record(
            &state.orders,
            key,
            StatusCode::CREATED,
            &body,
        )?);
    }
    let turn = state.gates.enter(&ticket.id).await;
    let placed = state.orders.transact(items).await?;
    drop(turn);
    match placed {
        Ok(()) => {}
        Err(refused) if refused.failed(0) => return Err(ApiError::rule(RESERVED)),
        Err(refused) => {
            return Err(ApiError::internal(format!(
                "order transaction refused: {:?}",
                refused.failed
            )));
        }
    }
    state.outbox.publish(&[event]).await;
    Ok(idempotency::json_text_response(StatusCode::CREATED, body))
}

/// A new order for `quantity` tickets of a listing, held for `hold` from now.
pub fn new_order(
    user_id: &str,
    ticket: &TicketReplica,
    quantity: i64,
    hold: std::time::Duration,
) -> OrderItem {
    let now = shared::time::now();
    let expires = shared::time::deadline_after(hold);
    let id = uuid::Uuid::now_v7().to_string();
    OrderItem {
        pk: order::key(&id),
        entity: "order".to_owned(),
        id: id.clone(),
        user_id: user_id.to_owned(),
        status: status::CREATED.to_owned(),
        expires_at: shared::time::rfc3339(expires),
        expires_at_unix: expires.unix_timestamp(),
        quantity,
        ticket: OrderedTicket {
            id: ticket.id.clone(),
            title: ticket.title.clone(),
            price: ticket.price,
        },
        total: ticket.price * quantity,
        version: 0,
        created_at: shared::time::rfc3339(now),
        gsi1pk: buyer_partition(user_id),
        gsi1sk: id,
        pending_stripe_id: None,
    }
}

/// The `order.created` event of a new order.
pub fn created_event(order: &OrderItem) -> Result<CloudEvent, ApiError> {
    CloudEvent::new(
        "place-order",
        types::ORDER_CREATED,
        &order.id,
        &order.created_data(),
    )
}

/// The one transaction that places an order: the hold on the listing's replica (conditional on
/// what is available; item 0), the order, and its event in the outbox. The benchmark's ceiling
/// drives exactly this against DynamoDB.
pub fn placement(
    orders: &Orders,
    outbox: &Outbox,
    order: &OrderItem,
    event: &CloudEvent,
) -> Result<Vec<TransactWriteItem>, ApiError> {
    Ok(vec![
        orders.hold(&order.ticket.id, order.quantity)?,
        orders.insert(order)?,
        outbox.record(event)?,
    ])
}
