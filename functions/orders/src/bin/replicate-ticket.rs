//! The `replicate-ticket` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("replicate-ticket", orders::replica::app)
}
