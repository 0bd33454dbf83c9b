//! The routing table, read from the Knative manifests: one Trigger per (event type, handler) and
//! one PingSource per periodic function. In a cluster Knative reads the same files; here the bridge
//! does, so that there is one routing table for both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where one event type is delivered, and how hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The Trigger's name; also the durable consumer's.
    pub name: String,
    pub event_type: String,
    /// The subscribing Service's name.
    pub service: String,
    /// Appended to the service's address (the Trigger's `subscriber.uri`, if any).
    pub path: String,
    pub retry: Retry,
}

/// Knative's delivery rules: up to `attempts` tries, the n-th retry after `backoff` × 2ⁿ⁻¹.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 10,
            backoff: Duration::from_millis(200),
        }
    }
}

impl Retry {
    /// The pause before the retry that follows attempt `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(10);
        (self.backoff * factor).min(Duration::from_secs(60))
    }
}

/// A periodic trigger: the bridge posts a ping event to the service every interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Ping {
    pub name: String,
    pub service: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Default)]
pub struct Routes {
    pub subscriptions: Vec<Subscription>,
    pub pings: Vec<Ping>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    kind: Option<String>,
    metadata: Option<Metadata>,
    spec: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerSpec {
    filter: Filter,
    subscriber: Destination,
    #[serde(default)]
    delivery: Option<Delivery>,
}

#[derive(Debug, Deserialize)]
struct Filter {
    attributes: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Destination {
    #[serde(rename = "ref")]
    reference: Reference,
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    retry: Option<u32>,
    backoff_delay: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PingSpec {
    sink: Destination,
    #[serde(default)]
    data: Option<String>,
}

impl Routes {
    /// Reads every `.yaml` file under `dir`.
    pub fn read(dir: &Path) -> Result<Self, String> {
        let mut files = Vec::new();
        collect_yaml(dir, &mut files)?;
        files.sort();
        let mut routes = Self::default();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            routes
                .add_documents(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        Ok(routes)
    }

    /// Adds the Triggers and PingSources of one (multi-document) YAML text.
    pub fn add_documents(&mut self, text: &str) -> Result<(), String> {
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let manifest = Manifest::deserialize(document).map_err(|e| e.to_string())?;
            let (Some(kind), Some(metadata), Some(spec)) =
                (manifest.kind, manifest.metadata, manifest.spec)
            else {
                continue;
            };
            match kind.as_str() {
                "Trigger" => {
                    let spec: TriggerSpec = serde_yaml_ng::from_value(spec)
                        .map_err(|e| format!("Trigger {}: {e}", metadata.name))?;
                    let event_type =
                        spec.filter.attributes.get("type").cloned().ok_or_else(|| {
                            format!("Trigger {} does not filter on type", metadata.name)
                        })?;
                    let mut retry = Retry::default();
                    if let Some(delivery) = spec.delivery {
                        if let Some(retries) = delivery.retry {
                            retry.attempts = retries + 1;
                        }
                        if let Some(delay) = delivery.backoff_delay {
                            retry.backoff = parse_duration(&delay).ok_or_else(|| {
                                format!(
                                    "Trigger {}: backoffDelay {delay:?} is not PT<n>S",
                                    metadata.name
                                )
                            })?;
                        }
                    }
                    self.subscriptions.push(Subscription {
                        name: metadata.name,
                        event_type,
                        service: spec.subscriber.reference.name,
                        path: spec.subscriber.uri.unwrap_or_default(),
                        retry,
                    });
                }
                "PingSource" => {
                    let spec: PingSpec = serde_yaml_ng::from_value(spec)
                        .map_err(|e| format!("PingSource {}: {e}", metadata.name))?;
                    let data = match spec.data {
                        Some(text) => {
                            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
                        }
                        None => serde_json::json!({}),
                    };
                    self.pings.push(Ping {
                        name: metadata.name,
                        service: spec.sink.reference.name,
                        data,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn collect_yaml(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// ISO 8601 durations of the form Knative uses for delivery: `PT0.2S`, `PT2S`.
fn parse_duration(text: &str) -> Option<Duration> {
    let seconds = text.strip_prefix("PT")?.strip_suffix('S')?;
    let seconds: f64 = seconds.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFESTS: &str = r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: hold-tickets
spec:
  broker: default
  filter:
    attributes:
      type: ticketing.order.created
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: hold-tickets
  delivery:
    retry: 9
    backoffPolicy: exponential
    backoffDelay: PT0.5S
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: relay-orders
spec:
  schedule: "* * * * *"
  contentType: application/json
  data: '{"reason": "relay"}'
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: relay-orders
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hold-tickets
spec: {}
"#;

    #[test]
    fn triggers_and_ping_sources_become_routes() {
        let mut routes = Routes::default();
        routes.add_documents(MANIFESTS).expect("valid manifests");
        assert_eq!(
            routes.subscriptions,
            vec![Subscription {
                name: "hold-tickets".to_owned(),
                event_type: "ticketing.order.created".to_owned(),
                service: "hold-tickets".to_owned(),
                path: String::new(),
                retry: Retry {
                    attempts: 10,
                    backoff: Duration::from_millis(500)
                },
            }]
        );
        assert_eq!(routes.pings.len(), 1);
        assert_eq!(routes.pings[0].service, "relay-orders");
        assert_eq!(routes.pings[0].data, serde_json::json!({"reason": "relay"}));
    }

    #[test]
    fn retries_back_off_exponentially() {
        let retry = Retry {
            attempts: 10,
            backoff: Duration::from_millis(200),
        };
        assert_eq!(retry.delay_after(1), Duration::from_millis(200));
        assert_eq!(retry.delay_after(2), Duration::from_millis(400));
        assert_eq!(retry.delay_after(4), Duration::from_millis(1600));
    }

    #[test]
    fn the_project_manifests_route_every_handler() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../knative");
        let routes = Routes::read(&dir).expect("project manifests parse");
        assert!(
            routes
                .subscriptions
                .iter()
                .any(|s| s.event_type == "ticketing.order.created" && s.service == "hold-tickets")
        );
    }
}
