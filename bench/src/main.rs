//! `make bench`: every figure of the performance budgets, measured in one run on this machine, written
//! to `bench/results/latest.json` and `bench/results/latest.md`.
//!
//! Starts the whole local stack from the release binaries beside this one, then measures: cold start,
//! memory and size of every function; DynamoDB Local's own ceiling for place-order's transaction; the
//! ticket drop through NGINX; the queued drop (a drop's waiting room, and its fairness); the expiry
//! sweep over many timers. Timings are reported, never judged; each drop's sold − quantity and 5xx
//! count are checked, and a run that breaks them fails.
//!
//! `bench --report` renders `latest.md` again from `latest.json`.
//! Flags: `--buyers N` (2000), `--tickets Q` (500), `--in-flight N` (200), `--starts N` (20),
//! `--timers N` (10000), `--pay-share F` (0.1), `--only guessing` (measure only sign-in under a
//! password-guessing burst and print the figures, leaving `bench/results` alone), `--only ceiling`
//! (inside `devstack deps`, no stack: sweep DynamoDB Local's single-order rate over 1 … 256 in
//! flight and print it, leaving `bench/results` alone), `--only checkins` (start the stack, measure
//! only the organiser checking in 1,000 passes, 50 in flight, and merge those figures into the
//! existing `bench/results/latest.json`, rendering `latest.md` again), `--only queued` (the same for
//! the queued drop). The queued drop's flags: `--queued-buyers N` (20000), `--queued-tickets Q`
//! (2000), `--queued-in-flight N` (1000), `--queued-on-sale-after S` (60 seconds).

mod budgets;
mod ceiling;
mod checkins;
mod cold_start;
mod cpu;
mod drop;
mod dynamo;
mod guessing;
mod images;
mod queued;
mod report;
mod results;
mod stats;
mod sweep;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::drop::DropSettings;
use crate::queued::QueuedSettings;
use crate::results::{BestSingleOrder, CeilingSweep, Guessing, Results, Storefront};

/// The parts `--only` measures alone.
const ONLY: [&str; 4] = ["guessing", "ceiling", "checkins", "queued"];

struct Options {
    drop: DropSettings,
    queued: QueuedSettings,
    starts: usize,
    timers: usize,
    /// Measure only this part: `guessing` and `ceiling` print it and write no results,
    /// `checkins` and `queued` merge it into the existing results.
    only: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        drop: DropSettings {
            buyers: 2_000,
            tickets: 500,
            in_flight: 200,
            pay_share: 0.1,
        },
        queued: QueuedSettings {
            buyers: 20_000,
            tickets: 2_000,
            in_flight: 1_000,
            on_sale_after: std::time::Duration::from_secs(60),
            pay_share: 0.1,
        },
        starts: 20,
        timers: 10_000,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let count = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!(
                    "{flag} must be a positive whole number, not {value:?}"
                ))
        };
        match flag.as_str() {
            "--buyers" => options.drop.buyers = count()?,
            "--tickets" => options.drop.tickets = count()?,
            "--in-flight" => options.drop.in_flight = count()?,
            "--starts" => options.starts = count()?,
            "--timers" => options.timers = count()?,
            "--queued-buyers" => options.queued.buyers = count()?,
            "--queued-tickets" => options.queued.tickets = count()?,
            "--queued-in-flight" => options.queued.in_flight = count()?,
            "--queued-on-sale-after" => {
                options.queued.on_sale_after = std::time::Duration::from_secs(count()? as u64);
            }
            "--only" if ONLY.contains(&value.as_str()) => {
                options.only = Some(value);
            }
            "--only" => {
                return Err(format!("--only takes {}, not {value:?}", ONLY.join(", ")));
            }
            "--pay-share" => {
                options.drop.pay_share = value
                    .parse::<f64>()
                    .ok()
                    .filter(|f| (0.0..=1.0).contains(f))
                    .ok_or(format!(
                        "--pay-share must be between 0 and 1, not {value:?}"
                    ))?;
                options.queued.pay_share = options.drop.pay_share;
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

/// The storefront's sizes, when it has been built.
fn storefront_size(project: &Path) -> Option<Storefront> {
    std::fs::read_to_string(project.join("target/storefront-size.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
}

/// Where the results are written, relative to the project (where `make bench` runs).
const RESULTS_DIR: &str = "bench/results";

/// What a run measured: everything, or (`--only …`) the one part.
enum Measured {
    All(Box<Results>),
    Guessing(Guessing),
    CeilingSweep(CeilingSweep),
    /// The results already written, with the part just measured (`--only checkins` or `--only
    /// queued`) in place of theirs.
    Merged(Box<Results>, Merged),
}

/// The parts measured alone and merged into the results already written.
#[derive(Clone, Copy)]
enum Merged {
    Checkins,
    Queued,
}

impl Merged {
    fn of(only: Option<&str>) -> Option<Self> {
        match only {
            Some("checkins") => Some(Self::Checkins),
            Some("queued") => Some(Self::Queued),
            _ => None,
        }
    }
}

/// The results a previous run wrote.
fn read_results(dir: &Path) -> Result<Results, String> {
    let path = dir.join("latest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `--only ceiling`: the sweep against the dependencies `devstack deps` started, from the
/// environment it gives.
async fn sweep_only() -> Result<Measured, String> {
    let var = |name: &str| {
        std::env::var(name).map_err(|_| format!("{name} is not set: run inside `devstack deps`"))
    };
    let endpoint = var("AWS_ENDPOINT_URL_DYNAMODB")?;
    let port = endpoint
        .rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse::<u16>().ok())
        .ok_or(format!("no port in AWS_ENDPOINT_URL_DYNAMODB={endpoint}"))?;
    let sweep = ceiling::sweep(port, &var("NATS_URL")?).await?;
    Ok(Measured::CeilingSweep(sweep))
}

/// The drop's view of a running stack, for the scenarios that go through NGINX.
struct StackSettings {
    base_url: String,
    run_dir: PathBuf,
    dynamodb_port: u16,
    table_prefix: String,
    jwt_key: String,
}

impl StackSettings {
    fn as_drop_stack(&self) -> drop::Stack<'_> {
        drop::Stack {
            base_url: &self.base_url,
            run_dir: &self.run_dir,
            dynamodb_port: self.dynamodb_port,
            table_prefix: &self.table_prefix,
            jwt_key: &self.jwt_key,
        }
    }
}

async fn run(options: Options) -> Result<Measured, String> {
    if options.only.as_deref() == Some("ceiling") {
        return sweep_only().await;
    }
    // `--only checkins` and `--only queued` merge into the results already written: read them
    // before starting anything.
    let written = match Merged::of(options.only.as_deref()) {
        Some(part) => Some((read_results(Path::new(RESULTS_DIR))?, part)),
        None => None,
    };
    let bin_dir: PathBuf = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .ok_or("cannot tell where the binaries are")?;
    let project =
        std::fs::canonicalize(devstack::stack::project_dir()).map_err(|e| e.to_string())?;
    let functions = devstack::functions::load(&project)?;

    eprintln!("bench: starting the local stack from {}", bin_dir.display());
    let stack = devstack::stack::Stack::start(&bin_dir, &[]).await?;
    let env = stack.function_env().await?;
    let dynamodb_port = stack.ports[1];
    let setting = |name: &str| {
        env.get(name)
            .cloned()
            .ok_or(format!("devstack env does not set {name}"))
    };
    let nats_url = setting("NATS_URL")?;
    let settings = StackSettings {
        base_url: stack.url(""),
        run_dir: stack.run_dir.clone(),
        dynamodb_port,
        table_prefix: setting("TABLE_PREFIX")?,
        jwt_key: setting("JWT_KEY")?,
    };

    if let Some((mut results, part)) = written {
        let measured = measure_merged(&mut results, part, &settings, &options.queued).await;
        stack.stop().await;
        measured?;
        return Ok(Measured::Merged(Box::new(results), part));
    }

    eprintln!("bench: sign-in's memory under 200 concurrent wrong sign-ins");
    let guessing = guessing::run(&bin_dir, &project, &env).await?;
    if options.only.as_deref() == Some("guessing") {
        stack.stop().await;
        return Ok(Measured::Guessing(guessing));
    }

    eprintln!(
        "bench: cold start of every function ({} starts each)",
        options.starts
    );
    let cold = {
        let (bin_dir, env, starts) = (bin_dir.clone(), env.clone(), options.starts);
        tokio::task::spawn_blocking(move || cold_start::run(&bin_dir, &functions, &env, starts))
            .await
            .map_err(|e| e.to_string())??
    };

    eprintln!("bench: DynamoDB Local's ceiling for the place-order transaction");
    let ceiling = ceiling::run(dynamodb_port, &nats_url, &options.drop).await?;
    eprintln!("bench: DynamoDB Local's best single-order rate, 1 … 256 in flight");
    let ceiling_sweep = ceiling::sweep(dynamodb_port, &nats_url).await?;

    eprintln!(
        "bench: ticket drop, {} buyers for {} tickets, {} in flight",
        options.drop.buyers, options.drop.tickets, options.drop.in_flight
    );
    let drop = drop::run(&settings.as_drop_stack(), &options.drop).await?;
    // A queued drop that cannot be set up fails the run at the end, as a check-in does.
    let best = best_single_order(&ceiling_sweep, "this run".to_owned());
    let queued = run_queued(&settings, &options.queued, best)
        .await
        .inspect_err(|problem| eprintln!("bench: queued drop: {problem}"))
        .ok();
    // A check-in that cannot be set up fails the run at the end, not here: the figures measured
    // so far are still written.
    let checkins = checkins::run(&settings.as_drop_stack())
        .await
        .inspect_err(|problem| eprintln!("bench: check-in: {problem}"))
        .ok();

    eprintln!("bench: expire over {} due timers", options.timers);
    let sweep = sweep::run(&bin_dir, &env, dynamodb_port, options.timers).await?;

    stack.stop().await;
    Ok(Measured::All(Box::new(Results {
        date: shared::time::rfc3339(shared::time::now()),
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        cold_start: cold,
        ceiling,
        ceiling_sweep: Some(ceiling_sweep),
        drop,
        queued,
        checkins,
        sweep,
        guessing: Some(guessing),
        storefront: storefront_size(&project),
        images: images::measure(&project).ok(),
    })))
}

/// Prints one part's figures (`--only …`), writing no results.
fn print_json(figures: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string_pretty(figures) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // `bench --report`: renders latest.md again from latest.json, without measuring.
    if std::env::args().nth(1).as_deref() == Some("--report") {
        let dir = Path::new(RESULTS_DIR);
        let rendered = read_results(dir)
            .and_then(|results| report::write(dir, &results).map_err(|e| e.to_string()));
        return match rendered {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("bench: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match options() {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("bench: {problem}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    let results = match runtime.block_on(run(options)) {
        Ok(results) => results,
        Err(problem) => {
            eprintln!("bench: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let results = match results {
        Measured::All(results) => results,
        Measured::Guessing(guessing) => return print_json(&guessing),
        Measured::CeilingSweep(sweep) => return print_json(&sweep),
        Measured::Merged(results, part) => return write_merged(&results, part),
    };
    match report::write(Path::new(RESULTS_DIR), &results) {
        Ok(summary) => {
            println!("{summary}");
            if let Some(queued) = &results.queued {
                println!("{}", report::queued_summary(queued));
            }
        }
        Err(err) => {
            eprintln!("bench: cannot write the results: {err}");
            return ExitCode::FAILURE;
        }
    }
    if !results.drop.invariants_hold() {
        eprintln!("bench: the drop broke an invariant: sold − quantity and 5xx must both be 0");
        return ExitCode::FAILURE;
    }
    if !results.queued.as_ref().is_some_and(|q| q.invariants_hold()) {
        eprintln!(
            "bench: the queued drop must be measured and keep its invariants: sold − quantity and 5xx must both be 0"
        );
        return ExitCode::FAILURE;
    }
    if !results.checkins.as_ref().is_some_and(|c| c.all_admitted()) {
        eprintln!("bench: every check-in of a distinct pass must be measured and answer 200");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `--only checkins` or `--only queued`: measures that part into the results already written.
async fn measure_merged(
    results: &mut Results,
    part: Merged,
    settings: &StackSettings,
    queued: &QueuedSettings,
) -> Result<(), String> {
    match part {
        Merged::Checkins => {
            results.checkins = Some(checkins::run(&settings.as_drop_stack()).await?)
        }
        Merged::Queued => {
            let best = results.ceiling_sweep.as_ref().and_then(|sweep| {
                best_single_order(
                    sweep,
                    format!(
                        "the run of {}, read from latest.json (--only queued)",
                        results.date
                    ),
                )
            });
            results.queued = Some(run_queued(settings, queued, best).await?);
        }
    }
    Ok(())
}

async fn run_queued(
    settings: &StackSettings,
    queued: &QueuedSettings,
    best: Option<BestSingleOrder>,
) -> Result<results::QueuedDrop, String> {
    eprintln!(
        "bench: queued drop, {} buyers for {} tickets, {} in flight",
        queued.buyers, queued.tickets, queued.in_flight
    );
    queued::run(&settings.as_drop_stack(), queued, best).await
}

/// The sweep's best level, said where it was measured.
fn best_single_order(sweep: &CeilingSweep, measured: String) -> Option<BestSingleOrder> {
    sweep.best().map(|best| BestSingleOrder {
        orders_per_second: best.orders_per_second,
        in_flight: best.in_flight,
        measured,
    })
}

/// `--only checkins` or `--only queued`: writes the merged results and says whether the part just
/// measured kept its invariants (every scan answered 200; sold − quantity and 5xx both 0).
fn write_merged(results: &Results, part: Merged) -> ExitCode {
    if let Err(err) = report::write(Path::new(RESULTS_DIR), results) {
        eprintln!("bench: cannot write the results: {err}");
        return ExitCode::FAILURE;
    }
    let (summary, kept, broken) = match part {
        Merged::Checkins => {
            let Some(checkins) = &results.checkins else {
                return ExitCode::FAILURE;
            };
            (
                report::check_in_summary(checkins),
                checkins.all_admitted(),
                "not every check-in of a distinct pass answered 200",
            )
        }
        Merged::Queued => {
            let Some(queued) = &results.queued else {
                return ExitCode::FAILURE;
            };
            (
                report::queued_summary(queued),
                queued.invariants_hold(),
                "the queued drop broke an invariant: sold − quantity and 5xx must both be 0",
            )
        }
    };
    println!("{summary}");
    if !kept {
        eprintln!("bench: {broken}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
