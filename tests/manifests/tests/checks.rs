//! The deployment checks on the project as it is, and on deliberately broken manifests.

use std::path::{Path, PathBuf};

use manifests::Project;

/// The project checked: this one, or the checkout at `PROJECT_DIR` (to check another tree with
/// the same test binary).
fn root() -> PathBuf {
    std::env::var_os("PROJECT_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
        PathBuf::from,
    )
}

fn project() -> Project {
    Project::load(&root()).expect("the project's manifests load")
}

fn with_fixture(name: &str) -> Project {
    let mut project = project();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    project.add_yaml(name, &text).expect("fixture parses");
    project
}

#[test]
fn the_project_passes_every_cross_check() {
    let project = project();
    assert!(
        project.functions.len() >= 25,
        "functions found: {:?}",
        project.functions
    );
    assert_eq!(project.problems(), Vec::<String>::new());
}

fn render(overlay: &str) -> String {
    let output = std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(root().join("knative").join(overlay))
        .output()
        .expect("kubectl is installed by scripts/setup.sh");
    assert!(
        output.status.success(),
        "{overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Validates YAML against the Kubernetes and Knative schemas; returns the validator's report.
fn validate(yaml: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("node")
        .arg(root().join("scripts/validate-manifests.mjs"))
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs the validator");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("validator output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn every_overlay_renders_and_every_object_matches_its_schema() {
    for overlay in ["base", "overlays/dev", "overlays/prod", "overlays/drop"] {
        let (valid, report) = validate(&render(overlay));
        assert!(valid, "{overlay}: {report}");
        assert!(report.contains(" 0 invalid"), "{overlay}: {report}");
    }
}

#[test]
fn an_object_that_breaks_its_schema_is_found() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-breaking.yaml"),
    )
    .expect("fixture");
    let (valid, report) = validate(&text);
    assert!(!valid, "{report}");
    assert!(report.contains("containers must be array"), "{report}");
    assert!(report.contains("broker must be string"), "{report}");
}

#[test]
fn the_drop_overlay_keeps_the_hot_path_warm() {
    let mut drop = Project::default();
    drop.add_yaml("drop", &render("overlays/drop"))
        .expect("parses");
    let place_order = drop
        .of_kind("Service")
        .find(|s| s.name == "place-order")
        .expect("place-order");
    let min_scale = place_order.value["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"].as_str();
    assert_eq!(min_scale, Some("3"));
    let sign_up = drop
        .of_kind("Service")
        .find(|s| s.name == "sign-up")
        .expect("sign-up");
    assert_eq!(sign_up.value["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"].as_str(), Some("0"));
}

#[test]
fn a_dry_run_deploy_shows_one_build_and_one_service_offline() {
    let output = std::process::Command::new(root().join("scripts/deploy.sh"))
        .env("FN", "place-order")
        .env("DRY_RUN", "1")
        .output()
        .expect("run deploy.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("skaffold build --profile dev --build-image ticketing.place-order.fn"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("kind: Service").count(), 1, "{stdout}");
    assert!(stdout.contains("name: place-order"), "{stdout}");
    let unknown = std::process::Command::new(root().join("scripts/deploy.sh"))
        .env("FN", "order")
        .env("DRY_RUN", "1")
        .output()
        .expect("run deploy.sh");
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn image_names_that_contain_one_another_are_found() {
    let mut project = project();
    project
        .images
        .push("ticketing.place-order.fn.v2".to_owned());
    assert!(
        project.images_are_distinct().contains(
            &"image name ticketing.place-order.fn is a substring of ticketing.place-order.fn.v2"
                .to_owned()
        )
    );
}

#[test]
fn a_route_without_a_cluster_upstream_is_found() {
    let mut project = project();
    project.cluster_nginx = project
        .cluster_nginx
        .replace("upstream charge {", "upstream renamed {");
    assert_eq!(
        project.routes_have_cluster_upstreams(),
        vec!["the cluster's NGINX has no upstream charge".to_owned()]
    );
}

#[test]
fn kustomize_renders_the_base() {
    let output = std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(root().join("knative/base"))
        .output()
        .expect("kubectl is installed by scripts/setup.sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut rendered = Project::default();
    rendered
        .add_yaml("rendered", &String::from_utf8_lossy(&output.stdout))
        .expect("rendered YAML parses");
    let services = rendered.of_kind("Service").count();
    assert!(
        services >= project().functions.len(),
        "every Service is in the kustomization: {services}"
    );
    assert_eq!(
        rendered.of_kind("Trigger").count(),
        project().of_kind("Trigger").count(),
        "every Trigger is in the kustomization"
    );
}

#[test]
fn a_function_without_a_service_is_found() {
    let mut project = project();
    project
        .objects
        .retain(|o| !(o.kind == "Service" && o.name == "charge"));
    assert!(
        project
            .functions_have_services()
            .contains(&"function charge has no Knative Service".to_owned())
    );
}

#[test]
fn a_function_nothing_reaches_is_found() {
    let mut project = project();
    project.functions.insert("orphan-function".to_owned());
    assert_eq!(
        project.functions_are_reachable(),
        vec!["function orphan-function has no NGINX route, Trigger or PingSource".to_owned()]
    );
}

#[test]
fn an_event_type_without_a_trigger_is_found() {
    let mut project = project();
    project
        .objects
        .retain(|o| !(o.kind == "Trigger" && o.name == "track-payment-failed"));
    assert_eq!(
        project.event_types_have_triggers(),
        vec!["event type ticketing.payment.failed has no Trigger".to_owned()]
    );
}

#[test]
fn a_trigger_or_route_to_a_missing_service_is_found() {
    let mut project = with_fixture("trigger-to-nowhere.yaml");
    project
        .nginx
        .push_str("\nlocation = /api/ghost { proxy_pass http://ghost-route; }\n");
    let problems = project.references_exist();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Trigger ghost-on-order-created") && p.contains("ghost-function")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("ghost-route")),
        "{problems:?}"
    );
}

#[test]
fn a_schedule_that_is_not_five_field_cron_is_found() {
    let project = with_fixture("six-field-cron.yaml");
    assert_eq!(
        project.schedules_are_cron(),
        vec![
            "PingSource expire-too-often schedule \"*/10 * * * * *\" is not 5-field cron"
                .to_owned()
        ]
    );
}

#[test]
fn reserved_variables_and_ports_are_found() {
    let project = with_fixture("reserved-env-and-ports.yaml");
    let problems = project.services_respect_knative();
    for expected in [
        "Service place-order declares 2 container ports, not one",
        "Service place-order uses Knative's reserved port 8012",
        "Service place-order sets PORT, which Knative reserves",
        "Service place-order sets K_SERVICE, which Knative reserves",
    ] {
        assert!(
            problems.contains(&expected.to_owned()),
            "{expected}: {problems:?}"
        );
    }
}

#[test]
fn a_binary_missing_from_the_list_of_functions_is_found() {
    let mut project = project();
    project.functions.insert("refund-order".to_owned());
    let problems = project.functions_are_listed();
    assert_eq!(
        problems,
        vec![
            "function refund-order is not in knative/base/kustomization.yaml (services/refund-order.yaml)"
                .to_owned()
        ]
    );
    assert!(
        project
            .problems()
            .contains(&"function refund-order has no Knative Service".to_owned())
    );
}

#[test]
fn a_listed_function_without_a_binary_is_found() {
    let mut project = project();
    project.functions.remove("charge");
    assert_eq!(
        project.functions_are_listed(),
        vec![
            "function charge is in knative/base/kustomization.yaml but has no binary (functions/*/src/bin/charge.rs)"
                .to_owned()
        ]
    );
}
