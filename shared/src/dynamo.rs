//! DynamoDB access: the client, table names, table creation, and what failures mean.
//!
//! The client comes from the standard AWS environment: `AWS_ENDPOINT_URL_DYNAMODB` points it at
//! DynamoDB Local, otherwise the normal chain applies. Creating it makes no network call; the first
//! request connects. Every call has a deadline ([`timeouts`]), so a DynamoDB that stops answering
//! costs a request a few seconds and a 503, never a hang.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};

use crate::config::{Env, FromEnv};
use crate::error::ApiError;

pub use aws_sdk_dynamodb;
pub use serde_dynamo::{from_item, to_item};

/// The partition key attribute of every table.
pub const PK: &str = "pk";
/// The sort key attribute of tables that have one.
pub const SK: &str = "sk";

/// `TABLE_PREFIX`: every table name starts with it, so that tests and environments can share one
/// DynamoDB.
#[derive(Debug, Clone)]
pub struct TablePrefix(pub String);

impl FromEnv for TablePrefix {
    fn from_env(env: &mut Env) -> Self {
        let prefix = env.string_or("TABLE_PREFIX", "ticketing-");
        let valid = prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid || prefix.len() > 200 {
            env.invalid(
                "TABLE_PREFIX",
                "use at most 200 characters of a-z, A-Z, 0-9, '-', '_', '.'",
            );
        }
        Self(prefix)
    }
}

impl TablePrefix {
    pub fn table(&self, spec: &TableSpec) -> String {
        format!("{}{}", self.0, spec.name)
    }
}

/// A table a bounded context owns: its name without prefix, and its keys.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub name: &'static str,
    /// Whether the table has the `sk` sort key besides the `pk` partition key.
    pub sort_key: bool,
    /// Whether the table has the secondary index [`INDEX`] on `gsi1pk` / `gsi1sk`, which lists a
    /// partition's items (a user's orders, the listings) in id order.
    pub index: bool,
}

/// The one global secondary index a table may have, and its key attributes.
pub const INDEX: &str = "gsi1";
pub const INDEX_PK: &str = "gsi1pk";
pub const INDEX_SK: &str = "gsi1sk";

/// How long a connection may take to open. DynamoDB is in the same region (or on loopback); a
/// connection that takes longer is not going to work.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one attempt may wait for its answer. A loaded DynamoDB Local (a ticket drop: 200
/// transactions in flight on one item) takes up to about 2 s for a transaction (its own p99 in the
/// bench is 1.8 s), and AWS answers in milliseconds; past 3 s the attempt is presumed lost. Lower
/// would time out healthy transactions during a drop, and a timed-out transaction may still commit,
/// which is exactly the ambiguity to avoid.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one operation may take, its SDK retries included: one slow attempt, then a short
/// retry. A request makes one or two DynamoDB calls before it knows DynamoDB is down, so this keeps
/// it well under the request deadline (`REQUEST_TIMEOUT_SECONDS`, 10 s by default).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`transact`] may spend on one write, its retries after conflicts included: 12 attempts
/// of up to [`OPERATION_TIMEOUT`] each must not add up to a minute. Still below the request deadline,
/// so the caller hears a 503 from here rather than from the deadline.
const TRANSACT_DEADLINE: Duration = Duration::from_secs(8);

/// The deadlines of every DynamoDB call a function makes.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// How long the one attempt of a patient transaction ([`Writes::commit_patiently`]) may wait.
/// Under a crowd DynamoDB Local queued an admitted buyer's order for more than [`ATTEMPT_TIMEOUT`]:
/// the SDK then sent it again while the first still ran, which doubled the load that delayed it,
/// and the buyer heard 503 for an order that committed. Below [`TRANSACT_DEADLINE`], so that the
/// caller still hears 503 from here rather than from the request's deadline.
const PATIENT_ATTEMPT: Duration = Duration::from_secs(7);

fn patient_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(PATIENT_ATTEMPT)
        .operation_timeout(PATIENT_ATTEMPT)
        .build()
}

/// Table administration (provisioning, tests' own tables) is no request's business and a cold
/// DynamoDB Local can take seconds to create a table: it gets generous deadlines instead.
fn admin_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// A client built from [`sdk_config`].
pub async fn client() -> Client {
    Client::new(&sdk_config().await)
}

/// What every client is built from: the process environment and [`timeouts`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

fn admin_config() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default().timeout_config(admin_timeouts())
}

/// Creates each table that does not exist yet. Safe to run again, and concurrently.
pub async fn ensure_tables(
    client: &Client,
    prefix: &TablePrefix,
    specs: &[TableSpec],
) -> Result<(), ApiError> {
    for spec in specs {
        let mut attributes = vec![string_attribute(PK)?];
        let mut keys = vec![key(PK, KeyType::Hash)?];
        if spec.sort_key {
            attributes.push(string_attribute(SK)?);
            keys.push(key(SK, KeyType::Range)?);
        }
        let mut indexes = Vec::new();
        if spec.index {
            attributes.push(string_attribute(INDEX_PK)?);
            attributes.push(string_attribute(INDEX_SK)?);
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(INDEX)
                    .key_schema(key(INDEX_PK, KeyType::Hash)?)
                    .key_schema(key(INDEX_SK, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(ApiError::internal)?,
            );
        }
        let created = client
            .create_table()
            .table_name(prefix.table(spec))
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(keys))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .customize()
            .config_override(admin_config())
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(err) => return Err(sdk_error(err)),
        }
    }
    Ok(())
}

/// Deletes the tables; missing ones are fine.
pub async fn delete_tables(
    client: &Client,
    prefix: &TablePrefix,
    specs: &[TableSpec],
) -> Result<(), ApiError> {
    for spec in specs {
        let deleted = client
            .delete_table()
            .table_name(prefix.table(spec))
            .customize()
            .config_override(admin_config())
            .send()
            .await;
        match deleted {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(err) => return Err(sdk_error(err)),
        }
    }
    Ok(())
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, ApiError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(ApiError::internal)
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, ApiError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(ApiError::internal)
}

/// Error codes that mean "try again shortly", not "this request is wrong".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Maps an SDK failure that no domain rule explains: an unreachable or overloaded DynamoDB is 503,
/// anything else a 500.
pub fn sdk_error<E, R>(err: SdkError<E, R>) -> ApiError
where
    E: StdError + ProvideErrorMetadata + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        _ => false,
    };
    if transient {
        ApiError::unavailable(err)
    } else {
        ApiError::internal(err)
    }
}

/// Converts an item read from DynamoDB into its entity type. A stored item that no longer parses is a
/// bug, not the client's fault.
pub fn parse_item<T: serde::de::DeserializeOwned>(
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Result<T, ApiError> {
    from_item(item).map_err(ApiError::internal)
}

/// One table of a context: the client and the table's full name. Each context's store wraps one and
/// adds the reads and writes of its own items.
#[derive(Clone)]
pub struct Table {
    client: Client,
    name: String,
}

impl Table {
    pub fn new(client: Client, prefix: &TablePrefix, spec: &TableSpec) -> Self {
        Self {
            client,
            name: prefix.table(spec),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The full table name.
    pub fn table(&self) -> &str {
        &self.name
    }

    /// An item by its partition key (tables without a sort key).
    pub async fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: String,
    ) -> Result<Option<T>, ApiError> {
        get(&self.client, &self.name, key).await
    }

    pub async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Refused>, ApiError> {
        transact(&self.client, items).await
    }

    /// The write, for a transaction, that puts `entity` as a new item: its condition fails where
    /// an item with that key exists already.
    pub fn insert<T: serde::Serialize>(&self, entity: &T) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(&self.name)
            .set_item(Some(item_of(entity)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Puts `entity` as a new item unless one with its key is there already (a copy that a
    /// repeated event must not change); whether it was written.
    pub async fn put_once<T: serde::Serialize>(&self, entity: &T) -> Result<bool, ApiError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item_of(entity)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error(err)),
        }
    }
}

/// Reads one item by its partition key (strongly consistent) as its entity type.
pub async fn get<T: serde::de::DeserializeOwned>(
    client: &Client,
    table: &str,
    key: String,
) -> Result<Option<T>, ApiError> {
    let found = client
        .get_item()
        .table_name(table)
        .key(PK, AttributeValue::S(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk_error)?;
    found.item.map(parse_item).transpose()
}

/// Converts an entity into the item to write.
pub fn item_of<T: serde::Serialize>(
    entity: &T,
) -> Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, ApiError> {
    to_item(entity).map_err(ApiError::internal)
}

/// An item as the SDK holds it.
pub type Item = std::collections::HashMap<String, AttributeValue>;

/// A string attribute value.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A transaction DynamoDB refused because of its items' conditions: which items failed, and (for
/// the items that asked for it) what they held at that moment.
#[derive(Debug, Default)]
pub struct Refused {
    pub failed: Vec<bool>,
    pub old: Vec<Option<Item>>,
}

impl Refused {
    /// Whether the condition of the item at `index` (in the order given) failed.
    pub fn failed(&self, index: usize) -> bool {
        self.failed.get(index).copied().unwrap_or(false)
    }

    pub fn old(&self, index: usize) -> Option<&Item> {
        self.old.get(index).and_then(Option::as_ref)
    }
}

/// The writes of one transaction, each named by what it is (`L`, a store's own enum), so that a
/// refusal is read by name ("the hold's condition failed"), never by position.
#[derive(Debug, Clone)]
pub struct Writes<L> {
    items: Vec<TransactWriteItem>,
    labels: Vec<L>,
}

impl<L> Default for Writes<L> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            labels: Vec::new(),
        }
    }
}

impl<L: Copy + PartialEq> Writes<L> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a write under its name.
    pub fn add(&mut self, label: L, item: TransactWriteItem) -> &mut Self {
        self.items.push(item);
        self.labels.push(label);
        self
    }

    /// Runs them as one transaction ([`transact`]): done, or which named writes were refused.
    pub async fn commit(self, client: &Client) -> Result<Result<(), Rejected<L>>, ApiError> {
        self.commit_within(client, Patience::Usual).await
    }

    /// [`Writes::commit`] for a write that had better wait for a loaded DynamoDB than be sent
    /// twice: each attempt waits up to [`PATIENT_ATTEMPT`], and one that timed out is not sent
    /// again.
    pub async fn commit_patiently(
        self,
        client: &Client,
    ) -> Result<Result<(), Rejected<L>>, ApiError> {
        self.commit_within(client, Patience::Patient).await
    }

    async fn commit_within(
        self,
        client: &Client,
        patience: Patience,
    ) -> Result<Result<(), Rejected<L>>, ApiError> {
        let labels = self.labels;
        Ok(transact_within(client, self.items, patience)
            .await?
            .map_err(|refused| {
                let mut rejected = Rejected {
                    failed: Vec::new(),
                    old: Vec::new(),
                };
                for (index, label) in labels.into_iter().enumerate() {
                    if refused.failed(index) {
                        rejected.failed.push(label);
                    }
                    if let Some(item) = refused.old(index) {
                        rejected.old.push((label, item.clone()));
                    }
                }
                rejected
            }))
    }
}

/// A transaction of [`Writes`] refused by conditions: the names of the writes whose condition
/// failed, and what the items that asked for it held at that moment.
#[derive(Debug)]
pub struct Rejected<L> {
    failed: Vec<L>,
    old: Vec<(L, Item)>,
}

impl<L: Copy + PartialEq> Rejected<L> {
    /// Whether the condition of the write named `label` failed.
    pub fn failed(&self, label: L) -> bool {
        self.failed.contains(&label)
    }

    /// The writes whose condition failed.
    pub fn failures(&self) -> &[L] {
        &self.failed
    }

    /// What the item of the write named `label` held when its condition failed, if it asked.
    pub fn old(&self, label: L) -> Option<&Item> {
        self.old
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, item)| item)
    }
}

/// How often a transaction that collided with another one on the same item is tried again before
/// the caller is told to retry. A hot listing during a drop is exactly this case.
const CONFLICT_ATTEMPTS: u32 = 12;

/// Runs the items as one `TransactWriteItems`. A transaction that only collided with a concurrent one
/// (no condition failed) is tried again after a short random pause; one whose conditions failed
/// comes back as [`Refused`] for the caller to explain. All of it within [`TRANSACT_DEADLINE`]: past
/// that the caller gets a 503, and whether the last attempt committed is unknown (an
/// `Idempotency-Key` makes the retry safe).
pub async fn transact(
    client: &Client,
    items: Vec<TransactWriteItem>,
) -> Result<Result<(), Refused>, ApiError> {
    transact_within(client, items, Patience::Usual).await
}

/// How long each attempt of a transaction may wait for DynamoDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patience {
    /// The client's deadlines ([`timeouts`]).
    Usual,
    /// One attempt of up to [`PATIENT_ATTEMPT`], not sent again after it times out.
    Patient,
}

async fn transact_within(
    client: &Client,
    items: Vec<TransactWriteItem>,
    patience: Patience,
) -> Result<Result<(), Refused>, ApiError> {
    tokio::time::timeout(
        TRANSACT_DEADLINE,
        transact_until_settled(client, items, patience),
    )
    .await
    .unwrap_or_else(|_| {
        Err(ApiError::unavailable(format!(
            "transaction not settled within {TRANSACT_DEADLINE:?}"
        )))
    })
}

async fn transact_until_settled(
    client: &Client,
    items: Vec<TransactWriteItem>,
    patience: Patience,
) -> Result<Result<(), Refused>, ApiError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = client
            .transact_write_items()
            .set_transact_items(Some(items.clone()));
        let result = match patience {
            Patience::Usual => request.send().await,
            Patience::Patient => {
                request
                    .customize()
                    .config_override(
                        aws_sdk_dynamodb::config::Builder::default()
                            .timeout_config(patient_timeouts()),
                    )
                    .send()
                    .await
            }
        };
        let err = match result {
            Ok(_) => return Ok(Ok(())),
            Err(err) => err,
        };
        let Some(reasons) = err.as_service_error().and_then(|e| match e {
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                Some(c.cancellation_reasons().to_vec())
            }
            _ => None,
        }) else {
            let conflicting = err
                .as_service_error()
                .and_then(ProvideErrorMetadata::code)
                .is_some_and(|code| code == "TransactionConflictException");
            if conflicting && attempt < CONFLICT_ATTEMPTS {
                pause_before_retry(attempt).await;
                continue;
            }
            return Err(sdk_error(err));
        };
        let failed: Vec<bool> = reasons
            .iter()
            .map(|r| r.code() == Some("ConditionalCheckFailed"))
            .collect();
        if failed.iter().any(|f| *f) {
            let old = reasons.iter().map(|r| r.item().cloned()).collect();
            return Ok(Err(Refused { failed, old }));
        }
        if attempt < CONFLICT_ATTEMPTS {
            pause_before_retry(attempt).await;
            continue;
        }
        return Err(ApiError::unavailable(format!(
            "transaction still conflicting after {attempt} attempts: {reasons:?}"
        )));
    }
}

/// A random pause that grows with the attempt, so that colliding writers spread out.
async fn pause_before_retry(attempt: u32) {
    let ceiling_ms = 5u64 << attempt.min(6);
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    let pause = std::time::Duration::from_millis(1 + random % ceiling_ms);
    tokio::time::sleep(pause).await;
}

/// Whether an SDK error is a failed condition of a single-item write.
pub fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}
