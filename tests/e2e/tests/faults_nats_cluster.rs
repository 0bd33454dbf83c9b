//! The event bus as a cluster: three JetStream servers on loopback (Debian's `nats-server`) hold the
//! stream with three replicas, and the whole stack uses all three (`EXTERNAL_NATS_URL`, a
//! comma-separated list). A ticket drop runs while the server leading the stream is killed with
//! SIGKILL and stays dead. The two left elect a new leader; the functions and the bridge reconnect
//! by themselves (no process is restarted); every accepted order exists once and its events are
//! applied exactly once, before and after the kill.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use devstack::stack::free_port;
use e2e::Stack;
use e2e::crowd::{assert_drop_settled, bearers, buy};
use futures::StreamExt;
use serde_json::Value;

const TICKETS: usize = 60;
const BUYERS: usize = 240;
const IN_FLIGHT: usize = 40;
/// The stream devstack's `provision` creates.
const STREAM: &str = "TICKETING";

struct Node {
    name: String,
    client_port: u16,
    monitor_port: u16,
    /// `None` once killed.
    process: Option<Child>,
}

/// Three `nats-server`s with JetStream, routed to each other, each with its own store directory
/// and log under `dir` (kept when the test fails).
struct Cluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

impl Cluster {
    fn start() -> Self {
        let ports: Vec<[u16; 3]> = (0..3)
            .map(|_| [0; 3].map(|_| free_port().expect("a free port")))
            .collect();
        let dir = std::env::temp_dir().join(format!(
            "ticketing-nats-cluster-{}-{}",
            std::process::id(),
            ports[0][0]
        ));
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(index, [client, route, monitor])| {
                let name = format!("n{index}");
                let store = dir.join(&name);
                std::fs::create_dir_all(&store).expect("store directory");
                let routes: Vec<String> = ports
                    .iter()
                    .filter(|other| other[1] != *route)
                    .map(|other| format!("nats://127.0.0.1:{}", other[1]))
                    .collect();
                let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
                let process = Command::new("nats-server")
                    .args(["-a", "127.0.0.1", "-p", &client.to_string()])
                    .args(["--server_name", &name, "-js", "-sd"])
                    .arg(&store)
                    .args(["--cluster", &format!("nats://127.0.0.1:{route}")])
                    .args(["--cluster_name", "ticketing-test"])
                    .args(["--routes", &routes.join(",")])
                    .args(["-m", &monitor.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("nats-server is installed (scripts/setup.sh)");
                Node {
                    name,
                    client_port: *client,
                    monitor_port: *monitor,
                    process: Some(process),
                }
            })
            .collect();
        Self { nodes, dir }
    }

    /// Every server, as `NATS_URL` lists them.
    fn servers(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("nats://127.0.0.1:{}", node.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `/jsz` of the first server still running that answers.
    async fn jsz(&self, http: &reqwest::Client, query: &str) -> Option<Value> {
        for node in self.nodes.iter().filter(|node| node.process.is_some()) {
            let url = format!("http://127.0.0.1:{}/jsz?{query}", node.monitor_port);
            if let Ok(response) = http.get(&url).send().await
                && let Ok(body) = response.json::<Value>().await
            {
                return Some(body);
            }
        }
        None
    }

    /// Waits until the servers have elected the leader of JetStream's own group (before that no
    /// stream can be created).
    async fn wait_for_meta_leader(&self, http: &reqwest::Client) {
        for _ in 0..300 {
            if let Some(jsz) = self.jsz(http, "").await
                && jsz["meta_cluster"]["leader"].is_string()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the NATS cluster elected no leader; logs in {}",
            self.dir.display()
        );
    }

    /// The stream's details as a running server reports them: config, cluster leader, replicas.
    async fn stream(&self, http: &reqwest::Client) -> Option<Value> {
        let jsz = self
            .jsz(http, "accounts=true&streams=true&config=true")
            .await?;
        jsz["account_details"]
            .as_array()?
            .iter()
            .filter_map(|account| account["stream_detail"].as_array())
            .flatten()
            .find(|stream| stream["name"] == STREAM)
            .cloned()
    }

    /// The name of the server leading the stream, once there is one.
    async fn stream_leader(&self, http: &reqwest::Client) -> Option<String> {
        let stream = self.stream(http).await?;
        stream["cluster"]["leader"].as_str().map(str::to_owned)
    }

    fn kill(&mut self, name: &str) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.name == name)
            .unwrap_or_else(|| panic!("no server {name}"));
        let mut process = node.process.take().expect("the server runs");
        process.kill().expect("SIGKILL");
        let _ = process.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut process) = node.process.take() {
                let _ = process.kill();
                let _ = process.wait();
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Every process devstack runs, by name, with its pid: a restart would change one.
fn pids(stack: &Stack) -> BTreeMap<String, u32> {
    std::fs::read_dir(stack.run_dir.join("pids"))
        .expect("devstack's pid files")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.strip_suffix(".pid")?.to_owned();
            let pid = stack.pid_of(&name)?;
            Some((name, pid))
        })
        .collect()
}

#[tokio::test]
async fn a_drop_keeps_every_order_once_when_the_stream_leader_is_killed() {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let cluster = Cluster::start();
    cluster.wait_for_meta_leader(&http).await;
    let servers = cluster.servers();
    let stack = Stack::start(&[
        ("EXTERNAL_NATS_URL", servers.as_str()),
        ("NATS_STREAM_REPLICAS", "3"),
        // JetStream reserves the stream's limit on every server, all three on this one disk.
        ("NATS_STREAM_MAX_BYTES", "67108864"),
    ])
    .await;
    let stream = cluster
        .stream(&http)
        .await
        .expect("provision made the stream");
    assert_eq!(stream["config"]["num_replicas"], 3, "{stream}");
    assert_eq!(
        stream["cluster"]["replicas"].as_array().map(Vec::len),
        Some(2),
        "a leader and two replicas: {stream}"
    );
    let before = pids(&stack);
    assert!(
        before.contains_key("nats-bridge") && before.contains_key("place-order"),
        "{before:?}"
    );
    assert!(
        !before.contains_key("nats-server"),
        "devstack started no NATS of its own"
    );

    let people = bearers(&stack, BUYERS + 1).await;
    let (seller, buyers) = people.split_first().expect("a seller");
    let ticket = stack
        .list_and_replicate(&http, seller, i64::try_from(TICKETS).expect("count"))
        .await;

    let leader = cluster.stream_leader(&http).await.expect("a stream leader");
    let cluster = tokio::sync::Mutex::new(cluster);
    let outcomes = futures::stream::iter(buyers.iter().enumerate())
        .map(|(index, buyer)| {
            let (stack, http, ticket, cluster, leader) =
                (&stack, &http, &ticket, &cluster, &leader);
            async move {
                // The leader dies while the crowd is at the door.
                if index == BUYERS / 3 {
                    cluster.lock().await.kill(leader);
                }
                (buyer, buy(stack, http, buyer, ticket).await)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let cluster = cluster.into_inner();

    // The two servers left lead the stream now.
    let mut new_leader = None;
    for _ in 0..300 {
        new_leader = cluster.stream_leader(&http).await;
        if new_leader.as_ref().is_some_and(|l| *l != leader) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        new_leader.as_ref().is_some_and(|l| *l != leader),
        "a new leader after {leader} died: {new_leader:?}"
    );

    assert_drop_settled(&stack, &http, &ticket, TICKETS, &outcomes).await;

    // Nobody was restarted: the functions and the bridge found the servers left on their own.
    assert_eq!(pids(&stack), before, "no process was started again");
    assert!(stack.stop().await);
}
