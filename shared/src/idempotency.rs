//! `Idempotency-Key` on the requests that create something (`POST /api/orders`, `POST /api/tickets`):
//! a retry with the same key by the same user within 24 hours gets the first response again and
//! creates nothing; a retry while the first is still running gets 409.
//!
//! Each context keeps the records in its own table (`idempotency#<user>#<key>`). A record is claimed
//! with a conditional put before any work, and completed in the same transaction as the change it
//! produced, so a replayed 201 always names something that exists. A refusal (4xx) is recorded too,
//! since it is the answer; a failure (5xx) releases the key, since a retry should try again.
//!
//! Every claim carries a token of its own, and completing or releasing the record is conditioned on
//! it. That is what makes a lapsed claim safe to take over: a request that lost its claim (it ran past
//! the lapse, or its writes reached a stalled DynamoDB only after the client had given up and
//! retried) cannot complete its transaction any more, so one key never creates two things. The lapse
//! itself only decides how long a retry after a lost request waits on 409.

use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::dynamo::{self, Item, PK, Table, Writes};
use crate::error::ApiError;

pub const HEADER: &str = "idempotency-key";
pub const IN_PROGRESS: &str = "A request with this Idempotency-Key is in progress";
pub const INVALID_KEY: &str = "Idempotency-Key must be 1 to 255 characters";

const REMEMBER_SECONDS: i64 = 24 * 60 * 60;
/// How long a claim whose request never finished (killed, cut off at its deadline, lost in a stalled
/// DynamoDB) blocks retries. Longer than a request runs (`REQUEST_TIMEOUT_SECONDS`, 10 s by default),
/// so a live request keeps its key; the claim token keeps a takeover safe even if one runs longer.
const CLAIM_SECONDS: i64 = 15;
const MAX_KEY_CHARS: usize = 255;

const RUNNING: &str = "running";

/// Where a key may be taken: it has no record, or one past its time, or a claim that lapsed.
const CLAIMABLE: &str =
    "attribute_not_exists(#pk) OR #ttl < :now OR (#state = :running AND claimedUntil < :now)";
const DONE: &str = "done";

/// A user's key (the record's partition key) and this request's claim token.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    key: String,
    claim: String,
}

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
        Ok(Some(Self {
            key: format!("idempotency#{user_id}#{key}"),
            claim: uuid::Uuid::new_v4().to_string(),
        }))
    }
}

/// What claiming a key found.
pub enum Claim {
    /// The key is ours: do the work.
    Claimed,
    /// The work was done before: this is its response.
    Replay(Response),
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

/// The idempotency records in one context's table. A store hands these out, so its handlers keep
/// keys without building DynamoDB requests themselves.
#[derive(Clone, Copy)]
pub struct Keys<'a>(&'a Table);

impl<'a> Keys<'a> {
    pub fn new(table: &'a Table) -> Self {
        Self(table)
    }

    /// Claims the key, or finds the answer it already has.
    pub async fn claim(self, key: &IdempotencyKey) -> Result<Claim, ApiError> {
        let now = crate::time::unix_now();
        let mut record = Taking::record(key, RUNNING, now);
        record
            .item
            .insert("claimedUntil".to_owned(), dynamo::n(now + CLAIM_SECONDS));
        let put = self
            .0
            .client()
            .put_item()
            .table_name(self.0.table())
            .set_item(Some(record.item))
            .condition_expression(CLAIMABLE)
            .set_expression_attribute_names(Some(record.names))
            .set_expression_attribute_values(Some(record.values))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) if dynamo::is_condition_failure(&err) => {
                self.replay(key).await.map(Claim::Replay)
            }
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// The recorded answer of a key that someone else holds: its response when done, 409 while running.
    /// Also what a request answers when its own transaction was refused because its claim was lost.
    pub async fn replay(self, key: &IdempotencyKey) -> Result<Response, ApiError> {
        let found = self
            .0
            .client()
            .get_item()
            .table_name(self.0.table())
            .key(PK, dynamo::s(key.key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        replay_of(&found.item.unwrap_or_default())
    }

    /// The write that records the response, to go in the transaction that produced it. It holds only
    /// while this request's claim does, so a request that lost its key writes nothing at all.
    pub fn record(
        self,
        key: &IdempotencyKey,
        status: StatusCode,
        body: &str,
    ) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(key.key.clone()))
            .update_expression("SET #state = :done, #status = :status, body = :body")
            .condition_expression("#state = :running AND claim = :claim")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", dynamo::s(DONE))
            .expression_attribute_values(":running", dynamo::s(RUNNING))
            .expression_attribute_values(":claim", dynamo::s(key.claim.clone()))
            .expression_attribute_values(":status", dynamo::n(i64::from(status.as_u16())))
            .expression_attribute_values(":body", dynamo::s(body))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The write that records the response of a request that did not claim its key first: a put
    /// that holds only where a claim would (no record, or one past its time), and that brings back
    /// the record it found when it does not ([`Keys::replay_refused`]). For work that is one
    /// transaction and changes nothing outside it, the transaction itself is what keeps one key
    /// from creating two things, so the claim's extra write is saved; a retry while the first runs
    /// is not told 409 but does the same work, and whichever commits second replays the first.
    pub fn answer(
        self,
        key: &IdempotencyKey,
        status: StatusCode,
        body: &str,
    ) -> Result<TransactWriteItem, ApiError> {
        let mut record = Taking::record(key, DONE, crate::time::unix_now());
        record
            .item
            .insert("status".to_owned(), dynamo::n(i64::from(status.as_u16())));
        record.item.insert("body".to_owned(), dynamo::s(body));
        let put = Put::builder()
            .table_name(self.0.table())
            .set_item(Some(record.item))
            .condition_expression(CLAIMABLE)
            .set_expression_attribute_names(Some(record.names))
            .set_expression_attribute_values(Some(record.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The answer of a key whose [`Keys::answer`] was refused, from the record the refusal brought
    /// back: its response when done, 409 while another request holds it.
    pub fn replay_refused(self, found: Option<&Item>) -> Result<Response, ApiError> {
        match found {
            Some(item) => replay_of(item),
            None => Err(ApiError::internal(
                "a refused idempotency answer came back without its record",
            )),
        }
    }

    /// Answers a lasting refusal (4xx) of a request that did not claim its key: recorded as the
    /// key's answer, unless the key has an answer already, which is then the response. Any other
    /// error is the response as it is, and nothing is written.
    pub async fn refuse_unclaimed(
        self,
        key: &IdempotencyKey,
        err: ApiError,
    ) -> Result<Response, ApiError> {
        if !err.is_lasting_refusal() {
            return Err(err);
        }
        let body = serde_json::to_string(&err.body()).map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes.add((), self.answer(key, err.status(), &body)?);
        match writes.commit(self.0.client()).await? {
            Ok(()) => Err(err),
            Err(refused) => self.replay_refused(refused.old(())),
        }
    }

    /// Settles a claim after work that did not record its response itself: a refusal is remembered,
    /// anything else releases the key for a retry. Either only while the claim is still this request's.
    pub async fn settle(self, key: &IdempotencyKey, err: &ApiError) {
        let status = err.status();
        let settled = if err.is_lasting_refusal() {
            let body = serde_json::to_string(&err.body()).unwrap_or_default();
            match self.record(key, status, &body) {
                Ok(write) => self.0.transact(vec![write]).await.map(|_| ()),
                Err(e) => Err(e),
            }
        } else {
            let deleted = self
                .0
                .client()
                .delete_item()
                .table_name(self.0.table())
                .key(PK, dynamo::s(key.key.clone()))
                .condition_expression("#state = :running AND claim = :claim")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":running", dynamo::s(RUNNING))
                .expression_attribute_values(":claim", dynamo::s(key.claim.clone()))
                .send()
                .await;
            match deleted {
                // Someone else's claim now, or done after all: not ours to release.
                Err(e) if dynamo::is_condition_failure(&e) => Ok(()),
                other => other.map(|_| ()).map_err(dynamo::sdk_error),
            }
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, "could not settle an idempotency key; it lapses in {CLAIM_SECONDS} s");
        }
    }
}

/// A put that takes a key ([`CLAIMABLE`]): the record's attributes, and the condition's names and
/// values.
struct Taking {
    item: Item,
    names: std::collections::HashMap<String, String>,
    values: Item,
}

impl Taking {
    /// The record of `key` in `state`, as of `now` (Unix seconds).
    fn record(key: &IdempotencyKey, state: &str, now: i64) -> Self {
        let text = |(name, value): (&str, &str)| (name.to_owned(), dynamo::s(value));
        let mut item: Item = [
            (PK, key.key.as_str()),
            ("entity", "idempotency"),
            ("state", state),
            ("claim", key.claim.as_str()),
        ]
        .map(text)
        .into_iter()
        .collect();
        item.insert("ttl".to_owned(), dynamo::n(now + REMEMBER_SECONDS));
        let names = [("#pk", PK), ("#ttl", "ttl"), ("#state", "state")]
            .map(|(alias, name)| (alias.to_owned(), name.to_owned()))
            .into();
        let values = [
            (":now".to_owned(), dynamo::n(now)),
            (":running".to_owned(), dynamo::s(RUNNING)),
        ]
        .into();
        Self {
            item,
            names,
            values,
        }
    }
}

/// The response a key's record holds: its answer when done, 409 while a request holds it.
fn replay_of(item: &Item) -> Result<Response, ApiError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    if text("state").as_deref() != Some(DONE) {
        return Err(ApiError::Conflict(IN_PROGRESS.to_owned()));
    }
    let status = item
        .get("status")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u16>().ok())
        .and_then(|n| StatusCode::from_u16(n).ok())
        .ok_or_else(|| ApiError::internal("idempotency record without a status"))?;
    Ok(json_text_response(status, text("body").unwrap_or_default()))
}
