//! `devstack`: the whole system on one machine, on loopback ports.
//!
//! `devstack up` starts DynamoDB Local, NATS with JetStream, localstripe, creates the tables and the
//! stream, starts every function as its own process and NGINX in front, and prints the URL. From then
//! on a process that exits is started again (as a cluster restarts a crashed pod), with what it needs
//! to be usable again (tables for a DynamoDB Local in memory, the webhook for localstripe); on Ctrl-C
//! or SIGTERM it stops everything it started. A process dying while the stack starts is fatal.
//!
//! `devstack deps -- COMMAND…` starts only the dependencies (restarting them too), runs COMMAND with
//! their addresses in its environment (this is how `make test` gives integration tests a real
//! DynamoDB Local and NATS), stops them, and exits with COMMAND's status.
//!
//! `EXTERNAL_NATS_URL` (comma-separated servers, e.g. a JetStream cluster) makes both use NATS
//! servers that already run instead of starting one.
//!
//! Each run moves the previous runs' logs to `logs.1`…`logs.5` and starts a fresh `logs/`.
//!
//! `devstack functions` lists the function binaries, one per line, in port order: the Services of
//! `knative/base/kustomization.yaml` (see [`devstack::functions`]).
//!
//! `devstack env` prints, as `NAME=value` lines, the environment the functions get for the ports and
//! prefix in its own environment (the benchmarks start functions of their own beside a stack).

mod localstripe;
mod nginx;
mod probe;
mod settings;
mod supervisor;

use std::process::ExitCode;
use std::time::Duration;

use settings::Settings;
use supervisor::{Spec, Supervisor};

/// Runs whose logs are kept besides the current one (`logs.1` is the last).
const KEPT_LOGS: usize = 5;

const USAGE: &str =
    "usage: devstack up | devstack deps -- COMMAND [ARGS…] | devstack functions | devstack env";

// One thread: children are spawned from it, and PR_SET_PDEATHSIG follows the spawning thread.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(problems) => {
            for problem in problems {
                eprintln!("devstack: {problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    let command_name = args.first().map_or("up", String::as_str);
    if matches!(command_name, "up" | "functions")
        && let Err(problem) = settings.load_functions()
    {
        eprintln!("devstack: {problem}");
        return ExitCode::FAILURE;
    }
    if command_name == "functions" {
        for function in &settings.functions {
            println!("{function}");
        }
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("env") {
        for (name, value) in settings.service_env() {
            println!("{name}={value}");
        }
        return ExitCode::SUCCESS;
    }
    let (whole_stack, command) = match args.first().map(String::as_str) {
        None | Some("up") => (true, Vec::new()),
        Some("deps") => {
            let command: Vec<String> = args
                .iter()
                .skip(1)
                .skip_while(|a| *a == "--")
                .cloned()
                .collect();
            if command.is_empty() {
                eprintln!("devstack: {USAGE}");
                return ExitCode::FAILURE;
            }
            (false, command)
        }
        Some(_) => {
            eprintln!("devstack: {USAGE}");
            return ExitCode::FAILURE;
        }
    };
    // Before touching the run directory: a stack already on these ports may be using it.
    if let Err(problem) = ports_free(&settings, whole_stack)
        .and_then(|()| supervisor::rotate_logs(&settings.run_dir, KEPT_LOGS))
    {
        eprintln!("devstack: {problem}");
        return ExitCode::FAILURE;
    }
    let mut supervisor = Supervisor::new(&settings.run_dir);
    let outcome = if whole_stack {
        up(&settings, &mut supervisor).await
    } else {
        deps(&settings, &mut supervisor, &command).await
    };
    supervisor.stop_all().await;
    settings.clean_scratch();
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("devstack: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts DynamoDB Local, NATS (unless `EXTERNAL_NATS_URL` names servers that already run) and
/// localstripe, and waits until each accepts connections.
async fn start_dependencies(
    settings: &Settings,
    supervisor: &mut Supervisor,
) -> Result<(), String> {
    std::fs::create_dir_all(&settings.run_dir)
        .map_err(|e| format!("cannot create {}: {e}", settings.run_dir.display()))?;
    supervisor.spawn("dynamodb-local", settings.dynamodb_command()?)?;
    let mut started = vec![
        ("dynamodb-local", settings.dynamodb_port),
        ("localstripe", settings.stripe_port),
    ];
    if settings.external_nats.is_none() {
        supervisor.spawn("nats-server", settings.nats_command()?)?;
        started.push(("nats-server", settings.nats_port));
    }
    supervisor.spawn("localstripe", settings.stripe_command()?)?;
    for (name, port) in started {
        supervisor
            .wait_until(name, || probe::port_open(port), Duration::from_secs(60))
            .await?;
    }
    Ok(())
}

/// Checks that nothing listens on the ports the stack (or only its dependencies) will take.
fn ports_free(settings: &Settings, whole_stack: bool) -> Result<(), String> {
    probe::ensure_free(settings.dynamodb_port, "DYNAMODB_PORT")?;
    if settings.external_nats.is_none() {
        probe::ensure_free(settings.nats_port, "NATS_PORT")?;
    }
    probe::ensure_free(settings.stripe_port, "STRIPE_PORT")?;
    if whole_stack {
        probe::ensure_free(settings.http_port, "HTTP_PORT")?;
        for (function, port) in settings.function_ports() {
            probe::ensure_free(port, function)?;
        }
    }
    Ok(())
}

async fn up(settings: &Settings, supervisor: &mut Supervisor) -> Result<ExitCode, String> {
    start_dependencies(settings, supervisor).await?;
    let env = settings.service_env();
    let mut provision = Spec::new(settings.bin_dir.join("provision"));
    provision.envs(&env);
    supervisor.run_to_end("provision", &provision).await?;

    for (function, port) in settings.function_ports() {
        let mut command = Spec::new(settings.bin_dir.join(function));
        command.envs(&env).env("PORT", port.to_string());
        supervisor.spawn(function, command)?;
    }
    for (function, port) in settings.function_ports() {
        supervisor
            .wait_until(function, || probe::healthy(port), Duration::from_secs(30))
            .await?;
    }

    let services: Vec<String> = settings
        .function_ports()
        .map(|(function, port)| format!("{function}=http://127.0.0.1:{port}"))
        .collect();
    let mut bridge = Spec::new(settings.bin_dir.join("nats-bridge"));
    bridge
        .envs(&env)
        .env("SERVICE_URLS", services.join(","))
        .env("KNATIVE_DIR", settings.project_dir.join("knative/base"));
    supervisor.spawn("nats-bridge", bridge)?;

    let conf =
        nginx::render(settings).map_err(|e| format!("cannot write the NGINX config: {e}"))?;
    supervisor.spawn("nginx", nginx::command(&conf))?;
    supervisor
        .wait_until(
            "nginx",
            || probe::port_open(settings.http_port),
            Duration::from_secs(15),
        )
        .await?;

    let webhook = localstripe::Webhook {
        stripe_port: settings.stripe_port,
        url: format!(
            "http://127.0.0.1:{}/api/payments/webhook",
            settings.http_port
        ),
        secret: env
            .get("STRIPE_WEBHOOK_SECRET")
            .cloned()
            .unwrap_or_default(),
    };
    webhook.register().await?;

    recover_after_restarts(settings, supervisor, &provision, webhook);
    println!("Storefront: http://127.0.0.1:{}/", settings.http_port);
    println!(
        "Logs: {}  (Ctrl-C stops everything)",
        settings.run_dir.join("logs").display()
    );
    let reason = supervisor.supervise().await;
    eprintln!("devstack: {reason}; stopping");
    Ok(ExitCode::SUCCESS)
}

/// What a restarted dependency does not bring back by itself.
///
/// NATS needs nothing: it restarts on the same store directory, where the stream and the bridge's
/// durable consumers are (file storage). DynamoDB Local in memory comes back empty: the tables and
/// the stream are provisioned again (their data is lost, as with any in-memory database; with
/// `PERSIST=true` they are kept and provisioning finds them). localstripe reloads its state file but
/// not the webhook endpoint, which is registered again.
fn recover_after_restarts(
    settings: &Settings,
    supervisor: &mut Supervisor,
    provision: &Spec,
    webhook: localstripe::Webhook,
) {
    let log_dir = supervisor.log_dir().to_path_buf();
    let provision = provision.clone();
    let dynamodb_port = settings.dynamodb_port;
    supervisor.on_restart("dynamodb-local", move || {
        let log_dir = log_dir.clone();
        let provision = provision.clone();
        async move {
            probe::wait_for_port(dynamodb_port, Duration::from_secs(60)).await?;
            supervisor::run_to_end(&log_dir, "provision", &provision).await?;
            Ok("tables and stream provisioned again".to_owned())
        }
    });
    supervisor.on_restart("localstripe", move || {
        let webhook = webhook.clone();
        async move {
            probe::wait_for_port(webhook.stripe_port, Duration::from_secs(60)).await?;
            webhook.register().await?;
            Ok("webhook endpoint registered again".to_owned())
        }
    });
}

async fn deps(
    settings: &Settings,
    supervisor: &mut Supervisor,
    command: &[String],
) -> Result<ExitCode, String> {
    start_dependencies(settings, supervisor).await?;
    let env = settings.service_env();
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .envs(&env)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", command[0]))?;
    tokio::select! {
        status = child.wait() => {
            let status = status.map_err(|e| e.to_string())?;
            Ok(ExitCode::from(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1))))
        }
        reason = supervisor.supervise() => {
            let _ = child.kill().await;
            Err(format!("{reason} while running {}", command[0]))
        }
    }
}
