//! The one runtime every function binary runs on.
//!
//! On Knative (the default) it listens on `$PORT` and drains in-flight requests on SIGTERM. When
//! `AWS_LAMBDA_RUNTIME_API` is set it serves the same router through `lambda_http` instead; the check
//! comes first because the Lambda runtime panics outside Lambda.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use axum::Router;

use crate::config::{Env, FromEnv};
use crate::{routing, telemetry};

/// Where to listen when not on Lambda: `LISTEN_HOST` (default `0.0.0.0`, as a container needs) and
/// `PORT` (default 8080, as Knative sets it).
#[derive(Debug, Clone, Copy)]
pub struct Listen(pub SocketAddr);

impl FromEnv for Listen {
    fn from_env(env: &mut Env) -> Self {
        let host: IpAddr = env.parsed_or("LISTEN_HOST", IpAddr::from([0, 0, 0, 0]));
        let port: u16 = env.parsed_or("PORT", 8080);
        Self(SocketAddr::new(host, port))
    }
}

/// Runs a function: reads its settings (`C`), builds its router, serves it until told to stop.
///
/// A configuration problem ends the process with status 1 and one line per problem on stderr.
pub fn run<C, F, Fut>(name: &str, build: F) -> ExitCode
where
    C: FromEnv,
    F: FnOnce(C) -> Fut,
    Fut: Future,
    Fut::Output: IntoApp,
{
    telemetry::init();
    let mut env = Env::new();
    let listen = Listen::from_env(&mut env);
    let deadline = routing::RequestDeadline::from_env(&mut env);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // The Lambda runtime panics without these; Lambda always sets them, a hand-made
        // environment may not.
        let _ = env.required("AWS_LAMBDA_FUNCTION_NAME");
        let _ = env.required("AWS_LAMBDA_FUNCTION_VERSION");
        let _: i32 = env.parsed_or("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0);
        let _ = env.required("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    }
    let settings = C::from_env(&mut env);
    if let Err(code) = finish_config(name, env) {
        return code;
    }
    let runtime = match async_runtime(name) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let router = match build(settings).await.into_app() {
            Ok(router) => routing::finish_within(router, deadline),
            Err(err) => {
                eprintln!("{name}: cannot start: {err}");
                return ExitCode::FAILURE;
            }
        };
        match serve(name, router, listen).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(function = name, error = %err, "stopped with an error");
                ExitCode::FAILURE
            }
        }
    })
}

/// Ends reading the environment: every problem on its own line of stderr, and the exit code to stop
/// with.
pub fn finish_config(name: &str, env: Env) -> Result<(), ExitCode> {
    env.finish().map_err(|err| {
        for problem in err.problems {
            eprintln!("{name}: configuration error: {problem}");
        }
        ExitCode::FAILURE
    })
}

/// The multi-threaded Tokio runtime a process runs on.
pub fn async_runtime(name: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("{name}: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        })
}

/// What a function's builder returns: its router, or why it cannot start.
pub trait IntoApp {
    fn into_app(self) -> Result<Router, String>;
}

impl IntoApp for Router {
    fn into_app(self) -> Result<Router, String> {
        Ok(self)
    }
}

impl<E: std::fmt::Display> IntoApp for Result<Router, E> {
    fn into_app(self) -> Result<Router, String> {
        self.map_err(|err| err.to_string())
    }
}

async fn serve(
    name: &str,
    router: Router,
    listen: Listen,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        tracing::info!(function = name, "serving on AWS Lambda");
        return lambda_http::run(router).await;
    }
    let listener = tokio::net::TcpListener::bind(listen.0).await?;
    tracing::info!(function = name, address = %listen.0, "listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!(function = name, "stopped");
    Ok(())
}

/// Resolves on SIGTERM (Knative scaling down) or Ctrl-C.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
