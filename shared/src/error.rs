//! The one error type of the HTTP API, and the one place it becomes a response.
//!
//! Client errors carry the contract's message; server errors carry their cause for the log only. The
//! body is always `{"errors": [{"message", "field"?}]}`.

use std::error::Error as StdError;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// One entry of the error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEntry {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorEntry {
    pub fn field(field: &str, message: &str) -> Self {
        Self {
            message: message.to_owned(),
            field: Some(field.to_owned()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// One entry per failing input field, in the order the contract lists the fields.
    #[error("validation failed")]
    Validation(Vec<ErrorEntry>),
    /// A business rule refused the request.
    #[error("{0}")]
    Rule(String),
    #[error("Malformed JSON body")]
    MalformedJson,
    #[error("Not authorized")]
    Unauthorized,
    #[error("Forbidden")]
    Forbidden,
    /// Forbidden for now, for a reason the caller can act on (403 with that message): not
    /// remembered as an `Idempotency-Key`'s answer, so the same request may succeed later.
    #[error("{0}")]
    Denied(String),
    #[error("Not Found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PaymentRequired(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// A dependency (DynamoDB, NATS, Stripe) could not be reached; the client should retry.
    #[error("dependency unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A bug. Nothing of it reaches the client.
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

/// Attached to 5xx responses so that the logging middleware can record the cause once, with the
/// request it belongs to.
#[derive(Debug, Clone)]
pub struct FailureCause(pub Arc<String>);

impl ApiError {
    pub fn rule(message: impl Into<String>) -> Self {
        Self::Rule(message.into())
    }

    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::Rule(_) | Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Denied(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A refusal that stands: what a retry with the same `Idempotency-Key` is answered again.
    /// A conflict (409) or a [`Self::Denied`] may pass, and a 5xx is the server's, not the request's.
    pub fn is_lasting_refusal(&self) -> bool {
        self.status().is_client_error() && !matches!(self, Self::Conflict(_) | Self::Denied(_))
    }

    /// The body this error renders as.
    pub fn body(&self) -> serde_json::Value {
        error_body(self.entries())
    }

    fn entries(&self) -> Vec<ErrorEntry> {
        let message = match self {
            Self::Validation(entries) => return entries.clone(),
            Self::Unavailable(_) => "Service unavailable, please retry".to_owned(),
            Self::Internal(_) => "Something went wrong".to_owned(),
            other => other.to_string(),
        };
        vec![ErrorEntry {
            message,
            field: None,
        }]
    }
}

/// The contract's error body.
pub fn error_body(entries: Vec<ErrorEntry>) -> serde_json::Value {
    serde_json::json!({ "errors": entries })
}

/// Renders the error body for a status with one message; used for errors that arise outside a
/// handler (unknown routes, rejected bodies).
pub fn error_response(status: StatusCode, message: &str) -> Response {
    let entries = vec![ErrorEntry {
        message: message.to_owned(),
        field: None,
    }];
    (status, axum::Json(error_body(entries))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(error_body(self.entries()))).into_response();
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(FailureCause(Arc::new(cause_chain(&self))));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// `error: cause: cause…`, so one log line tells the whole story.
fn cause_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("json body")
    }

    #[tokio::test]
    async fn validation_errors_list_every_field_in_order() {
        let err = ApiError::Validation(vec![
            ErrorEntry::field("email", "Email must be valid"),
            ErrorEntry::field("password", "Password must be between 8 and 128 characters"),
        ]);
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body_of(response).await,
            serde_json::json!({"errors": [
                {"message": "Email must be valid", "field": "email"},
                {"message": "Password must be between 8 and 128 characters", "field": "password"},
            ]})
        );
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause_from_the_client() {
        let response = ApiError::internal("table users is on fire").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = response.extensions().get::<FailureCause>().cloned();
        assert_eq!(
            body_of(response).await,
            serde_json::json!({"errors": [{"message": "Something went wrong"}]})
        );
        assert!(cause.expect("cause kept for the log").0.contains("on fire"));
    }

    #[tokio::test]
    async fn unavailable_dependencies_ask_the_client_to_retry() {
        let response = ApiError::unavailable("connection refused").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            body_of(response).await,
            serde_json::json!({"errors": [{"message": "Service unavailable, please retry"}]})
        );
    }
}
