//! The `relay-expiration` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("relay-expiration", expiration::relay_app)
}
