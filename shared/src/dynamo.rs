//! DynamoDB access: the client, table names, table creation, and what failures mean.
//!
//! The client comes from the standard AWS environment: `AWS_ENDPOINT_URL_DYNAMODB` points it at
//! DynamoDB Local, otherwise the normal chain applies. Creating it makes no network call; the first
//! request connects.

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
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
}

/// A client built from the process environment.
pub async fn client() -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    Client::new(&config)
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
        let created = client
            .create_table()
            .table_name(prefix.table(spec))
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(keys))
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

/// Converts an entity into the item to write.
pub fn item_of<T: serde::Serialize>(
    entity: &T,
) -> Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, ApiError> {
    to_item(entity).map_err(ApiError::internal)
}
