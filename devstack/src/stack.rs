//! The whole local stack (`devstack up`) as a child process on free loopback ports: what the
//! end-to-end tests and the benchmarks start, stop and inject faults into.
//!
//! Each [`Stack`] has its own ports and run directory, so several can run side by side and beside a
//! `make run`. Stopping sends SIGINT, exactly as Ctrl-C does.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How many consecutive ports a stack reserves for its functions: room for the list to grow.
const FUNCTION_PORTS: u16 = 40;

/// How long `devstack up` may take to print its URL (it builds nothing; a loaded machine is slow).
const START_LIMIT: Duration = Duration::from_secs(180);

pub struct Stack {
    child: Child,
    bin_dir: PathBuf,
    /// The port variables devstack was started with.
    port_env: Vec<(&'static str, String)>,
    base_url: String,
    pub run_dir: PathBuf,
    /// HTTP (NGINX), DynamoDB Local, NATS, localstripe, and the first function port.
    pub ports: Vec<u16>,
}

/// The project's root, where `knative/`, `nginx/`, `frontend/dist` and `tests/` are.
pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A free port, never one handed out before in this process: stacks start in parallel, and the
/// system may offer a port again as soon as the probe's listener is closed, before the stack that
/// got it binds it.
pub fn free_port() -> Result<u16, String> {
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(|e| format!("no free port: {e}"))?;
        if !taken.contains(&port) {
            taken.push(port);
            return Ok(port);
        }
    }
}

/// A run of free consecutive ports for the functions, away from the ephemeral range's busiest part.
/// Ranges handed to stacks of this process are never handed out again: stacks start in parallel,
/// and a range is only bound once its stack is up.
fn free_port_range() -> Result<u16, String> {
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let seed = std::process::id() as u16 ^ free_port()?;
    let mut taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let base = (0..200u16)
        .map(|i| 20_000 + ((seed.wrapping_add(i.wrapping_mul(97))) % 200) * FUNCTION_PORTS)
        .find(|base| !taken.contains(base) && (*base..*base + FUNCTION_PORTS).all(port_is_free))
        .ok_or("no free range of ports for the functions")?;
    taken.push(base);
    Ok(base)
}

impl Stack {
    /// Starts `devstack up` from `bin_dir` with `extra_env`, and waits until it prints its URL.
    pub async fn start(bin_dir: &Path, extra_env: &[(&str, &str)]) -> Result<Self, String> {
        let devstack = bin_dir.join("devstack");
        if !devstack.is_file() {
            return Err(format!(
                "{} is not built: build the binaries first (`cargo build --workspace --bins`; \
                 `make test` does)",
                devstack.display()
            ));
        }
        let functions = crate::functions::load(&project_dir())?.len();
        if functions > usize::from(FUNCTION_PORTS) {
            return Err(format!(
                "{functions} functions do not fit the {FUNCTION_PORTS} ports a stack reserves for \
                 them: raise FUNCTION_PORTS in devstack/src/stack.rs"
            ));
        }
        let ports = vec![
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
            free_port_range()?,
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
        let mut child = Command::new(&devstack)
            .arg("up")
            .env("PROJECT_DIR", project_dir())
            .env("RUN_DIR", &run_dir)
            .envs(port_env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", devstack.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("devstack's stdout is not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let started = tokio::time::timeout(START_LIMIT, async {
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
            return Err(format!(
                "devstack did not come up; its logs are in {}",
                run_dir.join("logs").display()
            ));
        };
        // Keep draining stdout so that devstack never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            bin_dir: bin_dir.to_path_buf(),
            port_env,
            base_url,
            run_dir,
            ports,
        })
    }

    /// What a function started beside this stack needs in its environment, as devstack gives it.
    pub async fn function_env(&self) -> Result<BTreeMap<String, String>, String> {
        let output = Command::new(self.bin_dir.join("devstack"))
            .arg("env")
            .env("PROJECT_DIR", project_dir())
            .envs(self.port_env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .await
            .map_err(|e| format!("devstack env: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "devstack env: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
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

    /// Whether anything still listens on one of a stack's ports.
    pub fn any_port_in_use(ports: &[u16]) -> bool {
        let mut all = ports[..4].to_vec();
        all.extend(ports[4]..ports[4] + FUNCTION_PORTS);
        all.into_iter().any(|port| !port_is_free(port))
    }

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
    pub fn signal_process(&self, name: &str, signal: &str) -> Result<u32, String> {
        let pid = self
            .pid_of(name)
            .ok_or(format!("devstack has no pid file for {name}"))?;
        kill(signal, pid)?;
        Ok(pid)
    }

    /// Waits until devstack has started the named process again (a pid other than `old`); returns
    /// the new pid.
    pub async fn wait_for_restart(
        &self,
        name: &str,
        old: u32,
        limit: Duration,
    ) -> Result<u32, String> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(pid) = self.pid_of(name).filter(|pid| *pid != old) {
                return Ok(pid);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!(
            "{name} was not started again within {limit:?}; see {}",
            self.run_dir.join("logs").display()
        ))
    }

    /// Freezes or thaws the stack's NATS server (SIGSTOP / SIGCONT): to the functions it is as if
    /// NATS stopped answering, and then came back with everything it had stored.
    pub fn signal_nats(&self, signal: &str) -> Result<(), String> {
        let pid = std::fs::read_to_string(self.run_dir.join("nats-server.pid"))
            .map_err(|e| format!("NATS's pid file: {e}"))?;
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("NATS's pid file holds {pid:?}"))?;
        kill(signal, pid)
    }

    /// Freezes or thaws the stack's DynamoDB Local (SIGSTOP / SIGCONT): to the functions it is a
    /// DynamoDB that accepts connections and never answers, then answers again.
    pub fn signal_dynamodb(&self, signal: &str) -> Result<(), String> {
        let pid = dynamodb_pid(self.ports[1]).ok_or("no DynamoDB Local process on its port")?;
        kill(signal, pid)
    }

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

fn kill(signal: &str, pid: u32) -> Result<(), String> {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill {signal} {pid} failed"))
    }
}

/// Asks devstack to stop everything (SIGTERM), without waiting. Killing it outright would leave
/// what its children started behind (NGINX's workers, which the kernel does not stop with their
/// master), holding ports.
fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = kill("-TERM", pid);
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
