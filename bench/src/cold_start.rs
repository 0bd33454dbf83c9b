//! Cold start, idle memory and binary size of every function.
//!
//! Starts each release binary `starts` times with the local stack's environment (DynamoDB Local is up,
//! as for a real start) and measures process start → first `200` on `GET /healthz`, polling the port.
//! After the last start it sends 1,000 requests over one keep-alive connection and reads the resident
//! memory again. Measures; never fails on a timing.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::budgets::{BINARY_BYTES, COLD_START_MS, IDLE_RSS_KB, TOTAL_RSS_KB};
use crate::results::{ColdStart, ColdStartBudgets, Function};
use crate::stats::median;

/// Requests sent before the second memory reading.
const WARM_REQUESTS: usize = 1_000;

struct Measured {
    name: String,
    starts_ms: Vec<f64>,
    rss_kb: u64,
    rss_after_requests_kb: u64,
    /// Of the resident memory after the requests: file-backed pages (code) and anonymous (data).
    file_kb: u64,
    anon_kb: u64,
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

/// A `/proc/<pid>/status` figure in KB: `VmRSS` (all resident), `RssFile` (pages of the binary and
/// libraries) or `RssAnon` (heap and stacks).
pub(crate) fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| {
                    line.strip_prefix(field)
                        .is_some_and(|rest| rest.starts_with(':'))
                })
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS")
}

/// A function that has just answered its first 200.
pub(crate) struct Started {
    ms: f64,
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    rss_kb: u64,
}

/// One start: milliseconds to the first 200, the running child, and its resident memory then.
pub(crate) fn start_once(binary: &Path, env: &BTreeMap<String, String>) -> Result<Started, String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    let mut child = Command::new(binary)
        .envs(env)
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
    match outcome {
        Ok(ms) => {
            let rss_kb = rss_kb(child.id());
            Ok(Started {
                ms,
                child,
                addr,
                rss_kb,
            })
        }
        Err(err) => {
            stop(child);
            Err(err)
        }
    }
}

pub(crate) fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends `count` `GET /healthz` over one keep-alive connection; returns how many got a 200.
fn warm_up(addr: SocketAddr, count: usize) -> usize {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut ok = 0;
    let mut buffer = [0u8; 1024];
    for _ in 0..count {
        if stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .is_err()
        {
            break;
        }
        // The answer is small and whole in one read on loopback: status line, headers, a short body.
        match stream.read(&mut buffer) {
            Ok(n) if n >= 12 && buffer[..12].ends_with(b" 200") => ok += 1,
            _ => break,
        }
    }
    ok
}

/// Measures each of `functions` (the binaries in `bin_dir`).
pub fn run(
    bin_dir: &Path,
    functions: &[String],
    env: &BTreeMap<String, String>,
    starts: usize,
) -> Result<ColdStart, String> {
    let mut measured = Vec::new();
    for name in functions.iter().cloned() {
        let binary = bin_dir.join(&name);
        let binary_bytes = std::fs::metadata(&binary)
            .map_err(|e| format!("{name}: {e}"))?
            .len();
        let mut starts_ms = Vec::with_capacity(starts);
        let mut rss = Vec::with_capacity(starts);
        let (mut rss_after_requests_kb, mut file_kb, mut anon_kb) = (0, 0, 0);
        for attempt in 0..starts.max(1) {
            let started = start_once(&binary, env)?;
            starts_ms.push(started.ms);
            rss.push(started.rss_kb);
            if attempt + 1 == starts.max(1) {
                let answered = warm_up(started.addr, WARM_REQUESTS);
                if answered != WARM_REQUESTS {
                    eprintln!("bench: {name} answered {answered} of {WARM_REQUESTS} requests");
                }
                rss_after_requests_kb = rss_kb(started.child.id());
                file_kb = status_kb(started.child.id(), "RssFile");
                anon_kb = status_kb(started.child.id(), "RssAnon");
            }
            stop(started.child);
        }
        rss.sort_unstable();
        measured.push(Measured {
            name,
            starts_ms,
            rss_kb: rss[rss.len() / 2],
            rss_after_requests_kb,
            file_kb,
            anon_kb,
            binary_bytes,
        });
    }

    let mut rows = Vec::new();
    let (mut total_rss, mut total_after) = (0, 0);
    for m in &mut measured {
        let max = m.starts_ms.iter().copied().fold(0.0, f64::max);
        total_rss += m.rss_kb;
        total_after += m.rss_after_requests_kb;
        rows.push(Function {
            function: m.name.clone(),
            cold_start_median_ms: median(&mut m.starts_ms),
            cold_start_max_ms: max,
            idle_rss_kb: m.rss_kb,
            rss_after1000_requests_kb: m.rss_after_requests_kb,
            rss_file_kb: m.file_kb,
            rss_anon_kb: m.anon_kb,
            binary_bytes: m.binary_bytes,
        });
    }
    Ok(ColdStart {
        starts,
        budgets: ColdStartBudgets {
            cold_start_median_ms: COLD_START_MS,
            idle_rss_kb: IDLE_RSS_KB,
            total_idle_rss_kb: TOTAL_RSS_KB,
            binary_bytes: BINARY_BYTES,
        },
        functions: rows,
        total_idle_rss_kb: total_rss,
        total_rss_after1000_requests_kb: total_after,
    })
}
