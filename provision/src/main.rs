//! `provision`: creates the tables under `TABLE_PREFIX` and the JetStream stream at `NATS_URL`.

use std::process::ExitCode;

use shared::config::{Env, FromEnv};
use shared::dynamo::TablePrefix;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let mut env = Env::new();
    let prefix = TablePrefix::from_env(&mut env);
    let nats_url = env.required("NATS_URL");
    let stream = provision::StreamSpec::from_env(&mut env);
    if let Err(err) = env.finish() {
        for problem in err.problems {
            eprintln!("provision: configuration error: {problem}");
        }
        return ExitCode::FAILURE;
    }
    if let Err(err) = provision::create_tables(&prefix).await {
        eprintln!("provision: cannot create tables: {err}");
        return ExitCode::FAILURE;
    }
    if let Err(err) = provision::create_stream(&nats_url, &stream).await {
        // Name the limits: JetStream reserves max bytes of its storage up front and refuses a
        // stream it cannot reserve for.
        eprintln!(
            "provision: cannot create or update the stream {} (max age {} s, max bytes {}, {} \
             replicas; NATS_STREAM_MAX_AGE_SECONDS / NATS_STREAM_MAX_BYTES / NATS_STREAM_REPLICAS \
             change them): {err}",
            stream.name,
            stream.max_age.as_secs(),
            stream.max_bytes,
            stream.replicas
        );
        return ExitCode::FAILURE;
    }
    tracing::info!(prefix = %prefix.0, "tables and stream are ready");
    ExitCode::SUCCESS
}
