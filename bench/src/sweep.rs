//! Sweep scaling: `expire` over many due timers. The timers are armed through the real `arm-timer`
//! binary; `expire` (the real binary) reaches DynamoDB Local through a counting proxy, so the report
//! has its DynamoDB calls by operation, not an estimate.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::events::{OrderCreatedData, OrderedTicket};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use futures::StreamExt;
use serde_json::Value;
use shared::events::{CloudEvent, types};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use crate::results::Sweep;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

const TARGET: &[u8] = b"DynamoDB_20120810.";

/// Counts the operations named in the `X-Amz-Target` headers of what the client sends.
fn tally(counts: &Counts, carry: &mut Vec<u8>, chunk: &[u8]) {
    carry.extend_from_slice(chunk);
    let mut consumed = 0;
    while let Some(at) = find(&carry[consumed..], TARGET) {
        let start = consumed + at + TARGET.len();
        let Some(end) = carry[start..].iter().position(|b| *b == b'\r') else {
            consumed += at;
            break;
        };
        let operation = String::from_utf8_lossy(&carry[start..start + end]).into_owned();
        if let Ok(mut counts) = counts.lock() {
            *counts.entry(operation).or_default() += 1;
        }
        consumed = start + end;
    }
    // Keep only a tail that could hold the start of a header split across reads.
    let keep_from = carry.len().saturating_sub(64).max(consumed);
    carry.drain(..keep_from);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn proxy(listener: TcpListener, upstream: u16, counts: Counts) {
    while let Ok((mut client, _)) = listener.accept().await {
        let counts = counts.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            let (mut client_read, mut client_write) = client.split();
            let (mut server_read, mut server_write) = server.split();
            let upstream = async {
                let mut buffer = vec![0u8; 16 * 1024];
                let mut carry = Vec::new();
                while let Ok(n) = client_read.read(&mut buffer).await {
                    if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    tally(&counts, &mut carry, &buffer[..n]);
                }
                let _ = server_write.shutdown().await;
            };
            let downstream = async {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                let _ = client_write.shutdown().await;
            };
            tokio::join!(upstream, downstream);
        });
    }
}

async fn start(
    bin_dir: &Path,
    name: &str,
    env: &BTreeMap<String, String>,
) -> Result<(Child, u16), String> {
    let port = TcpListener::bind(("127.0.0.1", 0))
        .await
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new(bin_dir.join(name))
        .envs(env)
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok((child, port));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(format!("{name} did not start"))
}

pub async fn run(
    bin_dir: &Path,
    env: &BTreeMap<String, String>,
    dynamodb_port: u16,
    timers: usize,
) -> Result<Sweep, String> {
    let prefix = format!("bench-sweep-{}-", std::process::id());
    let mut env = env.clone();
    env.insert("TABLE_PREFIX".into(), prefix.clone());
    let provisioned = Command::new(bin_dir.join("provision"))
        .envs(&env)
        .stdout(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("provision: {e}"))?;
    if !provisioned.success() {
        return Err("provision failed".to_owned());
    }
    let outcome = measure(bin_dir, &env, dynamodb_port, timers).await;
    let client = crate::dynamo::local_client(dynamodb_port);
    let _ = shared::dynamo::delete_tables(
        &client,
        &shared::dynamo::TablePrefix(prefix),
        &provision::tables(),
    )
    .await;
    outcome
}

async fn measure(
    bin_dir: &Path,
    env: &BTreeMap<String, String>,
    dynamodb_port: u16,
    timers: usize,
) -> Result<Sweep, String> {
    let (_arm, arm_port) = start(bin_dir, "arm-timer", env).await?;
    let http = reqwest::Client::new();
    // Due ten seconds ago: every timer is due at the first sweep.
    let due = shared::time::rfc3339(shared::time::now() - Duration::from_secs(10));
    let arm_url = format!("http://127.0.0.1:{arm_port}/");
    let armed = Instant::now();
    let refused = futures::stream::iter(0..timers)
        .map(|_| {
            let (http, arm_url, due) = (&http, &arm_url, &due);
            async move {
                let id = uuid::Uuid::now_v7().to_string();
                let Ok(event) = CloudEvent::of(
                    "bench",
                    types::ORDER_CREATED,
                    &id,
                    &OrderCreatedData {
                        id: OrderId::from(id.as_str()),
                        version: 0,
                        status: OrderStatus::Created,
                        user_id: UserId::from(uuid::Uuid::now_v7().to_string().as_str()),
                        expires_at: due.clone(),
                        quantity: Quantity(1),
                        ticket: OrderedTicket {
                            id: TicketId::from(uuid::Uuid::now_v7().to_string().as_str()),
                            price: Cents(2_000),
                        },
                        total: Cents(2_000),
                    },
                ) else {
                    return 1;
                };
                let mut request = http.post(arm_url).body(event.data.to_string());
                for (name, value) in event.binary_headers() {
                    request = request.header(name, value);
                }
                match request.send().await {
                    Ok(response) if response.status().is_success() => 0,
                    _ => 1,
                }
            }
        })
        .buffer_unordered(32)
        .fold(0usize, |sum, failed| async move { sum + failed })
        .await;
    let arm_seconds = armed.elapsed().as_secs_f64();
    if refused > 0 {
        return Err(format!("{refused} of {timers} timers could not be armed"));
    }

    let counts: Counts = Arc::default();
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| e.to_string())?;
    let proxy_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let proxy_task = tokio::spawn(proxy(listener, dynamodb_port, counts.clone()));
    let mut expire_env = env.clone();
    expire_env.insert(
        "AWS_ENDPOINT_URL_DYNAMODB".into(),
        format!("http://127.0.0.1:{proxy_port}"),
    );
    let (_expire, expire_port) = start(bin_dir, "expire", &expire_env).await?;
    if let Ok(mut counts) = counts.lock() {
        counts.clear();
    }

    let started = Instant::now();
    let (mut fired, mut sweeps, mut per_sweep_ms) = (0u64, 0u64, Vec::new());
    loop {
        let began = Instant::now();
        let answer: Value = http
            .post(format!("http://127.0.0.1:{expire_port}/"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .map_err(|e| format!("expire: {e}"))?
            .json()
            .await
            .map_err(|e| format!("expire: {e}"))?;
        let expired = answer["expired"]
            .as_u64()
            .ok_or("expire answered without a count")?;
        sweeps += 1;
        per_sweep_ms.push(began.elapsed().as_secs_f64() * 1000.0);
        fired += expired;
        if expired == 0 || sweeps > 10_000 {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    proxy_task.abort();
    let calls = counts.lock().map(|c| c.clone()).unwrap_or_default();
    let total: u64 = calls.values().sum();
    Ok(Sweep {
        timers,
        arm_seconds,
        fired,
        sweeps,
        seconds,
        timers_per_second: fired as f64 / seconds,
        median_sweep_ms: crate::stats::median(&mut per_sweep_ms),
        dynamodb_calls: calls,
        dynamodb_calls_total: total,
        dynamodb_calls_per_timer: total as f64 / (fired.max(1) as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_counted_even_when_a_header_is_split_across_reads() {
        let counts: Counts = Arc::default();
        let mut carry = Vec::new();
        let request = b"POST / HTTP/1.1\r\nx-amz-target: DynamoDB_20120810.Query\r\n\r\n{}";
        let (first, second) = request.split_at(30);
        tally(&counts, &mut carry, first);
        tally(&counts, &mut carry, second);
        tally(
            &counts,
            &mut carry,
            b"POST / HTTP/1.1\r\nx-amz-target: DynamoDB_20120810.TransactWriteItems\r\n",
        );
        let counts = counts.lock().expect("lock");
        assert_eq!(counts.get("Query"), Some(&1));
        assert_eq!(counts.get("TransactWriteItems"), Some(&1));
    }
}
