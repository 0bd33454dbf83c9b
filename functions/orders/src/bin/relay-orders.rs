//! The `relay-orders` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("relay-orders", orders::relay_app)
}
