//! The `relay-tickets` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("relay-tickets", tickets::relay_app)
}
