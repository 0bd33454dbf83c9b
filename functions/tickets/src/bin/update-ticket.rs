//! The `update-ticket` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("update-ticket", tickets::update_ticket::app)
}
