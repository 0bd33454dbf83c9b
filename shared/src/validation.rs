//! Collecting field errors in the contract's order.
//!
//! A request DTO is parsed field by field into domain types; each failure is recorded under its
//! field, and the request is refused with all of them at once.

use crate::error::{ApiError, ErrorEntry};
use crate::json::JsonBody;

/// Accumulates one error per failing field.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<ErrorEntry>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the parsed value, or records the field's message.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, &'static str>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(ErrorEntry::field(field, message));
                None
            }
        }
    }

    /// Every field was valid: hands back the values; otherwise the error listing each failure.
    pub fn finish<T>(self, values: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.errors.is_empty() {
            return Err(ApiError::Validation(self.errors));
        }
        values().ok_or_else(|| ApiError::internal("validator finished without values"))
    }
}

impl JsonBody {
    /// A string field; absent, null, or another JSON type is `None`.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(serde_json::Value::as_str)
    }
}
