//! The `show-ticket` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("show-ticket", tickets::show_ticket::app)
}
