//! `nats-bridge`: JetStream in, CloudEvents over HTTP out.
//!
//! Locally ([`routes`] read from the Trigger manifests) each Trigger gets its own durable pull
//! consumer, filtered to its event type, delivering to its Service's local address, so a failing
//! handler delays only its own events. In a cluster (`K_SINK` set) one consumer delivers every event
//! to the Knative Broker, whose Triggers do the routing.
//!
//! Reply codes follow Knative's data plane: 2xx acks; 404, 408, 409, 429 and 5xx (or no answer) are
//! retried with exponential backoff, up to the Trigger's attempts; any other 4xx will never work.
//! What is not delivered, and any message that is not a CloudEvent of its subject's type, is
//! published with its bytes as they came to `ticketing.deadletter.<the subject it came on>` (the
//! type, for a well-formed event) with the last error, and only then acknowledged: a message is never
//! dropped, and poison never holds up the events behind it.

pub mod delivery;
pub mod routes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use shared::config::{Env, FromEnv};
use shared::publisher::NatsSettings;

pub use delivery::run;
use routes::{Retry, Routes};

/// Where the events of one consumer go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The durable consumer's name.
    pub consumer: String,
    /// The subject it reads (the prefix included).
    pub subject: String,
    pub url: String,
    pub retry: Retry,
}

/// A periodic ping to a function.
#[derive(Debug, Clone)]
pub struct PingTarget {
    pub name: String,
    pub url: String,
    pub interval: Duration,
    pub data: serde_json::Value,
}

/// Everything the bridge does, resolved from settings and manifests.
#[derive(Debug, Clone)]
pub struct Plan {
    pub nats: NatsSettings,
    pub stream: String,
    pub targets: Vec<Target>,
    pub pings: Vec<PingTarget>,
}

/// The bridge's environment: `NATS_URL`, `EVENT_SUBJECT_PREFIX`, `NATS_STREAM` (default
/// `TICKETING`), and either `K_SINK` (cluster) or `KNATIVE_DIR` (default `knative`) with
/// `SERVICE_URLS` (`name=http://host:port,…`) for local delivery. Pings run every
/// `<NAME>_INTERVAL_SECONDS` (the PingSource's name, upper-cased, `-` as `_`), else
/// `PING_INTERVAL_SECONDS` (default 5).
pub struct Settings {
    pub nats: NatsSettings,
    pub stream: String,
    pub sink: Option<String>,
    pub knative_dir: PathBuf,
    pub services: HashMap<String, String>,
    pub ping_interval: u64,
}

impl FromEnv for Settings {
    fn from_env(env: &mut Env) -> Self {
        let sink = env.string_or("K_SINK", "");
        let services_text = env.string_or("SERVICE_URLS", "");
        let mut services = HashMap::new();
        for pair in services_text.split(',').filter(|p| !p.trim().is_empty()) {
            match pair.split_once('=') {
                Some((name, url)) => {
                    services.insert(
                        name.trim().to_owned(),
                        url.trim().trim_end_matches('/').to_owned(),
                    );
                }
                None => env.invalid("SERVICE_URLS", format!("{pair:?} is not name=url")),
            }
        }
        let ping_interval: u64 = env.parsed_or("PING_INTERVAL_SECONDS", 5);
        if ping_interval == 0 {
            env.invalid("PING_INTERVAL_SECONDS", "must be at least 1");
        }
        Self {
            nats: NatsSettings::from_env(env),
            stream: env.string_or("NATS_STREAM", "TICKETING"),
            sink: (!sink.is_empty()).then_some(sink),
            knative_dir: PathBuf::from(env.string_or("KNATIVE_DIR", "knative")),
            services,
            ping_interval,
        }
    }
}

impl Settings {
    /// Resolves the routes against the settings: one line per problem.
    pub fn plan(self, routes: &Routes, env: &mut Env) -> Plan {
        let mut targets = Vec::new();
        let mut pings = Vec::new();
        if let Some(sink) = &self.sink {
            targets.push(Target {
                consumer: "broker".to_owned(),
                subject: self.nats.subject("ticketing.>"),
                url: sink.clone(),
                retry: Retry::default(),
            });
        } else {
            for subscription in &routes.subscriptions {
                let Some(base) = self.services.get(&subscription.service) else {
                    env.invalid(
                        "SERVICE_URLS",
                        format!(
                            "no address for {} (Trigger {})",
                            subscription.service, subscription.name
                        ),
                    );
                    continue;
                };
                targets.push(Target {
                    consumer: subscription.name.clone(),
                    subject: self.nats.subject(&subscription.event_type),
                    url: format!("{base}{}", subscription.path),
                    retry: subscription.retry,
                });
            }
            for ping in &routes.pings {
                let Some(base) = self.services.get(&ping.service) else {
                    env.invalid(
                        "SERVICE_URLS",
                        format!("no address for {} (PingSource {})", ping.service, ping.name),
                    );
                    continue;
                };
                let variable = format!(
                    "{}_INTERVAL_SECONDS",
                    ping.name.to_uppercase().replace('-', "_")
                );
                let seconds: u64 = env.parsed_or(&variable, self.ping_interval);
                if seconds == 0 {
                    env.invalid(&variable, "must be at least 1");
                }
                pings.push(PingTarget {
                    name: ping.name.clone(),
                    url: base.clone(),
                    interval: Duration::from_secs(seconds.max(1)),
                    data: ping.data.clone(),
                });
            }
        }
        Plan {
            nats: self.nats,
            stream: self.stream,
            targets,
            pings,
        }
    }
}
