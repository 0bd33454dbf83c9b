//! The JSON body extractor: our error shape for every way a body can be wrong.
//!
//! Handlers receive the body as a `serde_json::Value` and parse each field themselves (see
//! [`crate::validation`]), because the contract gives a field of the wrong JSON type that field's own
//! message; only a body that is not JSON at all is `Malformed JSON body`.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The contract's body limit.
pub const BODY_LIMIT: usize = 16 * 1024;

/// A JSON object body. A JSON value that is not an object (`[]`, `"x"`, `null`) is read as an empty
/// object, so that each required field reports itself missing.
#[derive(Debug, Clone, Default)]
pub struct JsonBody(pub Map<String, Value>);

impl JsonBody {
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|value| !value.is_null())
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Parses a body already read, applying the same rules as the extractor.
pub fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<JsonBody, ApiError> {
    if bytes.len() > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        // No body at all: nothing to object to about its type; every field is missing.
        return Ok(JsonBody::default());
    }
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(JsonBody(map)),
        Ok(_) => Ok(JsonBody::default()),
        Err(_) => Err(ApiError::MalformedJson),
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        if declared_length(request.headers()).is_some_and(|len| len > BODY_LIMIT) {
            return Err(ApiError::PayloadTooLarge);
        }
        let (parts, body) = request.into_parts();
        // One byte over the limit is enough to know it is too large.
        let bytes = axum::body::to_bytes(body, BODY_LIMIT + 1)
            .await
            .map_err(|err| {
                if is_length_limit(&err) {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson
                }
            })?;
        parse_body(&parts.headers, &bytes)
    }
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn json_headers(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    #[test]
    fn an_object_body_is_read_field_by_field() {
        let body = parse_body(&json_headers("application/json"), br#"{"email":"a@b.co"}"#)
            .expect("valid body");
        assert_eq!(body.get("email"), Some(&Value::from("a@b.co")));
        assert_eq!(body.get("password"), None);
    }

    #[test]
    fn a_charset_parameter_is_still_json() {
        assert!(parse_body(&json_headers("application/json; charset=utf-8"), b"{}").is_ok());
    }

    #[test]
    fn text_that_is_not_json_is_malformed() {
        let err = parse_body(&json_headers("application/json"), b"{nope").expect_err("malformed");
        assert!(matches!(err, ApiError::MalformedJson));
    }

    #[test]
    fn a_body_of_another_content_type_is_refused() {
        let err = parse_body(&json_headers("text/plain"), b"{}").expect_err("415");
        assert!(matches!(err, ApiError::UnsupportedMediaType));
        let err = parse_body(&HeaderMap::new(), b"{}").expect_err("415 without header");
        assert!(matches!(err, ApiError::UnsupportedMediaType));
    }

    #[test]
    fn an_empty_body_means_every_field_is_missing() {
        let body = parse_body(&HeaderMap::new(), b"").expect("empty body");
        assert!(body.0.is_empty());
    }

    #[test]
    fn a_json_value_that_is_not_an_object_has_no_fields() {
        let body = parse_body(&json_headers("application/json"), b"[1,2]").expect("array");
        assert!(body.0.is_empty());
    }

    #[test]
    fn a_body_over_the_limit_is_too_large() {
        let big = vec![b' '; BODY_LIMIT + 1];
        let err = parse_body(&json_headers("application/json"), &big).expect_err("413");
        assert!(matches!(err, ApiError::PayloadTooLarge));
    }
}
