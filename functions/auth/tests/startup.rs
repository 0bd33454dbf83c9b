//! A function binary refuses to start on bad configuration, saying why in one line per problem.

use std::process::Command;

fn start_without(binary: &str, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run the function binary")
}

#[test]
fn a_function_started_without_jwt_key_exits_non_zero_naming_the_variable() {
    for binary in [
        env!("CARGO_BIN_EXE_sign-up"),
        env!("CARGO_BIN_EXE_sign-in"),
        env!("CARGO_BIN_EXE_sign-out"),
        env!("CARGO_BIN_EXE_current-user"),
    ] {
        let output = start_without(binary, &[("PORT", "0")]);
        assert!(!output.status.success(), "{binary} must not start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{binary}: {stderr}");
        assert!(
            lines[0].contains("JWT_KEY is not set"),
            "{binary}: {stderr}"
        );
    }
}

#[test]
fn each_invalid_variable_gets_its_own_line() {
    let output = start_without(
        env!("CARGO_BIN_EXE_sign-up"),
        &[
            ("PORT", "eighty"),
            ("SESSION_TTL_SECONDS", "-5"),
            ("COOKIE_SECURE", "maybe"),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in ["PORT", "JWT_KEY", "SESSION_TTL_SECONDS", "COOKIE_SECURE"] {
        assert_eq!(
            stderr
                .lines()
                .filter(|line| line.contains(variable))
                .count(),
            1,
            "{variable}: {stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
