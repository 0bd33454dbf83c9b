//! The `resell-pass` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("resell-pass", tickets::resale::app)
}
