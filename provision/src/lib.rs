//! Creates what the functions expect to exist: every context's DynamoDB tables and the JetStream
//! stream. Idempotent, so `make run`, the tests and the cluster's set-up Job can all run it.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use shared::config::{Env, FromEnv};
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
        passes::TABLES,
    ]
    .concat()
}

/// How long the stream keeps a message by default: a week.
pub const MAX_AGE_SECONDS: u64 = 7 * 24 * 3600;
/// How many bytes the stream keeps by default: 1 GiB, a drop day's events many times over and small
/// enough for a laptop. JetStream reserves this much of the server's storage when the stream is
/// created, so the server must have it to give.
pub const MAX_BYTES: i64 = 1 << 30;

/// The stream every event goes to, with the subjects it captures and what it keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    pub name: String,
    pub subjects: Vec<String>,
    /// Older messages are removed, dead letters among them.
    pub max_age: Duration,
    /// Beyond this the oldest messages are removed.
    pub max_bytes: i64,
    /// Copies of the stream across a JetStream cluster: 1 for a single server, 3 to survive losing
    /// any one server of a cluster of three or more.
    pub replicas: usize,
}

impl Default for StreamSpec {
    fn default() -> Self {
        Self {
            name: "TICKETING".to_owned(),
            subjects: vec!["ticketing.>".to_owned()],
            max_age: Duration::from_secs(MAX_AGE_SECONDS),
            max_bytes: MAX_BYTES,
            replicas: 1,
        }
    }
}

/// `NATS_STREAM_MAX_AGE_SECONDS` and `NATS_STREAM_MAX_BYTES` override the limits,
/// `NATS_STREAM_REPLICAS` (1 to 5, JetStream's own bounds) the number of copies.
impl FromEnv for StreamSpec {
    fn from_env(env: &mut Env) -> Self {
        let max_age: u64 = env.parsed_or("NATS_STREAM_MAX_AGE_SECONDS", MAX_AGE_SECONDS);
        if max_age == 0 {
            env.invalid("NATS_STREAM_MAX_AGE_SECONDS", "must be at least 1");
        }
        let max_bytes: i64 = env.parsed_or("NATS_STREAM_MAX_BYTES", MAX_BYTES);
        if max_bytes < 1 << 20 {
            env.invalid("NATS_STREAM_MAX_BYTES", "must be at least 1048576 (1 MiB)");
        }
        let replicas: usize = env.parsed_or("NATS_STREAM_REPLICAS", 1);
        if !(1..=5).contains(&replicas) {
            env.invalid("NATS_STREAM_REPLICAS", "must be between 1 and 5");
        }
        Self {
            max_age: Duration::from_secs(max_age),
            max_bytes,
            replicas,
            ..Self::default()
        }
    }
}

impl StreamSpec {
    /// The JetStream configuration: file storage, a two-minute duplicate window for `Nats-Msg-Id`,
    /// the limits, and the oldest messages discarded first when one is reached.
    pub fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            discard: stream::DiscardPolicy::Old,
            num_replicas: self.replicas,
            ..Default::default()
        }
    }
}

pub async fn create_tables(prefix: &TablePrefix) -> Result<(), ApiError> {
    let client = dynamo::client().await;
    dynamo::ensure_tables(&client, prefix, &tables()).await
}

/// Creates the stream, or brings an existing one to the spec's configuration (new limits apply to
/// a stream made before them).
pub async fn create_stream(nats_url: &str, spec: &StreamSpec) -> Result<(), async_nats::Error> {
    let client = async_nats::connect(shared::config::NatsServers(nats_url)).await?;
    let jetstream = jetstream::new(client);
    jetstream.create_or_update_stream(spec.config()).await?;
    Ok(())
}
