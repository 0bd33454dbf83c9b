//! The `nats-bridge` process: reads its settings and the manifests, then delivers until stopped.

use std::process::ExitCode;

use nats_bridge::Settings;
use nats_bridge::routes::Routes;
use shared::config::{Env, FromEnv};

fn main() -> ExitCode {
    shared::telemetry::init();
    let mut env = Env::new();
    let settings = Settings::from_env(&mut env);
    let routes = if settings.sink.is_some() {
        Routes::default()
    } else {
        match Routes::read(&settings.knative_dir) {
            Ok(routes) => routes,
            Err(err) => {
                eprintln!("nats-bridge: {err}");
                return ExitCode::FAILURE;
            }
        }
    };
    let plan = settings.plan(&routes, &mut env);
    if let Err(code) = shared::runtime::finish_config("nats-bridge", env) {
        return code;
    }
    let runtime = match shared::runtime::async_runtime("nats-bridge") {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(nats_bridge::run(plan, shared::runtime::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nats-bridge: {err}");
            ExitCode::FAILURE
        }
    }
}
