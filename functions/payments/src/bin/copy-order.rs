//! The `copy-order` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("copy-order", payments::copy_order_app)
}
