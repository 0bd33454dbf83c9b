//! The `withdraw-ticket` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("withdraw-ticket", tickets::withdraw_ticket::app)
}
