//! The `track-payment` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("track-payment", orders::outcomes::track_payment_app)
}
