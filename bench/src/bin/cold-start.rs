//! `cold-start`: how fast each function binary starts, how much memory it holds, how big it is.
//!
//! For every function `devstack functions` lists, starts the binary from `BIN_DIR` `STARTS` times
//! (default 20) and measures process start → first `200` on `GET /healthz`, polling the port. Meant to
//! run under `devstack deps`, so that DynamoDB Local is up and the environment points at it, as for a
//! real start. Writes `bench/results/cold-start.json` and prints a table. Measures; never fails on a
//! timing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

/// Budgets from the architecture document.
const COLD_START_BUDGET_MS: f64 = 15.0;
const IDLE_RSS_BUDGET_KB: u64 = 10 * 1024;
const BINARY_BUDGET_BYTES: u64 = 15 * 1024 * 1024;

struct Measured {
    name: String,
    starts_ms: Vec<f64>,
    rss_kb: u64,
    binary_bytes: u64,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn healthz_ok(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// One start: milliseconds to the first 200, and the resident memory right after.
fn start_once(binary: &Path) -> Result<(f64, u64), String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("PORT", port.to_string())
        .env("LISTEN_HOST", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let outcome = loop {
        if healthz_ok(addr) {
            break Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
        if started.elapsed() > Duration::from_secs(10) {
            break Err(format!("{} did not answer within 10 s", binary.display()));
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("{} exited: {status}", binary.display()));
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let rss = rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    outcome.map(|ms| (ms, rss))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn run() -> Result<(), String> {
    let bin_dir =
        PathBuf::from(std::env::var("BIN_DIR").map_err(|_| "BIN_DIR is not set".to_owned())?);
    let starts: usize = std::env::var("STARTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let listing = Command::new(bin_dir.join("devstack"))
        .arg("functions")
        .output()
        .map_err(|e| format!("cannot list functions: {e}"))?;
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect();

    let mut measured = Vec::new();
    for name in names {
        let binary = bin_dir.join(&name);
        let binary_bytes = std::fs::metadata(&binary)
            .map_err(|e| format!("{name}: {e}"))?
            .len();
        let mut starts_ms = Vec::with_capacity(starts);
        let mut rss = Vec::with_capacity(starts);
        for _ in 0..starts {
            let (ms, kb) = start_once(&binary)?;
            starts_ms.push(ms);
            rss.push(kb);
        }
        rss.sort_unstable();
        measured.push(Measured {
            name,
            starts_ms,
            rss_kb: rss[rss.len() / 2],
            binary_bytes,
        });
    }

    println!(
        "cold start: process start → first 200 on /healthz, {starts} starts each, {} cores",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!(
        "{:<16} {:>10} {:>10} {:>12} {:>12}",
        "function", "median ms", "max ms", "RSS (KB)", "binary (MB)"
    );
    let mut rows = Vec::new();
    let mut total_rss = 0;
    for m in &mut measured {
        let max = m.starts_ms.iter().copied().fold(0.0, f64::max);
        let med = median(&mut m.starts_ms);
        total_rss += m.rss_kb;
        println!(
            "{:<16} {:>10.1} {:>10.1} {:>12} {:>12.1}",
            m.name,
            med,
            max,
            m.rss_kb,
            m.binary_bytes as f64 / 1_048_576.0
        );
        rows.push(json!({
            "function": m.name,
            "coldStartMedianMs": med,
            "coldStartMaxMs": max,
            "coldStartBudgetMs": COLD_START_BUDGET_MS,
            "idleRssKb": m.rss_kb,
            "idleRssBudgetKb": IDLE_RSS_BUDGET_KB,
            "binaryBytes": m.binary_bytes,
            "binaryBudgetBytes": BINARY_BUDGET_BYTES,
        }));
    }
    println!("every function together: {total_rss} KB resident");
    let results = Path::new("bench/results");
    std::fs::create_dir_all(results).map_err(|e| e.to_string())?;
    let report = json!({"starts": starts, "functions": rows, "totalIdleRssKb": total_rss});
    std::fs::write(results.join("cold-start.json"), format!("{report:#}\n"))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cold-start: {err}");
            ExitCode::FAILURE
        }
    }
}
