//! `POST /api/users/signin`: checks credentials and starts a session.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use shared::error::ApiError;
use shared::json::JsonBody;

use crate::credentials::SignInRequest;
use crate::{AccountState, Settings, signed_in_response};

/// One message for an unknown email and a wrong password, so that sign-in does not tell which
/// addresses have accounts.
pub const INVALID_CREDENTIALS: &str = "Invalid credentials";

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
    let user = state.users.find(&request.email).await?;
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let matches = state.passwords.verify(request.password, stored).await?;
    match user {
        Some(user) if matches => {
            signed_in_response(StatusCode::OK, &state.sessions, user.id, user.email)
        }
        _ => Err(ApiError::rule(INVALID_CREDENTIALS)),
    }
}
