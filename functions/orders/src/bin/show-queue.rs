//! The `show-queue` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("show-queue", orders::show_queue::app)
}
