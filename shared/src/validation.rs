//! Collecting field errors in the contract's order.
//!
//! A request DTO is parsed field by field into domain types; each failure is recorded under its
//! field, and the request is refused with all of them at once.

use std::ops::RangeInclusive;

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

pub use contract::money::{
    LISTING_QUANTITY, ORDER_QUANTITY, PRICE_CENTS, TITLE_CHARS, TOTAL_CENTS,
};

/// What is wrong with an event's data, field by field. An event that breaks a rule will never
/// apply, however often it is delivered: [`DataRules::finish`] makes that the 400 which sends it to
/// the dead letters, naming every problem at once.
#[derive(Debug, Default)]
pub struct DataRules {
    problems: Vec<String>,
}

impl DataRules {
    pub fn new() -> Self {
        Self::default()
    }

    /// An id as this system writes them: a UUID in its canonical form (lower-case, hyphenated).
    /// Any other spelling would name a different item than the producer's.
    pub fn id(&mut self, field: &str, value: &str) -> &mut Self {
        let canonical =
            uuid::Uuid::try_parse(value).is_ok_and(|id| id.hyphenated().to_string() == value);
        if !canonical {
            self.problems.push(format!("{field} must be an id"));
        }
        self
    }

    /// A whole number within `range`.
    pub fn range(&mut self, field: &str, value: i64, range: RangeInclusive<i64>) -> &mut Self {
        if !range.contains(&value) {
            self.problems.push(format!(
                "{field} must be between {} and {}",
                range.start(),
                range.end()
            ));
        }
        self
    }

    /// A version: 0 for a new item, one more for each change.
    pub fn version(&mut self, field: &str, value: i64) -> &mut Self {
        self.range(field, value, 0..=i64::MAX)
    }

    /// An RFC 3339 time after the Unix epoch (timers key on its Unix seconds).
    pub fn time(&mut self, field: &str, value: &str) -> &mut Self {
        let readable = crate::time::parse_rfc3339(value).is_some_and(|at| at.unix_timestamp() >= 0);
        if !readable {
            self.problems
                .push(format!("{field} must be an RFC 3339 time"));
        }
        self
    }

    /// Text that is not blank and at most `max` characters long.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> &mut Self {
        if value.trim().is_empty() || value.chars().count() > max {
            self.problems
                .push(format!("{field} must be 1 to {max} characters"));
        }
        self
    }

    /// Exactly `expected`.
    pub fn equals(&mut self, field: &str, value: &str, expected: &str) -> &mut Self {
        if value != expected {
            self.problems.push(format!("{field} must be {expected}"));
        }
        self
    }

    /// Nothing broken, or a 400 listing every problem of this `kind` of event.
    pub fn finish(self, kind: &str) -> Result<(), ApiError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::rule(format!(
                "Invalid {kind} data: {}",
                self.problems.join(", ")
            )))
        }
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

    #[test]
    fn event_data_rules_name_every_broken_field() {
        let id = uuid::Uuid::now_v7().to_string();
        let mut rules = DataRules::new();
        rules
            .id("id", &id)
            .range("quantity", 10, ORDER_QUANTITY)
            .version("version", 0)
            .time("expiresAt", "2026-11-24T10:00:00Z")
            .text("title", "Concert", TITLE_CHARS)
            .equals("status", "created", "created");
        assert!(rules.finish("e").is_ok());

        let mut rules = DataRules::new();
        rules
            .id("id", &id.to_uppercase())
            .id("ticket.id", "t1")
            .range("quantity", -1000, ORDER_QUANTITY)
            .range("quantity", 11, ORDER_QUANTITY)
            .range("price", 0, PRICE_CENTS)
            .version("version", -1)
            .time("expiresAt", "tomorrow")
            .time("expiresAt", "1969-12-31T23:59:59Z")
            .text("title", "  ", TITLE_CHARS)
            .equals("status", "cancelled", "created");
        let err = rules
            .finish("ticketing.order.created")
            .expect_err("refused");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        let message = err.to_string();
        assert!(message.starts_with("Invalid ticketing.order.created data: "));
        assert_eq!(message.matches(", ").count(), 9, "{message}");
    }
}
