//! The `relay-payments` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("relay-payments", payments::relay_app)
}
