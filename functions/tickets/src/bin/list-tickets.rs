//! The `list-tickets` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("list-tickets", tickets::list_tickets::app)
}
