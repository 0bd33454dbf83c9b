//! `GET /api/users/currentuser`: who the session says the caller is; no database involved.

use axum::routing::get;
use axum::{Json, Router};
use contract::api::CurrentUserBody;
use shared::session::{Sessions, SignedIn};

pub fn router(sessions: Sessions) -> Router {
    Router::new()
        .route("/api/users/currentuser", get(current_user))
        .with_state(sessions)
}

pub async fn app(sessions: Sessions) -> Router {
    router(sessions)
}

async fn current_user(user: Option<SignedIn>) -> Json<CurrentUserBody> {
    Json(CurrentUserBody {
        current_user: user.map(|SignedIn(claims)| claims.to_body()),
    })
}
