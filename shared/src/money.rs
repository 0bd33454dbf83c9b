//! Money: integer minor units (cents) inside, a JSON number in major units outside.
//!
//! Input is read from the number's text (or a numeric string), never through a float, so that
//! `19.99` is 1999 cents exactly and `19.999` is recognised as having three decimals.

use serde_json::{Number, Value};

pub const PRICE_REQUIRED: &str = "Price must be greater than 0";
pub const PRICE_DECIMALS: &str = "Price must have at most 2 decimal places";
pub const PRICE_MAX: &str = "Price must be at most 1000000";

/// The highest price the API takes, in cents.
pub const MAX_CENTS: i64 = 1_000_000 * 100;

/// Reads a price as cents, or the contract's message for what is wrong with it.
pub fn parse_price(value: Option<&Value>) -> Result<i64, &'static str> {
    let text = match value {
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::String(text)) => text.trim().to_owned(),
        _ => return Err(PRICE_REQUIRED),
    };
    let (units, fraction) = decimal_parts(&text).ok_or(PRICE_REQUIRED)?;
    if units.is_empty() && fraction.is_empty() {
        return Err(PRICE_REQUIRED);
    }
    let significant_fraction = fraction.trim_end_matches('0');
    let positive = units.bytes().chain(fraction.bytes()).any(|b| b != b'0');
    if !positive {
        return Err(PRICE_REQUIRED);
    }
    if significant_fraction.len() > 2 {
        return Err(PRICE_DECIMALS);
    }
    let units = units.trim_start_matches('0');
    if units.len() > 7 {
        return Err(PRICE_MAX);
    }
    let units: i64 = if units.is_empty() {
        0
    } else {
        units.parse().map_err(|_| PRICE_REQUIRED)?
    };
    let cents_text = format!("{significant_fraction:0<2}");
    let cents: i64 = cents_text.parse().map_err(|_| PRICE_REQUIRED)?;
    let total = units * 100 + cents;
    if total > MAX_CENTS {
        return Err(PRICE_MAX);
    }
    Ok(total)
}

/// Splits `123.45` into `("123", "45")`. A sign, an exponent or any other character is `None`:
/// negative prices are refused anyway, and JSON writers do not use exponents for prices.
fn decimal_parts(text: &str) -> Option<(&str, &str)> {
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    (digits(units) && digits(fraction)).then_some((units, fraction))
}

/// Cents as the JSON number the API shows: `2000` → `20`, `1999` → `19.99`.
pub fn to_json(cents: i64) -> Value {
    if cents % 100 == 0 {
        Value::Number(Number::from(cents / 100))
    } else {
        // Two decimals print back exactly: the shortest float text of n/100 is n/100.
        Number::from_f64(cents as f64 / 100.0).map_or(Value::Null, Value::Number)
    }
}

/// Serializes a cents field as major units.
pub fn serialize<S: serde::Serializer>(cents: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&to_json(*cents), serializer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn price(value: Value) -> Result<i64, &'static str> {
        parse_price(Some(&value))
    }

    #[test]
    fn whole_and_decimal_prices_become_exact_cents() {
        assert_eq!(price(json!(20)), Ok(2000));
        assert_eq!(price(json!(19.99)), Ok(1999));
        assert_eq!(price(json!(0.1)), Ok(10));
        assert_eq!(price(json!("20.00")), Ok(2000));
        assert_eq!(price(json!(1_000_000)), Ok(100_000_000));
    }

    #[test]
    fn missing_zero_negative_and_non_numeric_prices_must_be_greater_than_zero() {
        assert_eq!(parse_price(None), Err(PRICE_REQUIRED));
        for bad in [
            json!(0),
            json!(-5),
            json!("abc"),
            json!(true),
            json!(""),
            json!("0.00"),
        ] {
            assert_eq!(price(bad.clone()), Err(PRICE_REQUIRED), "{bad}");
        }
    }

    #[test]
    fn three_decimals_are_refused() {
        assert_eq!(price(json!(19.999)), Err(PRICE_DECIMALS));
        assert_eq!(price(json!("1.001")), Err(PRICE_DECIMALS));
    }

    #[test]
    fn prices_above_a_million_are_refused() {
        assert_eq!(price(json!(1_000_000.01)), Err(PRICE_MAX));
        assert_eq!(price(json!("99999999999999999999")), Err(PRICE_MAX));
    }

    #[test]
    fn cents_are_shown_in_major_units() {
        assert_eq!(to_json(2000), json!(20));
        assert_eq!(to_json(1999), json!(19.99));
        assert_eq!(to_json(10), json!(0.1));
    }
}
