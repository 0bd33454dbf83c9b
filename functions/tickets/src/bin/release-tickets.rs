//! The `release-tickets` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("release-tickets", tickets::holds::release_app)
}
