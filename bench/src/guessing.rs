//! Sign-in under a password-guessing attack: resident memory against its Knative limit.
//!
//! Starts the release `sign-in` on a port of its own with the stack's environment and sends it, all
//! at once, 200 wrong sign-ins for 200 different addresses (so that the per-account limit refuses
//! none: every one costs a full Argon2id hash, 19 MiB of working memory). Its resident memory is
//! sampled during the burst and read again after. Then 200 more at once, 20 for each of 10
//! addresses, to see the per-account limit answer most of them without a hash. Measures; never fails
//! on a figure.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cold_start::{start_once, status_kb, stop};
use crate::results::{Guessing, PerAccount};

/// Guesses sent at once in each burst.
const GUESSES: usize = 200;
/// Addresses of the second burst (each gets `GUESSES / ADDRESSES`).
const ADDRESSES: usize = 10;

/// The memory limit of a Knative Service manifest (`resources.limits.memory`, in Mi), in KB.
fn knative_limit_kb(manifest: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let limits = text
        .split_once("limits:")
        .map(|(_, rest)| rest)
        .ok_or(format!("{} has no resource limits", manifest.display()))?;
    limits
        .lines()
        .find_map(|line| line.trim().strip_prefix("memory:"))
        .and_then(|value| value.trim().strip_suffix("Mi")?.parse::<u64>().ok())
        .map(|mebibytes| mebibytes * 1024)
        .ok_or(format!("{} has no memory limit in Mi", manifest.display()))
}

/// Sends `emails.len()` wrong sign-ins at once; returns how many got each status, and the seconds.
async fn burst(url: &str, emails: Vec<String>) -> (BTreeMap<String, u64>, f64) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let sends = emails.into_iter().map(|email| {
        let http = http.clone();
        async move {
            http.post(url)
                .json(&json!({"email": email, "password": "not the password"}))
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .map_or_else(
                    |_| "no answer".to_owned(),
                    |r| r.status().as_u16().to_string(),
                )
        }
    });
    let mut statuses = BTreeMap::new();
    for status in futures::future::join_all(sends).await {
        *statuses.entry(status).or_insert(0) += 1;
    }
    (statuses, started.elapsed().as_secs_f64())
}

pub async fn run(
    bin_dir: &Path,
    project: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Guessing, String> {
    let limit_kb = knative_limit_kb(&project.join("knative/base/services/sign-in.yaml"))?;
    let started = {
        let (binary, env) = (bin_dir.join("sign-in"), env.clone());
        tokio::task::spawn_blocking(move || start_once(&binary, &env))
            .await
            .map_err(|e| e.to_string())??
    };
    let pid = started.child.id();
    let url = format!("http://{}/api/users/signin", started.addr);
    let before_kb = status_kb(pid, "VmRSS");

    let (stop_sampling, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sampler = {
        let (stopping, peaking) = (Arc::clone(&stop_sampling), Arc::clone(&peak));
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                peaking.fetch_max(status_kb(pid, "VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let distinct = (0..GUESSES)
        .map(|i| format!("guess-{i}-{run_id}@example.com"))
        .collect();
    let (statuses, seconds) = burst(&url, distinct).await;
    stop_sampling.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let after_kb = status_kb(pid, "VmRSS");
    let anon_kb = status_kb(pid, "RssAnon");
    let peak_kb = peak.load(Ordering::Relaxed).max(after_kb);

    let concentrated = (0..GUESSES)
        .map(|i| format!("target-{}-{run_id}@example.com", i % ADDRESSES))
        .collect();
    let (limited_statuses, limited_seconds) = burst(&url, concentrated).await;
    let after_both_kb = status_kb(pid, "VmRSS");
    stop(started.child);

    Ok(Guessing {
        guesses: GUESSES,
        limit_kb,
        rss_before_kb: before_kb,
        rss_peak_kb: peak_kb,
        rss_after_kb: after_kb,
        rss_anon_after_kb: anon_kb,
        statuses,
        seconds,
        per_account: PerAccount {
            addresses: ADDRESSES,
            statuses: limited_statuses,
            seconds: limited_seconds,
            rss_after_kb: after_both_kb,
        },
    })
}
