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
    let key = IdempotencyKey::from_headers(&headers, &user.id)?;
    let ticket_id = existing_id(&request.ticket_id)?;
    let ticket = replica(&state, &ticket_id).await?;
    if let Some(drop) = ticket
        .as_ref()
        .filter(|ticket| ticket.on_sale_unix().is_some())
    {
        let placed = place_admitted(&state, &user.id, drop, &request, key.as_ref()).await;
        return match (placed, &key) {
            (Err(err), Some(key)) => state.orders.keys().refuse_unclaimed(key, err).await,
            (placed, _) => placed,
        };
    }
    let Some(key) = key else {
        return place(&state, &user.id, ticket, &request, None).await;
    };
    match state.orders.keys().claim(&key).await? {
        Claim::Replay(response) => Ok(response),
        Claim::Claimed => match place(&state, &user.id, ticket, &request, Some(&key)).await {
            Ok(response) => Ok(response),
            Err(err) => {
                state.orders.keys().settle(&key, &err).await;
                Err(err)
            }
        },
    }
}

/// The listing's replica. Orders that arrive while one is being read share that read. A drop's,
/// once its sale has started, is also kept for [`DROP_KEPT`]: what an admitted order takes from it
/// (seller, `onSaleAt`, title, price) no longer changes then, except by an edit of the title or
/// price, which the tickets context refuses while any order holds tickets, and its availability
/// does not matter, since the admission holds the tickets. So the crowd of admitted buyers does not
/// read it: under a drop's load one read can take seconds, and every order waiting on it would.
/// Any other listing's is not kept: a hold's shortcut refuses on its availability, which must be
/// no older than the read.
async fn replica(state: &OrderState, ticket_id: &str) -> Result<Option<TicketReplica>, ApiError> {
    let now = shared::time::unix_now();
    let on_sale = |ticket: &TicketReplica| ticket.on_sale_unix().is_some_and(|at| at <= now);
    if let Some(drop) = state
        .replicas
        .kept_within(ticket_id, DROP_KEPT)
        .flatten()
        .filter(on_sale)
    {
        return Ok(Some(drop));
    }
    let (read, _) = state
        .replicas
        .read(ticket_id, || state.orders.replica(ticket_id))
        .await?;
    if !read.as_ref().is_some_and(on_sale) {
        state.replicas.forget(ticket_id);
    }
    Ok(read)
}

/// How long this instance's orders use a drop's replica read once its sale started.
const DROP_KEPT: std::time::Duration = std::time::Duration::from_secs(5);

/// An order on a listing that is not a drop: a hold, committed with others for the listing.
async fn place(
    state: &OrderState,
    user_id: &str,
    ticket: Option<TicketReplica>,
    request: &OrderRequest,
    key: Option<&IdempotencyKey>,
) -> Result<Response, ApiError> {
    let ticket = ticket.ok_or(ApiError::NotFound)?;
    if ticket.user_id == user_id {
        return Err(ApiError::rule(OWN_TICKET));
    }
    // Only a shortcut for a sold-out listing: the hold's condition decides.
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
///
/// That transaction is all it writes, the key's answer included, so it needs no claim of the key
/// first ([`shared::idempotency::Keys::answer`]), and it does not read the entry first: most
/// buyers order what they were admitted for, so that is tried, and a refusal brings back the
/// entry, which says whether another admitted quantity would do. An admitted crowd's order is
/// then one call to DynamoDB, where claim, entry and transaction were three in a row.
async fn place_admitted(
    state: &OrderState,
    user_id: &str,
    ticket: &TicketReplica,
    request: &OrderRequest,
    key: Option<&IdempotencyKey>,
) -> Result<Response, ApiError> {
    if ticket.user_id == user_id {
        return Err(ApiError::rule(OWN_TICKET));
    }
    if ticket
        .on_sale_unix()
        .is_none_or(|on_sale| shared::time::unix_now() < on_sale)
    {
        return Err(ApiError::rule(NOT_STARTED));
    }
    let wanted = request.quantity.get();
    let mut admitted = wanted;
    for _ in 0..ADMITTED_ATTEMPTS {
        let mut order = new_order(user_id, ticket, request.quantity, state.hold);
        order.admitted = true;
        let body = serde_json::to_string(&order.body()).map_err(ApiError::internal)?;
        let event = created_event(&order)?;
        let answer = key
            .map(|key| state.orders.keys().answer(key, StatusCode::CREATED, &body))
            .transpose()?;
        let placed = state
            .orders
            .place_admitted(&order, admitted, state.outbox.record(&event)?, answer)
            .await?;
        let entry = match placed {
            PlacedAdmitted::Held => {
                state.outbox.publish(&[event]).await;
                return Ok(json_text_response(StatusCode::CREATED, body));
            }
            PlacedAdmitted::KeyTaken(found) => {
                return state.orders.keys().replay_refused(found.as_ref());
            }
            PlacedAdmitted::NotAdmitted(entry) => entry,
        };
        let Some(entry) = entry.filter(|entry| entry.is_admitted_at(shared::time::unix_now()))
        else {
            return Err(wait_your_turn());
        };
        if wanted > entry.quantity {
            let message = format!(
                "Quantity must be a whole number between 1 and {}",
                entry.quantity
            );
            return Err(ApiError::Validation(vec![ErrorEntry::field(
                "quantity", &message,
            )]));
        }
        if entry.quantity == admitted {
            // Admitted for this quantity when refused: its end passed as the order was sent.
            return Err(wait_your_turn());
        }
        admitted = entry.quantity;
    }
    Err(wait_your_turn())
}

/// Orders tried on a drop: for the quantity asked, then for the quantity the entry was found
/// admitted for.
const ADMITTED_ATTEMPTS: usize = 2;

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
