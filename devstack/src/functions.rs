//! The functions the local stack runs, read from the one list of them: the Knative Services that
//! `knative/base/kustomization.yaml` deploys, in the order it lists them.
//!
//! That file is what a cluster deploys, and the manifest cross-checks (`tests/manifests`) read this
//! same list and hold it against the binaries under `functions/*/src/bin`, so a binary without
//! its manifests, or manifests without their binary, fails a test naming the function. Adding a
//! function is its binary plus its manifests; devstack, its NGINX upstreams and the bridge's
//! addresses follow.
//!
//! Each function listens on `FUNCTION_PORT_BASE` plus its position in the list: a function added at
//! the end leaves every other port where it was.

use std::path::Path;

/// The list, relative to the project's root.
pub const KUSTOMIZATION: &str = "knative/base/kustomization.yaml";

/// Where in the kustomization's directory a function's Service is: `services/<name>.yaml`.
const SERVICE_DIR: &str = "services/";

/// The functions of the project at `project_dir`, in port order.
pub fn load(project_dir: &Path) -> Result<Vec<String>, String> {
    let path = project_dir.join(KUSTOMIZATION);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the list of functions {}: {e}", path.display()))?;
    from_kustomization(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The functions a kustomization's text lists: each `services/<name>.yaml` resource, in order.
pub fn from_kustomization(text: &str) -> Result<Vec<String>, String> {
    let kustomization: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let resources = kustomization
        .get("resources")
        .and_then(serde_yaml_ng::Value::as_sequence)
        .ok_or("no resources list")?;
    let mut functions: Vec<String> = Vec::new();
    for resource in resources.iter().filter_map(serde_yaml_ng::Value::as_str) {
        let Some(name) = resource
            .strip_prefix(SERVICE_DIR)
            .and_then(|file| file.strip_suffix(".yaml"))
        else {
            continue;
        };
        // The name is also a binary's, an NGINX upstream's and a pid file's.
        let usable = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !usable {
            return Err(format!("{resource}: {name:?} is not a function name"));
        }
        if functions.iter().any(|f| f == name) {
            return Err(format!("{resource} is listed twice"));
        }
        functions.push(name.to_owned());
    }
    if functions.is_empty() {
        return Err(format!("no {SERVICE_DIR}<function>.yaml resources"));
    }
    Ok(functions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_read_in_order_and_other_resources_skipped() {
        let text = "resources:\n  - config.yaml\n  - services/sign-up.yaml\n  - triggers/hold-tickets.yaml\n  - services/place-order.yaml\n  - broker.yaml\n";
        assert_eq!(
            from_kustomization(text),
            Ok(vec!["sign-up".to_owned(), "place-order".to_owned()])
        );
    }

    #[test]
    fn a_service_listed_twice_is_refused() {
        let text = "resources:\n  - services/charge.yaml\n  - services/charge.yaml\n";
        assert_eq!(
            from_kustomization(text),
            Err("services/charge.yaml is listed twice".to_owned())
        );
    }

    #[test]
    fn the_project_s_list_keeps_the_ports_devstack_has_always_given() {
        let functions = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).expect("the list");
        // Ports are positions: these stay where `make run` users and their bookmarks expect them.
        assert_eq!(functions.first().map(String::as_str), Some("sign-up"));
        assert_eq!(
            functions.iter().position(|f| f == "place-order"),
            Some(12),
            "{functions:?}"
        );
    }
}
