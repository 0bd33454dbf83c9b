//! The `current-user` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("current-user", auth::current_user::app)
}
