//! What every function's router has besides its own routes: `/healthz`, JSON answers for unknown
//! routes and methods, and the log line for a failed request.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::{FailureCause, error_response};

/// Adds the common routes and layers to a function's router.
pub fn finish(router: Router) -> Router {
    router
        .route("/healthz", get(healthz))
        .fallback(not_found)
        // A known path with another method names no route the contract has either.
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn(log_failures))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "Not Found")
}

/// Logs each server error once, with its cause and the request it failed.
async fn log_failures(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(FailureCause(cause)) = response.extensions().get::<FailureCause>() {
        tracing::error!(%method, %path, status = response.status().as_u16(), cause = %cause, "request failed");
    }
    response
}
