//! The project's own cross-checks of its deployment, which no schema knows: the one list of
//! functions (the Services of `knative/base/kustomization.yaml`, which devstack runs) is exactly the
//! binaries; every function binary has a Knative Service and a way in (an NGINX route, a Trigger, or a PingSource); every event type of
//! the catalogue has a Trigger; every Trigger, PingSource and route names an existing Service; cron
//! schedules have five fields; Services use neither Knative's reserved variables nor its ports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// Ports the Knative queue-proxy and its probes use inside every pod.
const RESERVED_PORTS: &[i64] = &[8012, 8013, 8022, 8112, 9090, 9091];

/// One Kubernetes object read from a file.
#[derive(Debug, Clone)]
pub struct Object {
    pub file: String,
    pub kind: String,
    pub name: String,
    pub value: Value,
}

/// What is checked: the function binaries, the Knative objects, and the NGINX routes.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// The binaries under `functions/*/src/bin/`.
    pub functions: BTreeSet<String>,
    /// The one list of functions, as devstack reads it (`devstack::functions`).
    pub listed: Vec<String>,
    pub objects: Vec<Object>,
    pub nginx: String,
    /// The cluster's NGINX server configuration (`knative/base/nginx/default.conf`).
    pub cluster_nginx: String,
    /// The image names of `skaffold.yaml`'s artifacts.
    pub images: Vec<String>,
}

impl Project {
    /// Reads the project at `root`: binaries under `functions/*/src/bin/`, the list of functions,
    /// objects under `knative/`, routes in `nginx/api.conf`.
    pub fn load(root: &Path) -> Result<Self, String> {
        let mut project = Self {
            listed: devstack::functions::load(root)?,
            ..Self::default()
        };
        for context in read_dir(&root.join("functions"))? {
            let bins = context.join("src/bin");
            if bins.is_dir() {
                for bin in read_dir(&bins)? {
                    if let Some(stem) = bin.file_stem().and_then(|s| s.to_str()) {
                        project.functions.insert(stem.to_owned());
                    }
                }
            }
        }
        let mut files = Vec::new();
        collect_yaml(&root.join("knative"), &mut files)?;
        files.sort();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            project.add_yaml(&file.display().to_string(), &text)?;
        }
        let read = |path: &str| {
            let path = root.join(path);
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        project.nginx = read("nginx/api.conf")?;
        project.cluster_nginx = read("knative/base/nginx/default.conf")?;
        let skaffold: Value = serde_yaml_ng::from_str(&read("skaffold.yaml")?)
            .map_err(|e| format!("skaffold.yaml: {e}"))?;
        project.images = at(&skaffold, &["build", "artifacts"])
            .and_then(Value::as_sequence)
            .map(|artifacts| {
                artifacts
                    .iter()
                    .filter_map(|a| text_at(a, &["image"]))
                    .collect()
            })
            .unwrap_or_default();
        Ok(project)
    }

    /// Adds the objects of one (multi-document) YAML text.
    pub fn add_yaml(&mut self, file: &str, text: &str) -> Result<(), String> {
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let value: Value =
                serde::Deserialize::deserialize(document).map_err(|e| format!("{file}: {e}"))?;
            let kind = text_at(&value, &["kind"]).unwrap_or_default();
            let name = text_at(&value, &["metadata", "name"]).unwrap_or_default();
            if kind.is_empty() {
                continue;
            }
            self.objects.push(Object {
                file: file.to_owned(),
                kind,
                name,
                value,
            });
        }
        Ok(())
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    fn services(&self) -> BTreeSet<&str> {
        self.of_kind("Service")
            .filter(|o| {
                text_at(&o.value, &["apiVersion"])
                    .is_some_and(|v| v.starts_with("serving.knative.dev"))
            })
            .map(|o| o.name.as_str())
            .collect()
    }

    /// The upstreams NGINX proxies to (`proxy_pass http://<name>`).
    pub fn routes(&self) -> BTreeSet<String> {
        self.nginx
            .split("proxy_pass http://")
            .skip(1)
            .filter_map(|rest| rest.split([';', '/', ' ', '$']).next())
            .map(str::to_owned)
            .collect()
    }

    fn subscribers(&self) -> Vec<(&Object, String)> {
        self.of_kind("Trigger")
            .filter_map(|t| {
                text_at(&t.value, &["spec", "subscriber", "ref", "name"]).map(|s| (t, s))
            })
            .collect()
    }

    fn sinks(&self) -> Vec<(&Object, String)> {
        self.of_kind("PingSource")
            .filter_map(|p| text_at(&p.value, &["spec", "sink", "ref", "name"]).map(|s| (p, s)))
            .collect()
    }

    /// Every problem found, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(self.functions_are_listed());
        problems.extend(self.functions_have_services());
        problems.extend(self.functions_are_reachable());
        problems.extend(self.event_types_have_triggers());
        problems.extend(self.references_exist());
        problems.extend(self.schedules_are_cron());
        problems.extend(self.services_respect_knative());
        problems.extend(self.images_are_distinct());
        problems.extend(self.routes_have_cluster_upstreams());
        problems
    }

    /// The image name of a binary.
    pub fn image_of(binary: &str) -> String {
        format!("ticketing.{binary}.fn")
    }

    /// Every function has an artifact and its Service runs it; no artifact's name is a substring of
    /// another's (`skaffold build -b` matches substrings).
    pub fn images_are_distinct(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for function in &self.functions {
            if !self.images.contains(&Self::image_of(function)) {
                problems.push(format!(
                    "function {function} has no skaffold artifact {}",
                    Self::image_of(function)
                ));
            }
        }
        for a in &self.images {
            for b in &self.images {
                if a != b && b.contains(a.as_str()) {
                    problems.push(format!("image name {a} is a substring of {b}"));
                }
            }
        }
        for service in self.of_kind("Service") {
            let image = at(&service.value, &["spec", "template", "spec", "containers"])
                .and_then(Value::as_sequence)
                .and_then(|c| c.first())
                .and_then(|c| text_at(c, &["image"]));
            if let Some(image) = image
                && image != Self::image_of(&service.name)
            {
                problems.push(format!(
                    "Service {} runs image {image}, not {}",
                    service.name,
                    Self::image_of(&service.name)
                ));
            }
        }
        problems
    }

    /// The cluster's NGINX defines an upstream for every function a route proxies to.
    pub fn routes_have_cluster_upstreams(&self) -> Vec<String> {
        self.routes()
            .into_iter()
            .filter(|route| !self.cluster_nginx.contains(&format!("upstream {route} {{")))
            .map(|route| format!("the cluster's NGINX has no upstream {route}"))
            .collect()
    }

    /// The list devstack runs (and a cluster deploys) is exactly the binaries: a binary added
    /// without its Service in the list would run nowhere, a listed one without a binary would stop
    /// devstack and fail its image build.
    pub fn functions_are_listed(&self) -> Vec<String> {
        let list = devstack::functions::KUSTOMIZATION;
        let unlisted = self
            .functions
            .iter()
            .filter(|f| !self.listed.contains(f))
            .map(|f| format!("function {f} is not in {list} (services/{f}.yaml)"));
        let without_binary = self
            .listed
            .iter()
            .filter(|f| !self.functions.contains(*f))
            .map(|f| {
                format!("function {f} is in {list} but has no binary (functions/*/src/bin/{f}.rs)")
            });
        unlisted.chain(without_binary).collect()
    }

    pub fn functions_have_services(&self) -> Vec<String> {
        let services = self.services();
        self.functions
            .iter()
            .filter(|f| !services.contains(f.as_str()))
            .map(|f| format!("function {f} has no Knative Service"))
            .collect()
    }

    pub fn functions_are_reachable(&self) -> Vec<String> {
        let routes = self.routes();
        let subscribers: BTreeSet<String> =
            self.subscribers().into_iter().map(|(_, s)| s).collect();
        let sinks: BTreeSet<String> = self.sinks().into_iter().map(|(_, s)| s).collect();
        self.functions
            .iter()
            .filter(|f| !routes.contains(*f) && !subscribers.contains(*f) && !sinks.contains(*f))
            .map(|f| format!("function {f} has no NGINX route, Trigger or PingSource"))
            .collect()
    }

    pub fn event_types_have_triggers(&self) -> Vec<String> {
        let filtered: BTreeSet<String> = self
            .of_kind("Trigger")
            .filter_map(|t| text_at(&t.value, &["spec", "filter", "attributes", "type"]))
            .collect();
        shared::events::types::ALL
            .iter()
            .filter(|t| !filtered.contains(**t))
            .map(|t| format!("event type {t} has no Trigger"))
            .collect()
    }

    pub fn references_exist(&self) -> Vec<String> {
        let services = self.services();
        let mut problems = Vec::new();
        for (object, target) in self.subscribers().into_iter().chain(self.sinks()) {
            if !services.contains(target.as_str()) {
                problems.push(format!(
                    "{} {} ({}) names no Service {target}",
                    object.kind, object.name, object.file
                ));
            }
        }
        for route in self.routes() {
            if !services.contains(route.as_str()) {
                problems.push(format!(
                    "an NGINX route proxies to {route}, which is no Service"
                ));
            }
        }
        problems
    }

    pub fn schedules_are_cron(&self) -> Vec<String> {
        self.of_kind("PingSource")
            .filter_map(|p| {
                let schedule = text_at(&p.value, &["spec", "schedule"]).unwrap_or_default();
                let fields = schedule.split_whitespace().count();
                (fields != 5).then(|| {
                    format!(
                        "PingSource {} schedule {schedule:?} is not 5-field cron",
                        p.name
                    )
                })
            })
            .collect()
    }

    pub fn services_respect_knative(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for service in self.of_kind("Service") {
            let Some(containers) = at(&service.value, &["spec", "template", "spec", "containers"])
                .and_then(Value::as_sequence)
            else {
                continue;
            };
            if containers.len() != 1 {
                problems.push(format!(
                    "Service {} has {} containers, not one",
                    service.name,
                    containers.len()
                ));
            }
            for container in containers {
                let ports = at(container, &["ports"])
                    .and_then(Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                if ports.len() != 1 {
                    problems.push(format!(
                        "Service {} declares {} container ports, not one",
                        service.name,
                        ports.len()
                    ));
                }
                for port in &ports {
                    if let Some(number) = at(port, &["containerPort"]).and_then(Value::as_i64)
                        && RESERVED_PORTS.contains(&number)
                    {
                        problems.push(format!(
                            "Service {} uses Knative's reserved port {number}",
                            service.name
                        ));
                    }
                }
                let env = at(container, &["env"])
                    .and_then(Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                for variable in &env {
                    let name = text_at(variable, &["name"]).unwrap_or_default();
                    if name == "PORT" || name.starts_with("K_") {
                        problems.push(format!(
                            "Service {} sets {name}, which Knative reserves",
                            service.name
                        ));
                    }
                }
            }
        }
        problems
    }
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn text_at(value: &Value, path: &[&str]) -> Option<String> {
    at(value, path).and_then(Value::as_str).map(str::to_owned)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    Ok(entries)
}

fn collect_yaml(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    for path in read_dir(dir)? {
        if path.is_dir() {
            collect_yaml(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    Ok(())
}
