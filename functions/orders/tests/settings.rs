//! Each function reads only the variables it uses: the event handlers need no session and no hold
//! time, whatever those variables say.

use shared::testing::assert_complains_of;

/// No `JWT_KEY`, a bad session lifetime and a bad hold time (and, from `complaints`, a bad `PORT`).
const BAD: &[(&str, &str)] = &[("SESSION_TTL_SECONDS", "-5"), ("ORDER_HOLD_SECONDS", "0")];

#[test]
fn event_handlers_read_neither_sessions_nor_the_hold_time() {
    for binary in [
        env!("CARGO_BIN_EXE_replicate-ticket"),
        env!("CARGO_BIN_EXE_track-payment"),
        env!("CARGO_BIN_EXE_expire-order"),
        env!("CARGO_BIN_EXE_complete-order"),
        env!("CARGO_BIN_EXE_relay-orders"),
    ] {
        assert_complains_of(binary, BAD, &["PORT"]);
    }
}

#[test]
fn the_buyer_s_other_routes_read_sessions_but_not_the_hold_time() {
    for binary in [
        env!("CARGO_BIN_EXE_cancel-order"),
        env!("CARGO_BIN_EXE_list-orders"),
        env!("CARGO_BIN_EXE_show-order"),
        env!("CARGO_BIN_EXE_join-queue"),
        env!("CARGO_BIN_EXE_show-queue"),
    ] {
        assert_complains_of(
            binary,
            BAD,
            &["PORT", "JWT_KEY is not set", "SESSION_TTL_SECONDS"],
        );
    }
}

#[test]
fn placing_an_order_reads_sessions_and_the_hold_time() {
    assert_complains_of(
        env!("CARGO_BIN_EXE_place-order"),
        BAD,
        &[
            "PORT",
            "JWT_KEY is not set",
            "SESSION_TTL_SECONDS",
            "ORDER_HOLD_SECONDS",
        ],
    );
}

#[test]
fn the_queue_and_what_moves_it_read_the_admission_window_and_pace() {
    let bad = &[("DROP_ADMISSION_SECONDS", "0"), ("DROP_ADMITTED_MAX", "0")];
    for binary in [
        env!("CARGO_BIN_EXE_join-queue"),
        env!("CARGO_BIN_EXE_show-queue"),
        env!("CARGO_BIN_EXE_cancel-order"),
        env!("CARGO_BIN_EXE_expire-order"),
    ] {
        let complaints: &[&str] = if binary.ends_with("expire-order") {
            &["PORT", "DROP_ADMISSION_SECONDS", "DROP_ADMITTED_MAX"]
        } else {
            &[
                "PORT",
                "JWT_KEY is not set",
                "DROP_ADMISSION_SECONDS",
                "DROP_ADMITTED_MAX",
            ]
        };
        assert_complains_of(binary, bad, complaints);
    }
}
