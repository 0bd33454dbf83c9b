//! `/tickets/new` (sell a listing) and `/tickets/:id` (see one, buy some).

use contract::api::{Entered, OrderRequest, TicketRequest};
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use sycamore_router::navigate;

use crate::api::Call;
use crate::config::Config;
use crate::forms::{Alert, Field, Sending, field_message};
use crate::models::{Order, Ticket};
use crate::money;
use crate::pages::drop;
use crate::session::{Session, require_user};
use crate::when;

#[component]
pub fn Sell() -> View {
    let config = use_context::<&'static Config>();
    let session = require_user();
    let title = create_signal(String::new());
    let price = create_signal(String::new());
    let quantity = create_signal("1".to_owned());
    let venue = create_signal(String::new());
    let starts_at = create_signal(String::new());
    let on_sale_at = create_signal(String::new());
    let sending = Sending::new();
    let (problems, busy) = (sending.problems, sending.busy);
    let starts_label = match when::zone_name() {
        Some(zone) => format!("Starts at (optional, your time: {zone})"),
        None => "Starts at (optional, your local time)".to_owned(),
    };
    // The field holds the browser's wall clock; the API gets it as UTC (`when::local_input_to_utc`).
    let on_sale_label = match when::zone_name() {
        Some(zone) => format!("On sale at (optional: makes it a drop; your time: {zone})"),
        None => "On sale at (optional: makes it a drop; your local time)".to_owned(),
    };

    let submit = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        if !sending.begin() {
            return;
        }
        price.set(money::tidy_price(&price.get_clone()));
        // As typed: the server names each field's rule.
        let body = TicketRequest {
            title: title.get_clone(),
            price: Entered::Text(price.get_clone().trim().to_owned()),
            quantity: Some(Entered::typed(&quantity.get_clone())),
            venue: Some(venue.get_clone().trim().to_owned()).filter(|v| !v.is_empty()),
            starts_at: when::local_input_to_utc(&starts_at.get_clone()),
            on_sale_at: when::local_input_to_utc(&on_sale_at.get_clone()),
        };
        let api = config.api_base.clone();
        spawn_local_scoped(async move {
            match Call::post("/tickets", &body).json::<Ticket>(&api).await {
                Ok(answer) => navigate(&format!("/tickets/{}", answer.body.id)),
                Err(failure) => sending.fail(failure.problems),
            }
        });
    };

    view! {
        h1 { "Sell Tickets" }
        (if session.user.with(Option::is_some) {
            let starts_label = starts_label.clone();
            let on_sale_label = on_sale_label.clone();
            view! {
                form(class="form", on:submit=submit, novalidate=true) {
                    Field(label="Title", name="title", kind="text", autocomplete="off",
                        value=title, problems=problems)
                    div(class="field") {
                        label(r#for="price") { "Price" }
                        input(id="price", name="price", r#type="text", inputmode="decimal",
                            autocomplete="off", aria-describedby="price-error",
                            bind:value=price,
                            on:blur=move |_| price.set(money::tidy_price(&price.get_clone())))
                        p(class="field-error", id="price-error") {
                            (field_message(problems, "price").unwrap_or_default())
                        }
                    }
                    Field(label="Quantity", name="quantity", kind="number", autocomplete="off",
                        value=quantity, problems=problems)
                    fieldset(class="event") {
                        legend { "The event" }
                        Field(label="Venue (optional)", name="venue", kind="text",
                            autocomplete="off", value=venue, problems=problems)
                        div(class="field") {
                            label(r#for="startsAt") { (starts_label.clone()) }
                            input(id="startsAt", name="startsAt", r#type="datetime-local",
                                aria-describedby="startsAt-error",
                                aria-invalid=move || field_message(problems, "startsAt").is_some().to_string(),
                                bind:value=starts_at)
                            p(class="field-error", id="startsAt-error") {
                                (field_message(problems, "startsAt").unwrap_or_default())
                            }
                        }
                    }
                    div(class="field") {
                        label(r#for="onSaleAt") { (on_sale_label.clone()) }
                        input(id="onSaleAt", name="onSaleAt", r#type="datetime-local",
                            aria-describedby="onSaleAt-error",
                            aria-invalid=move || field_message(problems, "onSaleAt").is_some().to_string(),
                            bind:value=on_sale_at)
                        p(class="field-error", id="onSaleAt-error") {
                            (field_message(problems, "onSaleAt").unwrap_or_default())
                        }
                    }
                    Alert(problems=problems)
                    button(r#type="submit", disabled=move || busy.get()) { "Submit" }
                }
            }
        } else {
            view! { p(class="loading") { "Loading…" } }
        })
    }
}

/// A fresh `Idempotency-Key` from the browser's generator.
pub fn new_key() -> String {
    web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| c.random_uuid())
        .unwrap_or_else(|| format!("{}", js_sys::Math::random()))
}

#[component(inline_props)]
pub fn Show(id: String) -> View {
    let config = use_context::<&'static Config>();
    let session = use_context::<Session>();
    let ticket = create_signal(None::<Ticket>);
    let quantity = create_signal("1".to_owned());
    let sending = Sending::new();
    let (problems, busy) = (sending.problems, sending.busy);
    // One key per purchase attempt: reused unless the answer was a refusal, so a retry after a lost
    // connection or a 5xx (which may have held the tickets) cannot buy twice, while a new attempt
    // after a refusal is a new order.
    let key = create_signal(new_key());

    let api = config.api_base.clone();
    let path = format!("/tickets/{id}");
    spawn_local_scoped(async move {
        match Call::get(path).json::<Ticket>(&api).await {
            Ok(answer) => ticket.set(Some(answer.body)),
            Err(failure) => problems.set(failure.problems),
        }
    });

    let purchase = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        if session.user.with(Option::is_none) {
            navigate("/auth/signin");
            return;
        }
        let Some(ticket_id) = ticket.with(|t| t.as_ref().map(|t| t.id.clone())) else {
            return;
        };
        if !sending.begin() {
            return;
        }
        let body = OrderRequest {
            ticket_id: ticket_id.to_string(),
            quantity: Some(Entered::typed(&quantity.get_clone())),
        };
        let api = config.api_base.clone();
        spawn_local_scoped(async move {
            let call = Call::post("/orders", &body).header("Idempotency-Key", key.get_clone());
            match call.json::<Order>(&api).await {
                Ok(answer) => navigate(&format!("/orders/{}", answer.body.id)),
                Err(failure) => {
                    if failure.is_refusal() {
                        key.set(new_key());
                    }
                    sending.fail(failure.problems);
                }
            }
        });
    };

    view! {
        (match ticket.get_clone() {
            None => view! { h1 { "Ticket" } },
            Some(ticket) => {
                let mine = session.user.with(|u| u.as_ref().is_some_and(|u| u.id == ticket.user_id));
                let max = ticket.available.get().clamp(1, 10).to_string();
                let facts = event_facts(ticket.venue.clone(), ticket.starts_at.clone());
                let drop_listing = ticket.on_sale_at.is_some().then(|| ticket.clone());
                view! {
                    h1 { (ticket.title.clone()) }
                    dl(class="facts") {
                        (facts)
                        dt { "Price" } dd { (money::display(ticket.price)) }
                        dt { "Available" } dd { (ticket.available.get()) " of " (ticket.quantity.get()) }
                    }
                    (if let Some(listing) = drop_listing.clone() {
                        view! { drop::DropPanel(ticket=listing, mine=mine) }
                    } else if mine {
                        view! { p { "This is your listing." } }
                    } else if ticket.available.get() == 0 {
                        view! { p(class="sold-out") { "Sold out" } }
                    } else {
                        let max = max.clone();
                        view! {
                            form(class="form purchase", on:submit=purchase, novalidate=true) {
                                div(class="field") {
                                    label(r#for="quantity") { "Quantity" }
                                    input(id="quantity", name="quantity", r#type="number", min="1",
                                        max=max, aria-describedby="quantity-error",
                                        bind:value=quantity)
                                    p(class="field-error", id="quantity-error") {
                                        (field_message(problems, "quantity").unwrap_or_default())
                                    }
                                }
                                button(r#type="submit", disabled=move || busy.get()) { "Purchase" }
                            }
                        }
                    })
                }
            }
        })
        Alert(problems=problems)
    }
}

/// Where and when the event is, as rows of a `dl.facts`; nothing for a listing that does not say.
pub fn event_facts(venue: Option<String>, starts_at: Option<String>) -> View {
    view! {
        (match venue.clone() {
            Some(venue) => view! { dt { "Venue" } dd { (venue) } },
            None => view! {},
        })
        (match starts_at.as_deref().map(when::date_and_clock) {
            Some(starts) => view! { dt { "Starts" } dd { (starts) } },
            None => view! {},
        })
    }
}
