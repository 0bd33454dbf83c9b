//! `/`: the tickets on sale, a page at a time.

use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;

use crate::api::{Call, Problem};
use crate::config::Config;
use crate::forms::Alert;
use crate::models::Ticket;
use crate::money;

#[component]
pub fn Home() -> View {
    let config = use_context::<&'static Config>();
    let tickets = create_signal(Vec::<Ticket>::new());
    let next = create_signal(None::<String>);
    let loading = create_signal(true);
    let problems = create_signal(Vec::<Problem>::new());

    let load = move |after: Option<String>| {
        let api = config.api_base.clone();
        loading.set(true);
        spawn_local_scoped(async move {
            let path = match &after {
                Some(cursor) => format!("/tickets?after={cursor}"),
                None => "/tickets".to_owned(),
            };
            match Call::get(path).json::<Vec<Ticket>>(&api).await {
                Ok(answer) => {
                    tickets.update(|all| all.extend(answer.body));
                    next.set(answer.next);
                    problems.set(Vec::new());
                }
                Err(failure) => problems.set(failure.problems),
            }
            loading.set(false);
        });
    };
    load(None);

    view! {
        h1 { "Tickets" }
        Alert(problems=problems)
        (if tickets.with(Vec::is_empty) && !loading.get() && problems.with(Vec::is_empty) {
            view! { p { "No tickets on sale right now." } }
        } else {
            view! {}
        })
        table(class="tickets") {
            thead {
                tr {
                    th(scope="col") { "Title" }
                    th(scope="col") { "Price" }
                    th(scope="col") { "Available" }
                    th(scope="col") { span(class="visually-hidden") { "Link" } }
                }
            }
            tbody {
                Keyed(
                    list=tickets,
                    key=|ticket| ticket.id.clone(),
                    view=|ticket| view! {
                        tr {
                            td { (ticket.title) }
                            td { (money::display(ticket.price)) }
                            td { (ticket.available.get()) }
                            td { a(href=format!("/tickets/{}", ticket.id)) { "View" } }
                        }
                    },
                )
            }
        }
        (if loading.get() {
            view! { p(class="loading") { "Loading…" } }
        } else if let Some(cursor) = next.get_clone() {
            view! {
                button(r#type="button", on:click=move |_| load(Some(cursor.clone()))) {
                    "More tickets"
                }
            }
        } else {
            view! {}
        })
    }
}
