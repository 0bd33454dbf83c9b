//! `/orders/:id` (the countdown and the card form) and `/orders` (my orders).

use contract::api::PaymentRequest;
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use sycamore_router::navigate;

use crate::api::{Call, Problem};
use crate::config::Config;
use crate::forms::{Alert, Sending};
use crate::models::{self, Order, OrderStatus, Payment, PaymentStatus, Ticket};
use crate::money;
use crate::pages::tickets::event_facts;
use crate::session::require_user;
use crate::stripe::CardForm;
use crate::timer;

/// How often a page showing an order that is still settling asks again, and at most how many times.
const REFRESH_MILLIS: i32 = 2_000;
const REFRESHES: u32 = 60;

fn status_text(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Created => "waiting for payment",
        OrderStatus::AwaitingPayment => "waiting for your bank to confirm the payment",
        other => other.as_str(),
    }
}

#[component(inline_props)]
pub fn Show(id: String) -> View {
    let config = use_context::<&'static Config>();
    let session = require_user();
    let order = create_signal(None::<Order>);
    // The listing as it is now, for where and when the event is (the order keeps only its title
    // and price); an extra the page does without when it cannot be read.
    let listing = create_signal(None::<Ticket>);
    let problems = create_signal(Vec::<Problem>::new());
    let now = create_signal(timer::now_millis());
    timer::every(1_000, move || now.set(timer::now_millis()));

    let path = format!("/orders/{id}");
    let load = move || {
        let path = path.clone();
        spawn_local_scoped(async move {
            match Call::get(path).json::<Order>(&config.api_base).await {
                Ok(answer) => {
                    let ticket = format!("/tickets/{}", answer.body.ticket.id);
                    order.set(Some(answer.body));
                    if listing.with_untracked(Option::is_none)
                        && let Ok(found) = Call::get(ticket).json::<Ticket>(&config.api_base).await
                    {
                        listing.set(Some(found.body));
                    }
                }
                Err(failure) => problems.set(failure.problems),
            }
        });
    };
    create_effect({
        let load = load.clone();
        move || {
            if session.user.with(Option::is_some) {
                load();
            }
        }
    });
    // An order waiting for the bank moves on by itself; follow it.
    timer::refresh_while(
        REFRESH_MILLIS,
        REFRESHES,
        move || {
            order.with(|o| {
                o.as_ref()
                    .is_some_and(|o| o.status == OrderStatus::AwaitingPayment)
            })
        },
        load,
    );

    let seconds_left = move || {
        order.with(|o| {
            o.as_ref()
                .and_then(|o| timer::parse_millis(&o.expires_at))
                .map(|expires| ((expires - now.get()) / 1000.0).ceil().max(0.0) as i64)
        })
    };

    let open = move || order.with(|o| o.as_ref().is_some_and(models::is_payable));
    // Changes only when the order opens or closes for payment, not at every tick of the countdown:
    // the card form must not be built again while the buyer types.
    let payable = create_selector(move || open() && seconds_left().is_some_and(|s| s > 0));

    view! {
        (match order.get_clone() {
            None => view! { h1 { "Order" } },
            Some(current) => view! {
                h1 { "Order for " (current.ticket.title.clone()) }
                dl(class="facts") {
                    (match listing.get_clone() {
                        Some(ticket) => event_facts(ticket.venue, ticket.starts_at),
                        None => view! {},
                    })
                    dt { "Tickets" } dd { (current.quantity.get()) }
                    dt { "Price each" } dd { (money::display(current.ticket.price)) }
                    dt { "Total" } dd { (money::display(current.total)) }
                    dt { "Status" } dd(class="status") { (status_text(current.status)) }
                }
            },
        })
        (if open() {
            match seconds_left() {
                Some(left) if left > 0 => view! {
                    p(class="countdown", role="timer") { "Time left to pay: " (timer::remaining(left)) }
                },
                _ => view! { p(class="expired") { "Order Expired" } },
            }
        } else {
            view! {}
        })
        (if payable.get() {
            let order_id = order
                .with_untracked(|o| o.as_ref().map(|o| o.id.to_string()))
                .unwrap_or_default();
            view! { PayForm(order_id=order_id, problems=problems) }
        } else {
            view! {}
        })
        Alert(problems=problems)
    }
}

/// The card form: Stripe.js collects the card, our API charges the order, Stripe.js runs 3-D Secure
/// when the bank asks for it.
#[component(inline_props)]
fn PayForm(order_id: String, problems: Signal<Vec<Problem>>) -> View {
    let config = use_context::<&'static Config>();
    let card = create_signal(None::<CardForm>);
    let sending = Sending {
        problems,
        busy: create_signal(false),
    };
    let busy = sending.busy;
    on_mount(move || {
        spawn_local_scoped(async move {
            match CardForm::mount(
                &config.stripe_js_url,
                &config.stripe_publishable_key,
                "#card-element",
            )
            .await
            {
                Ok(form) => card.set(Some(form)),
                Err(message) => problems.set(vec![Problem::general(message)]),
            }
        });
    });

    let order = create_signal(order_id);
    let pay = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        let Some(form) = card.get_clone() else {
            return;
        };
        if !sending.begin() {
            return;
        }
        spawn_local_scoped(async move {
            let outcome = charge(config, &form, order.get_clone()).await;
            match outcome {
                Ok(()) => navigate("/orders"),
                Err(found) => sending.fail(found),
            }
        });
    };

    view! {
        form(class="form payment", on:submit=pay) {
            div(class="field") {
                span(class="label", id="card-label") { "Card" }
                div(id="card-element", class="card-element", role="group", aria-labelledby="card-label") {}
            }
            button(r#type="submit", disabled=move || busy.get() || card.with(Option::is_none)) { "Pay" }
        }
    }
}

async fn charge(config: &Config, form: &CardForm, order_id: String) -> Result<(), Vec<Problem>> {
    let as_problems = |message: String| vec![Problem::general(message)];
    let method = form.payment_method().await.map_err(as_problems)?;
    let body = PaymentRequest {
        order_id,
        payment_method_id: method,
    };
    let answer = Call::post("/payments", &body)
        .json::<Payment>(&config.api_base)
        .await
        .map_err(|failure| failure.problems)?;
    if answer.body.status == PaymentStatus::RequiresAction {
        let secret = answer.body.client_secret.unwrap_or_default();
        form.authenticate(&secret).await.map_err(as_problems)?;
    }
    Ok(())
}

#[component]
pub fn List() -> View {
    let config = use_context::<&'static Config>();
    let session = require_user();
    let orders = create_signal(Vec::<Order>::new());
    let loaded = create_signal(false);
    let problems = create_signal(Vec::<Problem>::new());

    let load = move || {
        spawn_local_scoped(async move {
            match Call::get("/orders")
                .json::<Vec<Order>>(&config.api_base)
                .await
            {
                Ok(answer) => {
                    orders.set(answer.body);
                    problems.set(Vec::new());
                }
                Err(failure) => problems.set(failure.problems),
            }
            loaded.set(true);
        });
    };
    create_effect(move || {
        if session.user.with(Option::is_some) {
            load();
        }
    });
    // A payment or an expiry just happened may not show yet: follow orders that are still settling.
    timer::refresh_while(
        REFRESH_MILLIS,
        REFRESHES,
        move || orders.with(|all| all.iter().any(models::is_settling)),
        load,
    );

    view! {
        h1 { "My Orders" }
        Alert(problems=problems)
        (if loaded.get() && orders.with(Vec::is_empty) && problems.with(Vec::is_empty) {
            view! { p { "You have no orders yet." } }
        } else {
            view! {}
        })
        table(class="orders") {
            thead {
                tr {
                    th(scope="col") { "Ticket" }
                    th(scope="col") { "Quantity" }
                    th(scope="col") { "Status" }
                    th(scope="col") { span(class="visually-hidden") { "Passes" } }
                }
            }
            tbody {
                Keyed(
                    list=orders,
                    key=|order| (order.id.clone(), order.status),
                    view=|order| view! {
                        tr {
                            td { a(href=format!("/orders/{}", order.id)) { (order.ticket.title.clone()) } }
                            td { (order.quantity.get()) }
                            td(class="status") { (order.status.as_str()) }
                            td {
                                (if order.status == OrderStatus::Complete {
                                    view! { a(href="/passes") { "Show tickets" } }
                                } else {
                                    view! {}
                                })
                            }
                        }
                    },
                )
            }
        }
    }
}
