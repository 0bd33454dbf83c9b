//! A function's image run as Knative would run its Service, on this machine: the Service is read
//! from the rendered overlay (`kubectl kustomize`), and its image runs under podman with the
//! Service's environment, port, user and memory limit.
//!
//! What differs from a cluster, and why: the container shares the host's network (`--network
//! host`), so that it reaches the DynamoDB Local and NATS of `devstack deps` on 127.0.0.1; on that
//! network the manifest's port may be taken, so `PORT` (which Knative sets to the container port) is
//! a free one; the dependencies' cluster addresses become the local ones; the Secret's values, which
//! are deployed out of band, are given by the caller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_yaml_ng::Value;

/// Kubernetes' `terminationGracePeriodSeconds` when a pod does not set it.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// The exit status of a process killed by SIGKILL, as the cgroup's OOM killer does.
const KILLED: i64 = 128 + 9;

/// The project's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What running containers needs here: runc (crun refuses this kind of machine's hybrid cgroup
/// layout) and limits podman's defaults exceed in this sandbox.
const PODMAN_RUN: &[&str] = &[
    "run",
    "--detach",
    "--pull=never",
    "--runtime",
    "runc",
    "--network",
    "host",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// Runs a command; its stdout, or its stderr as the error.
fn output(command: &mut Command) -> Result<String, String> {
    let described = format!("{command:?}");
    let output = command
        .output()
        .map_err(|e| format!("cannot run {described}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{described} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Fails with advice when podman is missing: these tests must not pass by not running.
pub fn require_podman() -> Result<(), String> {
    output(Command::new("podman").arg("--version"))
        .map(drop)
        .map_err(|e| {
            format!(
                "podman is required to run the images ({e}); `make test` installs it \
                 (scripts/setup-tools.sh images)"
            )
        })
}

/// Builds the images of these functions with `scripts/images.sh` (one cargo build for all).
pub fn build_images(functions: &[&str]) -> Result<(), String> {
    output(Command::new(root().join("scripts/images.sh")).args(functions)).map(drop)
}

/// Renders an overlay (`base`, `overlays/dev` …) with `kubectl kustomize`: the objects a cluster
/// would get.
pub fn render(overlay: &str) -> Result<Vec<Value>, String> {
    let text = output(
        Command::new("kubectl")
            .arg("kustomize")
            .arg(root().join("knative").join(overlay)),
    )?;
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document).map_err(|e| format!("{overlay}: {e}"))
        })
        .collect()
}

/// What Knative runs for one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub image: String,
    /// `containerPort`; Knative gives it to the container as `PORT`.
    pub port: u16,
    /// Plain values and those of the ConfigMaps in `envFrom`, as the pod would see them.
    pub env: BTreeMap<String, String>,
    /// Variables whose values come from a Secret (not in the rendered overlay).
    pub secret_env: Vec<String>,
    /// `resources.limits.memory`, in bytes.
    pub memory_limit: u64,
    /// `securityContext.runAsUser` (and group), when the Service sets one; else the image's user.
    pub user: Option<String>,
    /// The pod's termination grace period.
    pub grace: Duration,
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(*key))
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    at(value, path).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

impl ServiceSpec {
    /// The Knative Service `name` of rendered objects, with its ConfigMaps resolved.
    pub fn of(objects: &[Value], name: &str) -> Result<Self, String> {
        let service = objects
            .iter()
            .find(|o| {
                text(o, &["kind"]).as_deref() == Some("Service")
                    && text(o, &["apiVersion"])
                        .is_some_and(|v| v.starts_with("serving.knative.dev"))
                    && text(o, &["metadata", "name"]).as_deref() == Some(name)
            })
            .ok_or(format!("no Knative Service {name}"))?;
        let pod = at(service, &["spec", "template", "spec"])
            .ok_or(format!("{name}: no spec.template.spec"))?;
        let container = at(pod, &["containers"])
            .and_then(Value::as_sequence)
            .and_then(|c| c.first())
            .ok_or(format!("{name}: no container"))?;
        let image = text(container, &["image"]).ok_or(format!("{name}: no image"))?;
        let port = match at(container, &["ports"]).and_then(Value::as_sequence) {
            Some(ports) => ports
                .first()
                .and_then(|p| text(p, &["containerPort"]))
                .and_then(|p| p.parse().ok())
                .ok_or(format!("{name}: a port without containerPort"))?,
            // Knative's default.
            None => 8080,
        };
        let mut env = BTreeMap::new();
        let mut secret_env = Vec::new();
        for source in at(container, &["envFrom"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(map) = text(source, &["configMapRef", "name"]) {
                env.extend(config_map(objects, &map)?);
            }
        }
        for variable in at(container, &["env"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let key =
                text(variable, &["name"]).ok_or(format!("{name}: a variable without name"))?;
            if let Some(value) = text(variable, &["value"]) {
                env.insert(key, value);
            } else if at(variable, &["valueFrom", "secretKeyRef"]).is_some() {
                secret_env.push(key);
            } else if let Some(map) = text(variable, &["valueFrom", "configMapKeyRef", "name"]) {
                let field = text(variable, &["valueFrom", "configMapKeyRef", "key"])
                    .ok_or(format!("{name}: {key} names no key"))?;
                let value = config_map(objects, &map)?
                    .remove(&field)
                    .ok_or(format!("{name}: ConfigMap {map} has no {field}"))?;
                env.insert(key, value);
            } else {
                return Err(format!("{name}: {key} has no value this test can give"));
            }
        }
        let memory = text(container, &["resources", "limits", "memory"])
            .ok_or(format!("{name}: no memory limit"))?;
        let memory_limit = quantity(&memory).ok_or(format!("{name}: memory limit {memory:?}"))?;
        let security = |field: &str| {
            text(container, &["securityContext", field])
                .or_else(|| text(pod, &["securityContext", field]))
        };
        let user = security("runAsUser").map(|user| match security("runAsGroup") {
            Some(group) => format!("{user}:{group}"),
            None => user,
        });
        let grace = text(pod, &["terminationGracePeriodSeconds"])
            .and_then(|s| s.parse().ok())
            .map_or(DEFAULT_GRACE, Duration::from_secs);
        Ok(Self {
            name: name.to_owned(),
            image,
            port,
            env,
            secret_env,
            memory_limit,
            user,
            grace,
        })
    }
}

/// The data of a rendered ConfigMap.
fn config_map(objects: &[Value], name: &str) -> Result<BTreeMap<String, String>, String> {
    let map = objects
        .iter()
        .find(|o| {
            text(o, &["kind"]).as_deref() == Some("ConfigMap")
                && text(o, &["metadata", "name"]).as_deref() == Some(name)
        })
        .ok_or(format!("no ConfigMap {name}"))?;
    Ok(at(map, &["data"])
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| {
            let key = k.as_str()?;
            Some((key.to_owned(), text(map, &["data", key])?))
        })
        .collect())
}

/// A Kubernetes memory quantity in bytes: `64Mi`, `1Gi`, `500M`, `128974848`.
pub fn quantity(value: &str) -> Option<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let (number, factor) = UNITS
        .iter()
        .find_map(|(suffix, factor)| Some((value.strip_suffix(suffix)?, *factor)))
        .unwrap_or((value, 1));
    number.parse::<u64>().ok()?.checked_mul(factor)
}

/// What podman says about a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub running: bool,
    pub exit_code: i64,
    pub oom_killed: bool,
}

impl State {
    /// Killed at its memory limit: the kernel's OOM killer (podman records it) or a SIGKILL exit,
    /// which is how the cgroup's OOM kill shows where the runtime cannot tell.
    pub fn killed_at_limit(&self) -> bool {
        self.oom_killed || (!self.running && self.exit_code == KILLED)
    }
}

/// A function's container; removed when dropped.
pub struct Container {
    pub id: String,
    pub spec: ServiceSpec,
    /// Where it listens on the host's network.
    pub port: u16,
    /// The memory limit it runs with: the manifest's, unless a test asks for another.
    pub memory_limit: u64,
}

impl Container {
    /// Starts `spec`'s image as Knative would, with `local` added to (and overriding) its
    /// environment, and `memory_limit` (normally `spec.memory_limit`).
    pub fn start(
        spec: &ServiceSpec,
        local: &BTreeMap<String, String>,
        memory_limit: u64,
    ) -> Result<Self, String> {
        let missing: Vec<_> = spec
            .secret_env
            .iter()
            .filter(|key| !local.contains_key(*key))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{}: give the Secret's variables {missing:?}",
                spec.name
            ));
        }
        let port = free_port()?;
        let mut env = spec.env.clone();
        env.extend(local.clone());
        // What Knative sets in every Service's container (the port being this free one).
        env.insert("K_SERVICE".into(), spec.name.clone());
        env.insert("PORT".into(), port.to_string());

        let mut command = Command::new("podman");
        // conmon, which podman leaves watching the container, writes a file `oom` into its working
        // directory when the container is killed at its memory limit: not into the project.
        command.current_dir(std::env::temp_dir());
        command.args(PODMAN_RUN);
        // No swap: the limit is the memory, as in a pod.
        command.arg(format!("--memory={memory_limit}"));
        command.arg(format!("--memory-swap={memory_limit}"));
        command.arg(format!(
            "--name=ticketing-test-{}-{}",
            spec.name,
            uuid::Uuid::new_v4().simple()
        ));
        if let Some(user) = &spec.user {
            command.arg(format!("--user={user}"));
        }
        for (key, value) in &env {
            command.arg("--env").arg(format!("{key}={value}"));
        }
        command.arg(&spec.image);
        let id = output(&mut command)?.trim().to_owned();
        Ok(Self {
            id,
            spec: spec.clone(),
            port,
            memory_limit,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What podman knows of the container now.
    pub fn state(&self) -> Result<State, String> {
        let text = output(Command::new("podman").args([
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.ExitCode}} {{.State.OOMKilled}}",
            &self.id,
        ]))?;
        let mut fields = text.split_whitespace();
        let mut next = || fields.next().ok_or(format!("podman inspect said {text:?}"));
        Ok(State {
            running: next()? == "true",
            exit_code: next()?.parse().map_err(|e| format!("exit code: {e}"))?,
            oom_killed: next()? == "true",
        })
    }

    /// The container's main process, as the host sees it.
    pub fn pid(&self) -> Result<u32, String> {
        output(Command::new("podman").args(["inspect", "--format", "{{.State.Pid}}", &self.id]))?
            .trim()
            .parse()
            .map_err(|e| format!("pid: {e}"))
    }

    /// The user id the main process runs as.
    pub fn uid(&self) -> Result<u32, String> {
        let pid = self.pid()?;
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| e.to_string())?
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next()?.parse().ok())
            .ok_or(format!("no Uid in /proc/{pid}/status"))
    }

    /// The file that holds the container's peak memory use as its cgroup counts it (what the limit
    /// applies to): cgroup v1's `memory.max_usage_in_bytes` or v2's `memory.peak`.
    pub fn peak_memory_file(&self) -> Result<PathBuf, String> {
        let pid = self.pid()?;
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map_err(|e| format!("cgroup of {pid}: {e}"))?;
        let v1 = cgroups.lines().find_map(|line| {
            let (_, rest) = line.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            controllers.split(',').any(|c| c == "memory").then(|| {
                Path::new("/sys/fs/cgroup/memory")
                    .join(path.trim_start_matches('/'))
                    .join("memory.max_usage_in_bytes")
            })
        });
        let v2 = || {
            cgroups.lines().find_map(|line| {
                line.strip_prefix("0::").map(|path| {
                    Path::new("/sys/fs/cgroup")
                        .join(path.trim_start_matches('/'))
                        .join("memory.peak")
                })
            })
        };
        v1.or_else(v2)
            .filter(|file| file.exists())
            .ok_or(format!("no memory cgroup for {pid}: {cgroups}"))
    }

    /// Waits until `/healthz` answers 200, the container exits, or `within` passes.
    pub async fn wait_ready(&self, within: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let url = self.url("/healthz");
        while started.elapsed() < within {
            if let Ok(Ok(response)) =
                tokio::time::timeout(Duration::from_secs(1), http_get(&url)).await
                && response == 200
            {
                return Ok(started.elapsed());
            }
            let state = self.state()?;
            if !state.running {
                return Err(format!(
                    "{} exited before it was ready: {state:?}\n{}",
                    self.spec.name,
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!(
            "{} not ready within {within:?}\n{}",
            self.spec.name,
            self.logs()
        ))
    }

    /// Sends SIGTERM, as the kubelet does to stop a pod, and waits for the exit, at most the grace
    /// period (the kubelet's SIGKILL comes then). Returns the time it took and the final state.
    pub fn terminate(&self) -> Result<(Duration, State), String> {
        let started = Instant::now();
        output(Command::new("podman").args(["kill", "--signal", "TERM", &self.id]))?;
        loop {
            let state = self.state()?;
            if !state.running {
                return Ok((started.elapsed(), state));
            }
            if started.elapsed() > self.spec.grace {
                return Err(format!(
                    "{} still runs {:?} after SIGTERM (the grace period)",
                    self.spec.name, self.spec.grace
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the container wrote (its JSON log lines), for failure messages.
    pub fn logs(&self) -> String {
        Command::new("podman")
            .args(["logs", &self.id])
            .output()
            .map(|o| {
                let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&o.stderr));
                text
            })
            .unwrap_or_else(|e| format!("(no logs: {e})"))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "--force", "--time", "0", &self.id])
            .output();
    }
}

/// The status code of a plain GET (no HTTP client needed for a health check).
async fn http_get(url: &str) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(
            format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .await
        .map_err(|e| e.to_string())?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or(format!("not an HTTP answer: {head:?}"))
}

/// A port nothing listens on now.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_as_kubernetes_writes_them() {
        assert_eq!(quantity("64Mi"), Some(64 << 20));
        assert_eq!(quantity("1Gi"), Some(1 << 30));
        assert_eq!(quantity("500M"), Some(500_000_000));
        assert_eq!(quantity("128974848"), Some(128_974_848));
        assert_eq!(quantity("64 Mi"), None);
        assert_eq!(quantity("lots"), None);
    }
}
