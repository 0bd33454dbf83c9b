//! What every function's router has besides its own routes: `/healthz`, JSON answers for unknown
//! routes and methods, the request deadline, and the log line for a failed request.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::config::{Env, FromEnv};
use crate::error::{ApiError, FailureCause, error_response};

/// `REQUEST_TIMEOUT_SECONDS` (default 10): a request not answered by then gets 503 with
/// `Retry-After`, whatever it was waiting for. Every dependency call has a shorter deadline of its own;
/// this one is the guarantee, and it is below NGINX's read timeout (15 s), so a client always hears
/// the contract's answer from the function rather than a gateway error.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Duration);

const DEFAULT_DEADLINE_SECONDS: u64 = 10;
const MAX_DEADLINE_SECONDS: u64 = 300;

impl Default for RequestDeadline {
    fn default() -> Self {
        Self(Duration::from_secs(DEFAULT_DEADLINE_SECONDS))
    }
}

impl FromEnv for RequestDeadline {
    fn from_env(env: &mut Env) -> Self {
        let seconds: u64 = env.parsed_or("REQUEST_TIMEOUT_SECONDS", DEFAULT_DEADLINE_SECONDS);
        if !(1..=MAX_DEADLINE_SECONDS).contains(&seconds) {
            env.invalid(
                "REQUEST_TIMEOUT_SECONDS",
                format!("must be between 1 and {MAX_DEADLINE_SECONDS}"),
            );
        }
        Self(Duration::from_secs(seconds))
    }
}

/// Adds the common routes and layers to a function's router, with the default request deadline.
pub fn finish(router: Router) -> Router {
    finish_within(router, RequestDeadline::default())
}

/// Adds the common routes and layers to a function's router.
pub fn finish_within(router: Router, deadline: RequestDeadline) -> Router {
    router
        .route("/healthz", get(healthz))
        .fallback(not_found)
        // A known path with another method names no route the contract has either.
        .method_not_allowed_fallback(not_found)
        // Inside the logging layer, so that a request cut off here is logged like any other 503.
        .layer(middleware::from_fn_with_state(deadline, enforce_deadline))
        .layer(middleware::from_fn(log_failures))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "Not Found")
}

/// Answers 503 for a request still running at the deadline. The handler is dropped there: what it
/// had already written stays written, which is why writes that must not be repeated carry an
/// `Idempotency-Key` or a condition.
async fn enforce_deadline(
    State(deadline): State<RequestDeadline>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(deadline.0, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::unavailable(format!("no answer within {:?}", deadline.0)).into_response()
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header;
    use tower::ServiceExt;

    fn slow_router(pause: Duration) -> Router {
        let router = Router::new().route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(pause).await;
                "late"
            }),
        );
        finish_within(router, RequestDeadline(Duration::from_millis(200)))
    }

    async fn get_slow(router: Router) -> Response {
        let request = Request::builder()
            .uri("/slow")
            .body(Body::empty())
            .expect("request");
        router.oneshot(request).await.expect("infallible")
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_is_answered_503_with_retry_after() {
        let started = std::time::Instant::now();
        let response = get_slow(slow_router(Duration::from_secs(30))).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "answered at the deadline"
        );
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"),
            serde_json::json!({"errors": [{"message": "Service unavailable, please retry"}]})
        );
    }

    #[tokio::test]
    async fn a_request_within_its_deadline_is_untouched() {
        let response = get_slow(slow_router(Duration::from_millis(10))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
