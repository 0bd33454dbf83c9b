//! The `join-queue` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("join-queue", orders::join_queue::app)
}
