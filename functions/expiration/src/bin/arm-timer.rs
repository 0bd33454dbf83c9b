//! The `arm-timer` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("arm-timer", expiration::arm_app)
}
