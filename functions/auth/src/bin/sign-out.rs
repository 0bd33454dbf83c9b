//! The `sign-out` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("sign-out", auth::sign_out::app)
}
