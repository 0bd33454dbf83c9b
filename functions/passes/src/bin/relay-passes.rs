//! The `relay-passes` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("relay-passes", passes::relay_app)
}
