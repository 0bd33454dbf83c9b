//! `POST /api/users/signup`: creates an account and signs it in.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use shared::error::ApiError;
use shared::json::JsonBody;

use crate::credentials::SignUpRequest;
use crate::users::{Added, UserItem};
use crate::{AccountState, Settings, signed_in_response};

pub const EMAIL_IN_USE: &str = "Email in use";

pub fn router(state: AccountState) -> Router {
    Router::new()
        .route("/api/users/signup", post(sign_up))
        .with_state(state)
}

/// The function's entry point: settings in, router out.
pub async fn app(settings: Settings) -> Router {
    router(AccountState::connect(settings).await)
}

async fn sign_up(State(state): State<AccountState>, body: JsonBody) -> Result<Response, ApiError> {
    let request = SignUpRequest::try_from(body)?;
    // The turn lasts until the answer, so that only a few sign-ups at a time hash and write.
    let turn = state.passwords.turn().await?;
    let hash = turn.hash(request.password.as_bytes().to_vec()).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let created_at = shared::time::rfc3339(shared::time::now());
    let user = UserItem::new(id, &request.email, hash, created_at);
    match state.users.add(&user).await? {
        Added::Created => {
            signed_in_response(StatusCode::CREATED, &state.sessions, user.id, user.email)
        }
        Added::EmailTaken => Err(ApiError::rule(EMAIL_IN_USE)),
    }
}
