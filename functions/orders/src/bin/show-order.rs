//! The `show-order` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("show-order", orders::show_order::app)
}
