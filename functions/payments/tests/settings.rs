//! Each payments function reads only the variables it uses: the session settings only `charge`,
//! the webhook's signing secret only `stripe-webhook`.

use shared::testing;

/// A bad session lifetime, and no `JWT_KEY`, `STRIPE_SECRET_KEY` or `STRIPE_WEBHOOK_SECRET` (and,
/// from `complaints`, a bad `PORT`).
fn assert_complains_of(binary: &str, expected: &[&str]) {
    testing::assert_complains_of(binary, &[("SESSION_TTL_SECONDS", "-5")], expected);
}

#[test]
fn event_handlers_and_the_relay_read_stripe_s_key_but_no_session_and_no_webhook_secret() {
    for binary in [
        env!("CARGO_BIN_EXE_copy-order"),
        env!("CARGO_BIN_EXE_relay-payments"),
    ] {
        assert_complains_of(binary, &["PORT", "STRIPE_SECRET_KEY"]);
    }
}

#[test]
fn charging_reads_sessions_but_not_the_webhook_secret() {
    assert_complains_of(
        env!("CARGO_BIN_EXE_charge"),
        &[
            "PORT",
            "STRIPE_SECRET_KEY",
            "JWT_KEY is not set",
            "SESSION_TTL_SECONDS",
        ],
    );
}

#[test]
fn the_webhook_reads_its_secret_but_no_session() {
    assert_complains_of(
        env!("CARGO_BIN_EXE_stripe-webhook"),
        &["PORT", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"],
    );
}
