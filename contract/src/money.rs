//! Money and counts. Money is integer minor units ([`Cents`]) everywhere inside and in event data;
//! the HTTP API shows it as a JSON number in major units (`20`, `19.99`), through [`major_units`].
//!
//! Prices are read from the number's text (or a numeric string), never through a float, so that
//! `19.99` is 1999 cents exactly and `19.999` is recognised as having three decimals.

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

pub const PRICE_REQUIRED: &str = "Price must be greater than 0";
pub const PRICE_DECIMALS: &str = "Price must have at most 2 decimal places";
pub const PRICE_MAX: &str = "Price must be at most 1000000";

/// The highest price the API takes, in cents.
pub const MAX_CENTS: i64 = 1_000_000 * 100;
/// A price in cents: positive, at most what the API takes.
pub const PRICE_CENTS: RangeInclusive<i64> = 1..=MAX_CENTS;
/// An order's total in cents: the most expensive price times the largest order.
pub const TOTAL_CENTS: RangeInclusive<i64> = 1..=MAX_CENTS * 10;
/// How many tickets one order may take (the contract: 1 to 10).
pub const ORDER_QUANTITY: RangeInclusive<i64> = 1..=10;
/// How many tickets one listing may offer.
pub const LISTING_QUANTITY: RangeInclusive<i64> = 1..=100_000;
/// The longest listing title, in characters.
pub const TITLE_CHARS: usize = 200;

/// An amount in minor units of the deployment's one currency. A JSON integer in event data and in
/// storage; a major-units number in the HTTP API ([`major_units`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    pub const fn get(self) -> i64 {
        self.0
    }

    /// The price of `quantity` items at this price. Prices and quantities are bounded by the
    /// contract far below where this could overflow.
    pub fn times(self, quantity: Quantity) -> Cents {
        Cents(self.0 * quantity.0)
    }

    /// The amount as the API's JSON number in major units: `2000` → `20`, `1999` → `19.99`.
    pub fn to_major_units(self) -> Value {
        if self.0 % 100 == 0 {
            Value::Number(Number::from(self.0 / 100))
        } else {
            // Two decimals print back exactly: the shortest float text of n/100 is n/100.
            Number::from_f64(self.0 as f64 / 100.0).map_or(Value::Null, Value::Number)
        }
    }
}

/// Money as people read it: `20.00`, `19.99`, `0.10` (no currency sign: the caller knows which).
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// A number of tickets: of a listing, of an order, held, sold or available.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Quantity(pub i64);

impl Quantity {
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for Quantity {
    fn from(quantity: i64) -> Self {
        Self(quantity)
    }
}

impl From<i64> for Cents {
    fn from(cents: i64) -> Self {
        Self(cents)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Reads a price (a JSON number or a numeric string) as cents, or the contract's message for what
/// is wrong with it.
pub fn parse_price(value: Option<&Value>) -> Result<Cents, &'static str> {
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
    Ok(Cents(total))
}

/// Splits `123.45` into `("123", "45")`. A sign, an exponent or any other character is `None`:
/// negative prices are refused anyway, and JSON writers do not use exponents for prices.
fn decimal_parts(text: &str) -> Option<(&str, &str)> {
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    (digits(units) && digits(fraction)).then_some((units, fraction))
}

/// `#[serde(with = "contract::money::major_units")]`: a [`Cents`] field shown as the API's
/// major-units number, and read back exactly (from the number's text, never through a float).
pub mod major_units {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    use super::{Cents, parse_price};

    pub fn serialize<S: Serializer>(cents: &Cents, serializer: S) -> Result<S::Ok, S::Error> {
        cents.to_major_units().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Cents, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_price(Some(&value)).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn price(value: Value) -> Result<i64, &'static str> {
        parse_price(Some(&value)).map(Cents::get)
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
        assert_eq!(Cents(2000).to_major_units(), json!(20));
        assert_eq!(Cents(1999).to_major_units(), json!(19.99));
        assert_eq!(Cents(10).to_major_units(), json!(0.1));
    }

    #[test]
    fn cents_read_people_s_way() {
        assert_eq!(Cents(2000).to_string(), "20.00");
        assert_eq!(Cents(1990).to_string(), "19.90");
        assert_eq!(Cents(5).to_string(), "0.05");
    }

    #[test]
    fn major_units_round_trip_exactly() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Priced {
            #[serde(with = "major_units")]
            price: Cents,
        }
        for cents in [1, 10, 99, 1999, 2000, 123_456, MAX_CENTS] {
            let text = serde_json::to_string(&Priced {
                price: Cents(cents),
            })
            .expect("json");
            let back: Priced = serde_json::from_str(&text).expect("parsed");
            assert_eq!(back.price, Cents(cents), "{text}");
        }
    }
}
