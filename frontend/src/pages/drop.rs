//! A drop's listing page (`/tickets/:id` of a listing with `onSaleAt`): the countdown to the sale,
//! the published queue seed, and Join the queue instead of Purchase.

use contract::api::Entered;
use contract::drops::{QueueEntryBody, QueueRequest};
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use sycamore_router::navigate;

use crate::api::Call;
use crate::config::Config;
use crate::forms::{Alert, Sending, field_message};
use crate::models::Ticket;
use crate::session::Session;
use crate::timer;

/// The queue page of a listing.
pub fn queue_path(ticket_id: &str) -> String {
    format!("/tickets/{ticket_id}/queue")
}

/// The drop's part of its listing page: when sales start, the seed, and joining the queue (for
/// anyone but the seller).
#[component(inline_props)]
pub fn DropPanel(ticket: Ticket, mine: bool) -> View {
    let now = create_signal(timer::now_millis());
    timer::every(1_000, move || now.set(timer::now_millis()));
    let on_sale_at = ticket.on_sale_at.clone().unwrap_or_default();
    let starts_in = move || timer::seconds_until(&on_sale_at, now.get());
    let seed = queue_seed(ticket.queue_seed_hash.clone(), ticket.queue_seed.clone());
    let action = if mine {
        view! { p { "This is your listing." } }
    } else {
        let max = ticket.available.get().clamp(1, 10).to_string();
        view! { JoinForm(ticket_id=ticket.id.to_string(), max=max) }
    };

    view! {
        p(class="countdown on-sale", role="timer") {
            (match starts_in() {
                Some(left) if left > 0 => format!("On sale in {}", timer::remaining(left)),
                Some(_) => "On sale now: buyers are let in through the queue".to_owned(),
                None => "On sale soon".to_owned(),
            })
        }
        (seed)
        (action)
    }
}

/// The seed's hash before the sale, the seed after it, and how to check one against the other.
fn queue_seed(hash: Option<String>, seed: Option<String>) -> View {
    let Some(hash) = hash else {
        return view! {};
    };
    let (seed_row, hint) = match seed {
        Some(seed) => (
            view! { dt { "Queue seed" } dd { code { (seed) } } },
            view! {
                p(class="hint") {
                    "How to verify: " code { "printf %s SEED | xxd -r -p | sha256sum" }
                    " prints the hash published before the sale; those who joined before it are \
                     let in in ascending order of HMAC-SHA256 keyed with the seed's bytes over their buyer id."
                }
            },
        ),
        None => (
            view! {},
            view! {
                p(class="hint") {
                    "Everyone who joins before the sale is put in a random order when it starts, \
                     drawn from a seed whose hash is shown here now and the seed itself then, so \
                     anyone can check the draw."
                }
            },
        ),
    };
    view! {
        dl(class="facts seed") {
            dt { "Queue seed hash" } dd { code { (hash) } }
            (seed_row)
        }
        (hint)
    }
}

/// Quantity and Join the queue; a buyer already in line gets a link to their place instead of a
/// second entry (joining again would return the same one anyway).
#[component(inline_props)]
fn JoinForm(ticket_id: String, max: String) -> View {
    let config = use_context::<&'static Config>();
    let session = use_context::<Session>();
    let quantity = create_signal("1".to_owned());
    let sending = Sending::new();
    let (problems, busy) = (sending.problems, sending.busy);
    let in_line = create_signal(false);
    let queue_page = queue_path(&ticket_id);

    let api = config.api_base.clone();
    let entry_path = format!("/tickets/{ticket_id}/queue");
    create_effect({
        let entry_path = entry_path.clone();
        move || {
            if session.user.with(Option::is_some) {
                let (api, path) = (api.clone(), entry_path.clone());
                spawn_local_scoped(async move {
                    // 404 (not in the queue yet) and failures alike leave the form as it is.
                    if Call::get(path).json::<QueueEntryBody>(&api).await.is_ok() {
                        in_line.set(true);
                    }
                });
            }
        }
    });

    let join = {
        let queue_page = queue_page.clone();
        move |event: web_sys::SubmitEvent| {
            event.prevent_default();
            if session.user.with(Option::is_none) {
                navigate("/auth/signin");
                return;
            }
            if !sending.begin() {
                return;
            }
            let body = QueueRequest {
                quantity: Some(Entered::typed(&quantity.get_clone())),
            };
            let (path, queue_page) = (entry_path.clone(), queue_page.clone());
            spawn_local_scoped(async move {
                match Call::post(path, &body)
                    .json::<QueueEntryBody>(&config.api_base)
                    .await
                {
                    Ok(_) => navigate(&queue_page),
                    Err(failure) => sending.fail(failure.problems),
                }
            });
        }
    };

    view! {
        (if in_line.get() {
            let queue_page = queue_page.clone();
            view! {
                p(class="in-line") {
                    "You are in the queue. " a(href=queue_page) { "See your place in line" }
                }
            }
        } else {
            let (join, max) = (join.clone(), max.clone());
            view! {
                form(class="form purchase", on:submit=join, novalidate=true) {
                    div(class="field") {
                        label(r#for="quantity") { "Quantity" }
                        input(id="quantity", name="quantity", r#type="number", min="1", max=max,
                            aria-describedby="quantity-error", bind:value=quantity)
                        p(class="field-error", id="quantity-error") {
                            (field_message(problems, "quantity").unwrap_or_default())
                        }
                    }
                    button(r#type="submit", disabled=move || busy.get()) { "Join the queue" }
                }
            }
        })
        Alert(problems=problems)
    }
}
