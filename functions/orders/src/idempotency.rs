//! `Idempotency-Key` on place-order: the one implementation in `shared::idempotency`, with the
//! records in the orders table.

pub use shared::idempotency::{
    Claim, HEADER, IN_PROGRESS, INVALID_KEY, IdempotencyKey, claim, json_text_response, record,
    settle,
};
