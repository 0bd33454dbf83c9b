//! The `hold-tickets` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("hold-tickets", tickets::holds::hold_app)
}
