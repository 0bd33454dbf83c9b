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

/// An id from a path or a body. Ids are UUIDs; anything else names nothing, so it is a 404 without
/// asking the database.
pub fn existing_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::try_parse(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::NotFound)
}

/// A whole number in `min..=max`, written as a JSON integer (or a float with no fraction, as some
/// clients send `2.0`); absent or null is `default`. Anything else gets `message`.
pub fn whole_number(
    value: Option<&serde_json::Value>,
    default: i64,
    min: i64,
    max: i64,
    message: &'static str,
) -> Result<i64, &'static str> {
    let Some(value) = value else {
        return Ok(default);
    };
    let number = value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .ok_or(message)?;
    if (min..=max).contains(&number) {
        Ok(number)
    } else {
        Err(message)
    }
}

/// A trimmed string of 1 to `max` characters (Unicode characters, not bytes).
pub fn bounded_text(
    value: Option<&serde_json::Value>,
    max: usize,
    missing: &'static str,
    too_long: &'static str,
) -> Result<String, &'static str> {
    let text = value.and_then(serde_json::Value::as_str).map(str::trim);
    match text {
        None | Some("") => Err(missing),
        Some(text) if text.chars().count() > max => Err(too_long),
        Some(text) => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MESSAGE: &str = "bad";

    #[test]
    fn a_missing_number_takes_its_default() {
        assert_eq!(whole_number(None, 1, 1, 10, MESSAGE), Ok(1));
    }

    #[test]
    fn numbers_outside_the_range_or_not_whole_are_refused() {
        for bad in [
            json!(0),
            json!(11),
            json!(1.5),
            json!("3"),
            json!(true),
            json!(-1),
        ] {
            assert_eq!(
                whole_number(Some(&bad), 1, 1, 10, MESSAGE),
                Err(MESSAGE),
                "{bad}"
            );
        }
        assert_eq!(whole_number(Some(&json!(2.0)), 1, 1, 10, MESSAGE), Ok(2));
    }

    #[test]
    fn text_is_trimmed_and_counted_in_characters() {
        assert_eq!(
            bounded_text(Some(&json!("  hi  ")), 2, "missing", "long"),
            Ok("hi".to_owned())
        );
        assert_eq!(
            bounded_text(Some(&json!("ééé")), 3, "missing", "long").map(|t| t.len()),
            Ok(6)
        );
        assert_eq!(
            bounded_text(Some(&json!("abcd")), 3, "missing", "long"),
            Err("long")
        );
        assert_eq!(
            bounded_text(Some(&json!("   ")), 3, "missing", "long"),
            Err("missing")
        );
        assert_eq!(
            bounded_text(Some(&json!(5)), 3, "missing", "long"),
            Err("missing")
        );
    }
}
