//! The `sign-in` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("sign-in", auth::sign_in::app)
}
