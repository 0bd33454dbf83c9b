//! Money: integer minor units (cents) inside, a JSON number in major units outside. The types and
//! the parsing live in the contract crate (the storefront reads prices with the same code); this
//! module keeps the path the functions know.

pub use contract::money::{
    Cents, MAX_CENTS, PRICE_DECIMALS, PRICE_MAX, PRICE_REQUIRED, Quantity, major_units, parse_price,
};
