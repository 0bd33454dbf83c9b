//! The `sign-up` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("sign-up", auth::sign_up::app)
}
