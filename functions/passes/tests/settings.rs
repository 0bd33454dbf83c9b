//! Each passes function reads only what it uses: the signing key only where codes are signed, the
//! public keys only where they are checked.

use shared::testing::{assert_complains_of, complaints};

#[test]
fn only_issue_passes_reads_the_signing_key() {
    let binary = env!("CARGO_BIN_EXE_issue-passes");
    let stderr = complaints(binary, &[]);
    assert!(stderr.contains("PASS_KEY_ID is not set"), "{stderr}");
    assert!(stderr.contains("PASS_SIGNING_KEY is not set"), "{stderr}");
    assert!(!stderr.contains("JWT_KEY"), "{stderr}");
    assert!(!stderr.contains("PASS_PUBLIC_KEYS"), "{stderr}");
    for binary in [
        env!("CARGO_BIN_EXE_check-in"),
        env!("CARGO_BIN_EXE_list-passes"),
        env!("CARGO_BIN_EXE_relay-passes"),
    ] {
        let stderr = complaints(binary, &[]);
        assert!(!stderr.contains("PASS_SIGNING_KEY"), "{binary}: {stderr}");
        assert!(!stderr.contains("PASS_KEY_ID"), "{binary}: {stderr}");
    }
}

#[test]
fn a_bad_signing_key_is_refused_without_repeating_it() {
    let binary = env!("CARGO_BIN_EXE_issue-passes");
    let secret = "c2VjcmV0LWJ1dC10b28tc2hvcnQ";
    let stderr = complaints(
        binary,
        &[("PASS_KEY_ID", "K1"), ("PASS_SIGNING_KEY", secret)],
    );
    assert!(stderr.contains("PASS_SIGNING_KEY is invalid"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
    let stderr = complaints(
        binary,
        &[
            ("PASS_KEY_ID", "lower-case"),
            (
                "PASS_SIGNING_KEY",
                "B-3Kjp1pYfY6iBu6LpDNQiTuxEziH5rApbJWaQ0_Arg",
            ),
        ],
    );
    assert!(stderr.contains("PASS_KEY_ID is invalid"), "{stderr}");
}

#[test]
fn check_in_reads_sessions_and_the_public_keys_and_list_passes_only_sessions() {
    let stderr = complaints(env!("CARGO_BIN_EXE_check-in"), &[]);
    assert!(stderr.contains("JWT_KEY is not set"), "{stderr}");
    assert!(stderr.contains("PASS_PUBLIC_KEYS is not set"), "{stderr}");
    let stderr = complaints(
        env!("CARGO_BIN_EXE_check-in"),
        &[("PASS_PUBLIC_KEYS", "K1=short")],
    );
    assert!(stderr.contains("PASS_PUBLIC_KEYS is invalid"), "{stderr}");

    let stderr = complaints(env!("CARGO_BIN_EXE_list-passes"), &[]);
    assert!(stderr.contains("JWT_KEY is not set"), "{stderr}");
    assert!(!stderr.contains("PASS_"), "{stderr}");
    assert_complains_of(env!("CARGO_BIN_EXE_relay-passes"), &[], &["PORT"]);
}
