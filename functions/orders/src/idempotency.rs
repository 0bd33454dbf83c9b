//! `Idempotency-Key` on place-order: a retry with the same key by the same user within 24 hours gets
//! the first response again and creates nothing; a retry while the first is still running gets 409.
//!
//! The record is claimed with a conditional put before any work, and completed in the same
//! transaction as the order it produced, so a replayed 201 always names an order that exists. A
//! refusal (4xx) is recorded too, since it is the answer; a failure (5xx) releases the key, since a
//! retry should try again. A claim that its function never finished (killed mid-request) lapses
//! after a minute.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::dynamo::{self, PK};
use shared::error::ApiError;

use crate::store::Orders;

pub const HEADER: &str = "idempotency-key";
pub const IN_PROGRESS: &str = "A request with this Idempotency-Key is in progress";
pub const INVALID_KEY: &str = "Idempotency-Key must be 1 to 255 characters";

const REMEMBER_SECONDS: i64 = 24 * 60 * 60;
const CLAIM_SECONDS: i64 = 60;
const MAX_KEY_CHARS: usize = 255;

/// A user's key, as the record's partition key.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request's key, if it has one.
    pub fn from_headers(headers: &HeaderMap, user_id: &str) -> Result<Option<Self>, ApiError> {
        let Some(raw) = headers.get(HEADER) else {
            return Ok(None);
        };
        let key = raw
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.chars().count() <= MAX_KEY_CHARS)
            .ok_or_else(|| ApiError::rule(INVALID_KEY))?;
        Ok(Some(Self(format!("idempotency#{user_id}#{key}"))))
    }
}

/// What claiming a key found.
pub enum Claim {
    /// The key is ours: do the work.
    Claimed,
    /// The work was done before: this is its response.
    Replay(Response),
}

pub async fn claim(orders: &Orders, key: &IdempotencyKey) -> Result<Claim, ApiError> {
    let now = shared::time::unix_now();
    let put = orders
        .client()
        .put_item()
        .table_name(orders.table())
        .item(PK, dynamo::s(key.0.clone()))
        .item("entity", dynamo::s("idempotency"))
        .item("state", dynamo::s("running"))
        .item("claimedUntil", dynamo::n(now + CLAIM_SECONDS))
        .item("ttl", dynamo::n(now + REMEMBER_SECONDS))
        .condition_expression(
            "attribute_not_exists(#pk) OR #ttl < :now OR (#state = :running AND claimedUntil < :now)",
        )
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":now", dynamo::n(now))
        .expression_attribute_values(":running", dynamo::s("running"))
        .send()
        .await;
    match put {
        Ok(_) => Ok(Claim::Claimed),
        Err(err) if dynamo::is_condition_failure(&err) => {
            let found = orders
                .client()
                .get_item()
                .table_name(orders.table())
                .key(PK, dynamo::s(key.0.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(dynamo::sdk_error)?;
            let item = found.item.unwrap_or_default();
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            if text("state").as_deref() != Some("done") {
                return Err(ApiError::Conflict(IN_PROGRESS.to_owned()));
            }
            let status = item
                .get("status")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u16>().ok())
                .and_then(|n| StatusCode::from_u16(n).ok())
                .ok_or_else(|| ApiError::internal("idempotency record without a status"))?;
            Ok(Claim::Replay(json_text_response(
                status,
                text("body").unwrap_or_default(),
            )))
        }
        Err(err) => Err(dynamo::sdk_error(err)),
    }
}

/// A response whose JSON body is already text: a fresh answer that is also recorded, or a replay.
pub fn json_text_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The write that records the response, to go in the transaction that produced it.
pub fn record(
    orders: &Orders,
    key: &IdempotencyKey,
    status: StatusCode,
    body: &str,
) -> Result<TransactWriteItem, ApiError> {
    let update = Update::builder()
        .table_name(orders.table())
        .key(PK, dynamo::s(key.0.clone()))
        .update_expression("SET #state = :done, #status = :status, body = :body")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":done", dynamo::s("done"))
        .expression_attribute_values(":status", dynamo::n(i64::from(status.as_u16())))
        .expression_attribute_values(":body", dynamo::s(body))
        .build()
        .map_err(ApiError::internal)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Settles a claim after work that did not record its response itself: a refusal is remembered,
/// anything else releases the key for a retry.
pub async fn settle(orders: &Orders, key: &IdempotencyKey, err: &ApiError) {
    let status = err.status();
    let settled = if status.is_client_error() && status != StatusCode::CONFLICT {
        let body = serde_json::to_string(&err.body()).unwrap_or_default();
        match record(orders, key, status, &body) {
            Ok(write) => orders.transact(vec![write]).await.map(|_| ()),
            Err(e) => Err(e),
        }
    } else {
        orders
            .client()
            .delete_item()
            .table_name(orders.table())
            .key(PK, dynamo::s(key.0.clone()))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo::sdk_error)
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "could not settle an idempotency key; it lapses in a minute");
    }
}
