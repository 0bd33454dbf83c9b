//! The `charge` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("charge", payments::charge_app)
}
