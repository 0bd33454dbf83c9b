//! The `stripe-webhook` function.

fn main() -> std::process::ExitCode {
    shared::runtime::run("stripe-webhook", payments::webhook_app)
}
