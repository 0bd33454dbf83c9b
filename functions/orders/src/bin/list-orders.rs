//! The `list-orders` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("list-orders", orders::list_orders::app)
}
