//! The `issue-passes` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("issue-passes", passes::issue_app)
}
