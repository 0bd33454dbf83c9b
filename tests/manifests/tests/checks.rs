//! The deployment checks on the project as it is, and on deliberately broken manifests.

use std::path::{Path, PathBuf};

use manifests::Project;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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
