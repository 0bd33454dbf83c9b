//! The `expire-order` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("expire-order", orders::outcomes::expire_app)
}
