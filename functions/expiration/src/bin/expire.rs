//! The `expire` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("expire", expiration::expire_app)
}
