//! End-to-end test support: the real stack (`devstack up`) on free loopback ports, driven over HTTP
//! through NGINX.
//!
//! Each [`Stack`] has its own ports and run directory, so tests can run side by side and beside a
//! `make run`. Stopping sends SIGINT, exactly as Ctrl-C does.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How many consecutive ports a stack takes for its functions.
const FUNCTION_PORTS: u16 = 40;

pub struct Stack {
    child: Child,
    bin_dir: PathBuf,
    /// The port variables devstack was started with.
    port_env: Vec<(&'static str, String)>,
    base_url: String,
    pub run_dir: PathBuf,
    pub ports: Vec<u16>,
}

/// The project's root, where `frontend/dist` and `tests/` are.
pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory of the binaries this test was built with (`target/debug`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> → target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf()
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A free port, never one handed out before in this process: tests start stacks in parallel, and
/// the system may offer a port again as soon as the probe's listener is closed, before the stack
/// that got it binds it.
fn free_port() -> u16 {
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port");
        if !taken.contains(&port) {
            taken.push(port);
            return port;
        }
    }
}

/// A run of free consecutive ports for the functions, away from the ephemeral range's busiest part.
/// Ranges handed to stacks of this process are never handed out again: tests start stacks in
/// parallel, and a range is only bound once its stack is up.
fn free_port_range() -> u16 {
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seed = std::process::id() as u16 ^ free_port();
    let base = (0..200u16)
        .map(|i| 20_000 + ((seed.wrapping_add(i.wrapping_mul(97))) % 200) * FUNCTION_PORTS)
        .find(|base| !taken.contains(base) && (*base..*base + FUNCTION_PORTS).all(port_is_free))
        .expect("a free range of ports for the functions");
    taken.push(base);
    base
}

impl Stack {
    /// Starts the whole stack with `extra_env`, and waits until it prints its URL.
    pub async fn start(extra_env: &[(&str, &str)]) -> Self {
        Self::start_from(&bin_dir(), extra_env).await
    }

    /// As [`Stack::start`], with the binaries of `bin_dir` (the benchmarks run release builds).
    pub async fn start_from(bin_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        let ports = vec![
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port_range(),
        ];
        let run_dir =
            std::env::temp_dir().join(format!("ticketing-e2e-{}-{}", std::process::id(), ports[0]));
        let port_env: Vec<(&'static str, String)> = [
            "HTTP_PORT",
            "DYNAMODB_PORT",
            "NATS_PORT",
            "STRIPE_PORT",
            "FUNCTION_PORT_BASE",
        ]
        .into_iter()
        .zip(ports.iter().map(u16::to_string))
        .collect();
        let mut command = Command::new(bin_dir.join("devstack"));
        command
            .arg("up")
            .env("PROJECT_DIR", project_dir())
            .env("RUN_DIR", &run_dir)
            .envs(port_env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = command.spawn().expect("start devstack");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let started = tokio::time::timeout(Duration::from_secs(180), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("Storefront: ") {
                    return Some(url.trim_end_matches('/').to_owned());
                }
            }
            None
        })
        .await;
        let Ok(Some(base_url)) = started else {
            terminate(&child);
            panic!(
                "devstack did not come up; its logs are in {}",
                run_dir.join("logs").display()
            );
        };
        // Keep draining stdout so that devstack never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            bin_dir: bin_dir.to_path_buf(),
            port_env,
            base_url,
            run_dir,
            ports,
        }
    }

    /// What a function started beside this stack needs in its environment, as devstack gives it.
    pub async fn function_env(&self) -> std::collections::BTreeMap<String, String> {
        let output = Command::new(self.bin_dir.join("devstack"))
            .arg("env")
            .envs(self.port_env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .await
            .expect("devstack env");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the stack as Ctrl-C would; returns whether devstack exited successfully.
    pub async fn stop(mut self) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = std::fs::remove_dir_all(&self.run_dir);
        matches!(status, Ok(Ok(status)) if status.success())
    }

    /// Whether anything still listens on one of the stack's ports.
    pub fn any_port_in_use(ports: &[u16]) -> bool {
        let mut all = ports[..4].to_vec();
        all.extend(ports[4]..ports[4] + FUNCTION_PORTS);
        all.into_iter().any(|port| !port_is_free(port))
    }
}

/// Asks devstack to stop everything (SIGTERM), without waiting. Killing it outright would leave
/// what its children started behind (NGINX's workers, which the kernel does not stop with their
/// master), holding ports.
fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
}

/// A stack that was not stopped (its test failed) is stopped as by SIGTERM; its run directory stays,
/// logs included.
impl Drop for Stack {
    fn drop(&mut self) {
        if self.is_running() {
            terminate(&self.child);
        }
    }
}

/// The `session` cookie's token in a response, if it sets one.
pub fn session_token(response: &reqwest::Response) -> Option<String> {
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)?
        .to_str()
        .ok()?;
    let value = cookie.strip_prefix("session=")?.split(';').next()?;
    (!value.is_empty()).then(|| value.to_owned())
}

impl Stack {
    /// Whether devstack itself is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The pid of one of the stack's processes, by devstack's name for it: a function's name,
    /// `nats-bridge`, `nginx`, `dynamodb-local`, `nats-server` or `localstripe`. devstack keeps a pid
    /// file for each running process (`RUN_DIR/pids/<name>.pid`, rewritten at each restart); while
    /// a process waits to be started again it has none, and this is `None`.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.run_dir.join("pids").join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Sends `signal` (as `kill` takes it: `-KILL`, `-STOP`, …) to the named process; returns the
    /// pid it went to.
    pub fn signal_process(&self, name: &str, signal: &str) -> u32 {
        let pid = self
            .pid_of(name)
            .unwrap_or_else(|| panic!("devstack has no pid file for {name}"));
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {name} ({pid})");
        pid
    }

    /// Waits until devstack has started the named process again (a pid other than `old`); returns
    /// the new pid, or panics after `limit`.
    pub async fn wait_for_restart(&self, name: &str, old: u32, limit: Duration) -> u32 {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(pid) = self.pid_of(name).filter(|pid| *pid != old) {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{name} was not started again within {limit:?}; see {}",
            self.run_dir.join("logs").display()
        );
    }

    /// Freezes or thaws the stack's NATS server (SIGSTOP / SIGCONT): to the functions it is as if
    /// NATS stopped answering, and then came back with everything it had stored.
    pub fn signal_nats(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.run_dir.join("nats-server.pid"))
            .expect("NATS writes its pid file");
        let status = std::process::Command::new("kill")
            .args([signal, pid.trim()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} NATS");
    }

    /// Freezes or thaws the stack's DynamoDB Local (SIGSTOP / SIGCONT): to the functions it is a
    /// DynamoDB that accepts connections and never answers, then answers again.
    pub fn signal_dynamodb(&self, signal: &str) {
        let pid = dynamodb_pid(self.ports[1]).expect("DynamoDB Local's process");
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} DynamoDB Local");
    }

    /// Signs a new user up; returns the `Authorization` header value of their session.
    pub async fn sign_up(&self, http: &reqwest::Client, email: &str) -> String {
        let response = http
            .post(self.url("/api/users/signup"))
            .json(&serde_json::json!({"email": email, "password": "long enough"}))
            .send()
            .await
            .unwrap_or_else(|err| panic!("sign up {email}: {err:?}"));
        let status = response.status();
        let session = session_token(&response);
        if status != 201 {
            let body = response.text().await.unwrap_or_default();
            panic!("sign up {email}: {status} {body}");
        }
        format!("Bearer {}", session.expect("session"))
    }

    /// Polls `GET path` until `check` accepts the JSON body, or panics after `limit`.
    pub async fn wait_for(
        &self,
        http: &reqwest::Client,
        path: &str,
        limit: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = serde_json::Value::Null;
        while tokio::time::Instant::now() < deadline {
            if let Ok(response) = http.get(self.url(path)).send().await
                && let Ok(body) = response.json::<serde_json::Value>().await
            {
                if check(&body) {
                    return body;
                }
                last = body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never reached the expected state; last seen: {last}");
    }

    /// Lists tickets and waits until the orders context has its replica (the seller's own order
    /// attempt turns from 404 into "You cannot buy your own ticket"); returns the listing's id.
    pub async fn list_and_replicate(
        &self,
        http: &reqwest::Client,
        seller: &str,
        quantity: i64,
    ) -> String {
        let listed = http
            .post(self.url("/api/tickets"))
            .header("authorization", seller)
            .json(&serde_json::json!({"title": "Drop", "price": 20, "quantity": quantity}))
            .send()
            .await
            .expect("list");
        assert_eq!(listed.status(), 201);
        let body: serde_json::Value = listed.json().await.expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        for _ in 0..300 {
            let attempt = self.order(http, seller, &id).await;
            if attempt.status() == 400 {
                return id;
            }
            assert_eq!(
                attempt.status(),
                404,
                "before replication the listing is unknown to orders"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the listing never reached the orders context");
    }

    /// Orders one ticket of a listing.
    pub async fn order(
        &self,
        http: &reqwest::Client,
        bearer: &str,
        ticket: &str,
    ) -> reqwest::Response {
        http.post(self.url("/api/orders"))
            .header("authorization", bearer)
            .json(&serde_json::json!({"ticketId": ticket}))
            .send()
            .await
            .expect("order")
    }

    /// An order as its buyer sees it.
    pub async fn show_order(
        &self,
        http: &reqwest::Client,
        bearer: &str,
        id: &str,
    ) -> serde_json::Value {
        http.get(self.url(&format!("/api/orders/{id}")))
            .header("authorization", bearer)
            .send()
            .await
            .expect("show order")
            .json()
            .await
            .expect("order JSON")
    }
}

/// The DynamoDB Local serving `port`: the process running `DynamoDBLocal.jar` with `-port <port>`
/// (devstack starts it directly, and it writes no pid file).
fn dynamodb_pid(port: u16) -> Option<u32> {
    let port = port.to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
            let jar = args.iter().any(|arg| arg.ends_with(b"DynamoDBLocal.jar"));
            let on_port = args
                .windows(2)
                .any(|pair| pair[0] == b"-port" && pair[1] == port.as_bytes());
            (jar && on_port).then_some(pid)
        })
}

impl Stack {
    /// The loopback address of one of this stack's functions, to reach it without NGINX.
    pub fn function_url(&self, function: &str, path: &str) -> Option<String> {
        let environ = std::fs::read(format!("/proc/{}/environ", self.pid_of(function)?)).ok()?;
        let port = environ
            .split(|byte| *byte == 0)
            .find_map(|pair| pair.strip_prefix(b"PORT="))?;
        Some(format!(
            "http://127.0.0.1:{}{path}",
            std::str::from_utf8(port).ok()?
        ))
    }
}
