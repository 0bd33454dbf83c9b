//! Prices as people type and read them. The API takes and gives major units; the storefront never
//! does arithmetic on them, it only formats, so no floating point is involved.

use contract::Cents;

/// What the price field shows after it loses focus: a number gets exactly two decimals, rounded half
/// up ("5" → "5.00", "3.456" → "3.46"); anything that is not a plain non-negative number is left
/// as typed, for the server to explain.
pub fn tidy_price(input: &str) -> String {
    let trimmed = input.trim();
    let (whole, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return input.to_owned();
    }
    let whole = if whole.is_empty() { "0" } else { whole };
    let mut cents: Vec<u8> = whole.bytes().map(|b| b - b'0').collect();
    let fraction: Vec<u8> = fraction.bytes().map(|b| b - b'0').collect();
    cents.push(fraction.first().copied().unwrap_or(0));
    cents.push(fraction.get(1).copied().unwrap_or(0));
    if fraction.get(2).is_some_and(|d| *d >= 5) {
        // Carry the rounding through the digits, growing the number when it overflows ("9.999").
        let mut position = cents.len();
        loop {
            if position == 0 {
                cents.insert(0, 1);
                break;
            }
            position -= 1;
            if cents[position] == 9 {
                cents[position] = 0;
            } else {
                cents[position] += 1;
                break;
            }
        }
    }
    let split = cents.len() - 2;
    let whole: String = cents[..split]
        .iter()
        .map(|d| char::from(b'0' + d))
        .collect();
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let fraction: String = cents[split..]
        .iter()
        .map(|d| char::from(b'0' + d))
        .collect();
    format!("{whole}.{fraction}")
}

/// A price from the API as money: "$20.00".
pub fn display(price: Cents) -> String {
    format!("${price}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_number_gains_two_decimals() {
        assert_eq!(tidy_price("5"), "5.00");
        assert_eq!(tidy_price(" 20 "), "20.00");
    }

    #[test]
    fn extra_decimals_are_rounded_half_up() {
        assert_eq!(tidy_price("3.456"), "3.46");
        assert_eq!(tidy_price("3.454"), "3.45");
        assert_eq!(tidy_price("2.675"), "2.68");
        assert_eq!(tidy_price("9.999"), "10.00");
        assert_eq!(tidy_price("99.995"), "100.00");
    }

    #[test]
    fn short_and_bare_decimals_are_completed() {
        assert_eq!(tidy_price("1.5"), "1.50");
        assert_eq!(tidy_price(".5"), "0.50");
        assert_eq!(tidy_price("7."), "7.00");
        assert_eq!(tidy_price("007.10"), "7.10");
    }

    #[test]
    fn text_that_is_not_a_price_is_left_alone() {
        for input in ["", "abc", "5 dollars", "-3", "1.2.3", ".", "1e3", "٣"] {
            assert_eq!(tidy_price(input), input);
        }
    }

    #[test]
    fn api_prices_are_shown_as_money() {
        let price = |json: &str| {
            contract::money::parse_price(Some(&serde_json::from_str(json).expect("json")))
                .expect("price")
        };
        assert_eq!(display(price("20")), "$20.00");
        assert_eq!(display(price("19.9")), "$19.90");
        assert_eq!(display(price("0.05")), "$0.05");
    }
}
