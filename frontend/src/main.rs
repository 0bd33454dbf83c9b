//! The storefront: a single-page app that talks only to the API (`apiBase` in `/config.json`).

mod api;
mod app;
mod config;
mod forms;
mod models;
mod money;
mod pages;
mod session;
mod stripe;
mod timer;
mod when;

fn main() {
    sycamore::render(app::App);
}
