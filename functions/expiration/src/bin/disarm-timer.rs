//! The `disarm-timer` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("disarm-timer", expiration::disarm_app)
}
