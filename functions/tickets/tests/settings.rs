//! Each function reads only the variables it uses: a handler that needs no session starts without
//! `JWT_KEY`, whatever the session variables say.

use shared::testing::assert_complains_of;

/// No `JWT_KEY` and a bad session lifetime (and, from `complaints`, a bad `PORT`).
const BAD: &[(&str, &str)] = &[("SESSION_TTL_SECONDS", "-5")];

#[test]
fn handlers_without_sessions_read_no_session_variables() {
    for binary in [
        env!("CARGO_BIN_EXE_hold-tickets"),
        env!("CARGO_BIN_EXE_release-tickets"),
        env!("CARGO_BIN_EXE_sell-tickets"),
        env!("CARGO_BIN_EXE_show-ticket"),
        env!("CARGO_BIN_EXE_list-tickets"),
        env!("CARGO_BIN_EXE_relay-tickets"),
        env!("CARGO_BIN_EXE_track-passes"),
    ] {
        assert_complains_of(binary, BAD, &["PORT"]);
    }
}

#[test]
fn functions_with_sessions_still_need_them() {
    for binary in [
        env!("CARGO_BIN_EXE_create-ticket"),
        env!("CARGO_BIN_EXE_update-ticket"),
        env!("CARGO_BIN_EXE_withdraw-ticket"),
        env!("CARGO_BIN_EXE_resell-pass"),
    ] {
        assert_complains_of(
            binary,
            BAD,
            &["PORT", "JWT_KEY is not set", "SESSION_TTL_SECONDS"],
        );
    }
}
