//! `POST /api/tickets`: lists tickets for sale. An `Idempotency-Key` makes a retry safe: the same
//! key by the same seller within 24 hours gets the first answer again and lists nothing new.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::idempotency::{self, Claim, IdempotencyKey, json_text_response};
use shared::json::JsonBody;
use shared::session::SignedIn;

use crate::listing::{TicketItem, TicketRequest};
use crate::{Settings, TicketState};

pub fn router(state: TicketState) -> Router {
    Router::new()
        .route("/api/tickets", post(create_ticket))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(TicketState::connect(settings).await?))
}

async fn create_ticket(
    State(state): State<TicketState>,
    SignedIn(user): SignedIn,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let request = TicketRequest::try_from(body)?;
    let Some(key) = IdempotencyKey::from_headers(&headers, &user.id)? else {
        return create(&state, user.id, request, None).await;
    };
    match idempotency::claim(&state.tickets, &key).await? {
        Claim::Replay(response) => Ok(response),
        Claim::Claimed => match create(&state, user.id, request, Some(&key)).await {
            Ok(response) => Ok(response),
            Err(err) => {
                idempotency::settle(&state.tickets, &key, &err).await;
                Err(err)
            }
        },
    }
}

async fn create(
    state: &TicketState,
    user_id: String,
    request: TicketRequest,
    key: Option<&IdempotencyKey>,
) -> Result<Response, ApiError> {
    let id = uuid::Uuid::now_v7().to_string();
    let created_at = shared::time::rfc3339(shared::time::now());
    let ticket = TicketItem::new(id, user_id, request, created_at);
    let body = serde_json::to_string(&ticket.body()).map_err(ApiError::internal)?;
    let event = CloudEvent::new(
        "create-ticket",
        types::TICKET_CREATED,
        &ticket.id,
        &ticket.event_data(),
    )?;
    let mut items = vec![state.tickets.insert(&ticket)?, state.outbox.record(&event)?];
    if let Some(key) = key {
        items.push(idempotency::record(
            &state.tickets,
            key,
            StatusCode::CREATED,
            &body,
        )?);
    }
    if let Err(refused) = state.tickets.transact(items).await? {
        return match key {
            // The listing's id is fresh and the outbox record new, so only the key's record can be
            // refused: the claim is no longer this request's (an earlier attempt of this very
            // transaction committed, or the claim lapsed and a retry took it over). Either way the
            // key's own answer is the answer.
            Some(key) => idempotency::replay(&state.tickets, key).await,
            None => Err(ApiError::internal(format!(
                "a fresh listing was refused: {refused:?}"
            ))),
        };
    }
    state.outbox.publish(&[event]).await;
    Ok(json_text_response(StatusCode::CREATED, body))
}
