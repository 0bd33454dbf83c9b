//! A bridge that cannot start exits non-zero and says why on stderr, so devstack (or a cluster)
//! sees a failure and restarts it instead of taking it for a clean stop.

use std::process::{Command, Output};

fn start(env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nats-bridge"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run nats-bridge")
}

fn assert_fails_saying(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status; stderr: {stderr}"
    );
    assert!(stderr.contains(expected), "{expected:?} in {stderr}");
}

#[test]
fn without_its_trigger_manifests_the_bridge_exits_non_zero() {
    let output = start(&[("KNATIVE_DIR", "/nonexistent/knative")]);
    assert_fails_saying(&output, "nats-bridge: cannot read /nonexistent/knative");
}

#[test]
fn with_an_unusable_nats_url_the_bridge_exits_non_zero() {
    let output = start(&[("K_SINK", "http://127.0.0.1:9"), ("NATS_URL", "not a url")]);
    assert_fails_saying(&output, "NATS_URL is invalid");
}

#[test]
fn without_an_address_for_a_trigger_s_service_the_bridge_exits_non_zero() {
    let knative = concat!(env!("CARGO_MANIFEST_DIR"), "/../knative/base");
    let output = start(&[("KNATIVE_DIR", knative), ("SERVICE_URLS", "")]);
    assert_fails_saying(&output, "SERVICE_URLS is invalid: no address for");
}
