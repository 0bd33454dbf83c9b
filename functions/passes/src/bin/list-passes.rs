//! The `list-passes` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("list-passes", passes::list_passes_app)
}
