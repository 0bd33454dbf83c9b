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
    if let Err(err) = provision::create_stream(&nats_url, &provision::StreamSpec::default()).await {
        eprintln!("provision: cannot create the stream: {err}");
        return ExitCode::FAILURE;
    }
    tracing::info!(prefix = %prefix.0, "tables and stream are ready");
    ExitCode::SUCCESS
}
