//! The shell: configuration first, then the session, the header and the router.

use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use sycamore_router::{HistoryIntegration, Route, Router};

use crate::config::Config;
use crate::forms::Alert;
use crate::pages::{auth, checkin, home, orders, passes, queue, tickets};
use crate::session::Session;

#[derive(Route, Clone, PartialEq)]
enum Page {
    #[to("/")]
    Home,
    #[to("/auth/signup")]
    SignUp,
    #[to("/auth/signin")]
    SignIn,
    #[to("/auth/signout")]
    SignOut,
    #[to("/tickets/new")]
    Sell,
    #[to("/tickets/<id>")]
    Ticket { id: String },
    #[to("/tickets/<id>/queue")]
    Queue { id: String },
    #[to("/orders")]
    Orders,
    #[to("/orders/<id>")]
    Order { id: String },
    #[to("/passes")]
    Passes,
    #[to("/passes/<id>")]
    Pass { id: String },
    #[to("/checkin")]
    CheckIn,
    #[not_found]
    NotFound,
}

#[component]
pub fn App() -> View {
    let config = create_signal(None::<Result<&'static Config, crate::api::Failure>>);
    spawn_local_scoped(async move {
        config.set(Some(
            crate::config::load().await.map(crate::config::install),
        ));
    });
    view! {
        (match config.get_clone() {
            None => view! { p(class="loading") { "Loading…" } },
            Some(Ok(config)) => view! { Shell(config=config) },
            Some(Err(failure)) => {
                let problems = create_signal(failure.problems);
                view! {
                    main(class="page") {
                        h1 { "ticketing" }
                        p { "The storefront could not start." }
                        Alert(problems=problems)
                    }
                }
            }
        })
    }
}

#[component(inline_props)]
fn Shell(config: &'static Config) -> View {
    let session = Session::start(config);
    provide_context(config);
    provide_context(session);
    view! {
        Router(
            integration=HistoryIntegration::new(),
            view=move |page: ReadSignal<Page>| view! {
                div(class="app") {
                    Header()
                    main(class="page", id="main") {
                        (match page.get_clone() {
                            Page::Home => view! { home::Home() },
                            Page::SignUp => view! { auth::SignUp() },
                            Page::SignIn => view! { auth::SignIn() },
                            Page::SignOut => view! { auth::SignOut() },
                            Page::Sell => view! { tickets::Sell() },
                            Page::Ticket { id } => view! { tickets::Show(id=id) },
                            Page::Queue { id } => view! { queue::Queue(id=id) },
                            Page::Orders => view! { orders::List() },
                            Page::Order { id } => view! { orders::Show(id=id) },
                            Page::Passes => view! { passes::List() },
                            Page::Pass { id } => view! { passes::Show(id=id) },
                            Page::CheckIn => view! { checkin::CheckIn() },
                            Page::NotFound => view! {
                                h1 { "Page not found" }
                                p { a(href="/") { "Back to the tickets" } }
                            },
                        })
                    }
                }
            },
        )
    }
}

#[component]
fn Header() -> View {
    let session = use_context::<Session>();
    view! {
        header(class="site") {
            a(class="brand", href="/") { "ticketing" }
            nav(aria-label="Account") {
                (if !session.known.get() {
                    view! {}
                } else if session.user.with(Option::is_some) {
                    view! {
                        a(href="/tickets/new") { "Sell Tickets" }
                        a(href="/orders") { "My Orders" }
                        a(href="/passes") { "My Tickets" }
                        a(href="/checkin") { "Check-in" }
                        a(href="/auth/signout") { "Sign Out" }
                    }
                } else {
                    view! {
                        a(href="/auth/signup") { "Sign Up" }
                        a(href="/auth/signin") { "Sign In" }
                    }
                })
            }
        }
    }
}
