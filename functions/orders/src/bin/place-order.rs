//! The `place-order` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("place-order", orders::place_order::app)
}
