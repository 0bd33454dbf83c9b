//! Creates what the functions expect to exist: every context's DynamoDB tables and the JetStream
//! stream. Idempotent, so `make run`, the tests and the cluster's set-up Job can all run it.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use shared::dynamo::{self, TablePrefix, TableSpec};
use shared::error::ApiError;

/// Every table of every context.
pub fn tables() -> Vec<TableSpec> {
    [
        auth::TABLES,
        tickets::TABLES,
        orders::TABLES,
        expiration::TABLES,
        payments::TABLES,
    ]
    .concat()
}

/// The stream every event goes to, with the subjects it captures.
pub struct StreamSpec {
    pub name: String,
    pub subjects: Vec<String>,
}

impl Default for StreamSpec {
    fn default() -> Self {
        Self {
            name: "TICKETING".to_owned(),
            subjects: vec!["ticketing.>".to_owned()],
        }
    }
}

pub async fn create_tables(prefix: &TablePrefix) -> Result<(), ApiError> {
    let client = dynamo::client().await;
    dynamo::ensure_tables(&client, prefix, &tables()).await
}

/// Creates the stream (file storage, a two-minute duplicate window for `Nats-Msg-Id`), or leaves
/// an existing one as it is.
pub async fn create_stream(nats_url: &str, spec: &StreamSpec) -> Result<(), async_nats::Error> {
    let client = async_nats::connect(nats_url).await?;
    let jetstream = jetstream::new(client);
    jetstream
        .get_or_create_stream(stream::Config {
            name: spec.name.clone(),
            subjects: spec.subjects.clone(),
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await?;
    Ok(())
}
