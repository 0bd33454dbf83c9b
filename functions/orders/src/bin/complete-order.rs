//! The `complete-order` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("complete-order", orders::outcomes::complete_app)
}
