//! The `track-passes` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("track-passes", tickets::resale::track_app)
}
