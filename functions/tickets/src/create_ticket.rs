//! `POST /api/tickets`: lists tickets for sale. An `Idempotency-Key` makes a retry safe: the same
//! key by the same seller within 24 hours gets the first answer again and lists nothing new.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use contract::UserId;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::idempotency::{Claim, IdempotencyKey, json_text_response};
use shared::json::JsonBody;
use shared::session::SignedIn;

use crate::listing::{TicketItem, TicketRequest};
use crate::store::Created;
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
    let request = TicketRequest::new_listing(&body, shared::time::now())?;
    let Some(key) = IdempotencyKey::from_headers(&headers, &user.id)? else {
        return create(&state, user.id, request, None).await;
    };
    match state.tickets.keys().claim(&key).await? {
        Claim::Replay(response) => Ok(response),
        Claim::Claimed => match create(&state, user.id, request, Some(&key)).await {
            Ok(response) => Ok(response),
            Err(err) => {
                state.tickets.keys().settle(&key, &err).await;
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
    let ticket = TicketItem::new(id, UserId::new(user_id), request, created_at)?;
    let body = serde_json::to_string(&ticket.body()?).map_err(ApiError::internal)?;
    let event = CloudEvent::of(
        "create-ticket",
        types::TICKET_CREATED,
        ticket.id.as_str(),
        &ticket.event_data(),
    )?;
    let answer = key
        .map(|key| state.tickets.keys().record(key, StatusCode::CREATED, &body))
        .transpose()?;
    let created = state
        .tickets
        .create(&ticket, state.outbox.record(&event)?, answer)
        .await?;
    match (created, key) {
        (Created::Listed, _) => {}
        // The key's own answer is the answer: that of the attempt that committed, or of the
        // request that took the lapsed claim over.
        (Created::KeyTaken, Some(key)) => return state.tickets.keys().replay(key).await,
        (Created::KeyTaken, None) => {
            return Err(ApiError::internal("a key was refused that was never sent"));
        }
    }
    state.outbox.publish(&[event]).await;
    Ok(json_text_response(StatusCode::CREATED, body))
}
