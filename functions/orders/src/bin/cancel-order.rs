//! The `cancel-order` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("cancel-order", orders::cancel_order::app)
}
