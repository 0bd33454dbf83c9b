//! `POST /api/users/signout`: ends the session by clearing its cookie.
//!
//! Sessions are stateless JWTs, so nothing is stored: a token copied before sign-out stays valid
//! until its `exp`, which is why its lifetime is bounded.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use shared::session::Sessions;

pub fn router(sessions: Sessions) -> Router {
    Router::new()
        .route("/api/users/signout", post(sign_out))
        .with_state(sessions)
}

pub async fn app(sessions: Sessions) -> Router {
    router(sessions)
}

async fn sign_out(State(sessions): State<Sessions>) -> impl IntoResponse {
    (
        [(header::SET_COOKIE, sessions.clearing_cookie())],
        Json(serde_json::json!({})),
    )
}
