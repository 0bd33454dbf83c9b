//! The `check-in` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("check-in", passes::check_in_app)
}
