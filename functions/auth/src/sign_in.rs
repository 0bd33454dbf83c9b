//! `POST /api/users/signin`: checks credentials and starts a session.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use shared::error::{ApiError, error_response};
use shared::json::JsonBody;

use crate::attempts::Counted;
use crate::credentials::SignInRequest;
use crate::{AccountState, Settings, signed_in_response};

/// One message for an unknown email and a wrong password, so that sign-in does not tell which
/// addresses have accounts.
pub const INVALID_CREDENTIALS: &str = "Invalid credentials";

/// The answer while an account is locked: the contract's 429 message, as NGINX gives it for its own
/// rate limit.
pub const TOO_MANY_REQUESTS: &str = "Too many requests";

pub fn router(state: AccountState) -> Router {
    Router::new()
        .route("/api/users/signin", post(sign_in))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Router {
    router(AccountState::connect(settings).await)
}

async fn sign_in(State(state): State<AccountState>, body: JsonBody) -> Result<Response, ApiError> {
    let request = SignInRequest::try_from(body)?;
    // The request's turn first, so that only a few requests at a time talk to DynamoDB and hash,
    // and a full queue is a 503 before anything is counted against the account.
    let turn = state.passwords.turn().await?;
    if let Counted::Refused { retry_after_secs } = state.attempts.count(&request.email).await? {
        return Ok(too_many_requests(retry_after_secs));
    }
    let user = state.users.find(&request.email).await?;
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let matches = turn.verify(request.password, stored).await?;
    match user {
        Some(user) if matches => {
            // The password was right: a counter left behind only brings the next lock sooner, so a
            // failure to clear it must not cost the owner this sign-in.
            if let Err(err) = state.attempts.clear(&request.email).await {
                tracing::warn!("cannot clear the sign-in attempts of a user: {err}");
            }
            signed_in_response(StatusCode::OK, &state.sessions, user.id, user.email)
        }
        _ => Err(ApiError::rule(INVALID_CREDENTIALS)),
    }
}

/// 429 with `Retry-After`; the same for every email, registered or not.
fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}
