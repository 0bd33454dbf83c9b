//! The `sell-tickets` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("sell-tickets", tickets::holds::sell_app)
}
