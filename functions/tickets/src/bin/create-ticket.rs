//! The `create-ticket` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("create-ticket", tickets::create_ticket::app)
}
