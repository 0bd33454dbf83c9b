//! `/passes` (My tickets: every pass of my complete orders, its QR code, and "Sell this ticket") and
//! `/passes/:id` (one pass, large, to show at the door or print).

use contract::api::Entered;
use contract::money::Cents;
use contract::passes::ResaleRequest;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;

use crate::api::{Call, Failure, Problem};
use crate::config::Config;
use crate::forms::{Alert, Sending, field_message};
use crate::models::{Order, OrderStatus, Pass, PassStatus, Ticket};
use crate::money;
use crate::pages::tickets::event_facts;
use crate::session::require_user;
use crate::timer;
use crate::when;

/// Passes are issued a moment after an order completes: while a complete order has none yet, ask
/// again this often, at most this many times.
const REFRESH_MILLIS: i32 = 2_000;
const REFRESHES: u32 = 30;

/// A pass and what was paid for it (a resale may ask at most that).
#[derive(Clone, PartialEq)]
struct Held {
    pass: Pass,
    paid: Cents,
}

/// Every pass of my complete orders, and whether a complete order has none yet (still issuing).
async fn load_held(api: &str) -> Result<(Vec<Held>, bool), Failure> {
    let orders = Call::get("/orders").json::<Vec<Order>>(api).await?.body;
    let mut held = Vec::new();
    let mut issuing = false;
    for order in orders
        .iter()
        .filter(|order| order.status == OrderStatus::Complete)
    {
        let path = format!("/orders/{}/passes", order.id);
        let passes = Call::get(path).json::<Vec<Pass>>(api).await?.body;
        issuing |= passes.is_empty();
        held.extend(passes.into_iter().map(|pass| Held {
            pass,
            paid: order.ticket.price,
        }));
    }
    Ok((held, issuing))
}

/// The passes of my complete orders, loaded once the user is known and again while any is still
/// being issued.
fn use_held() -> (Signal<Option<Vec<Held>>>, Signal<Vec<Problem>>) {
    let config = use_context::<&'static Config>();
    let session = require_user();
    let held = create_signal(None::<Vec<Held>>);
    let issuing = create_signal(false);
    let problems = create_signal(Vec::<Problem>::new());
    let load = move || {
        spawn_local_scoped(async move {
            match load_held(&config.api_base).await {
                Ok((found, pending)) => {
                    held.set(Some(found));
                    issuing.set(pending);
                    problems.set(Vec::new());
                }
                Err(failure) => problems.set(failure.problems),
            }
        });
    };
    create_effect(move || {
        if session.user.with(Option::is_some) {
            load();
        }
    });
    timer::refresh_while(REFRESH_MILLIS, REFRESHES, move || issuing.get(), load);
    (held, problems)
}

fn status_text(pass: &Pass) -> String {
    match (pass.status, pass.checked_in_at.as_deref()) {
        (PassStatus::CheckedIn, Some(at)) => format!("checked in at {}", when::clock(at)),
        (PassStatus::CheckedIn, None) => "checked in".to_owned(),
        (status, _) => status.as_str().to_owned(),
    }
}

/// The code as an SVG QR code (one unit a module, with the standard quiet zone; CSS sizes it).
fn qr_svg(code: &str) -> Option<String> {
    // Level M survives a scuffed phone screen; a 145-character code still fits version 7 or so.
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M).ok()?;
    let image = qr
        .render::<svg::Color>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .build();
    // Inline in HTML, the XML declaration would only become a stray comment.
    Some(match image.split_once("?>") {
        Some((_, svg)) => svg.to_owned(),
        None => image,
    })
}

/// A pass's QR code, drawn here in the browser from its code.
#[component(inline_props)]
fn Qr(code: String, class: &'static str) -> View {
    match qr_svg(&code) {
        Some(image) => view! {
            div(class=class, role="img", aria-label="QR code of the pass",
                dangerously_set_inner_html=image) {}
        },
        None => view! { p(class="field-error") { "This code cannot be drawn as a QR code." } },
    }
}

/// Rows of a `dl.facts`: where, when, which seat, and the pass's status.
#[component(inline_props)]
fn PassFacts(pass: Pass) -> View {
    let status = status_text(&pass);
    let class = format!("pass-status {}", pass.status.as_str());
    view! {
        (event_facts(pass.venue.clone(), pass.starts_at.clone()))
        dt { "Seat" } dd { (pass.seat) " of " (pass.of) }
        dt { "Status" } dd(class=class) { (status) }
    }
}

#[component]
pub fn List() -> View {
    let (held, problems) = use_held();
    view! {
        h1 { "My Tickets" }
        Alert(problems=problems)
        (match held.get_clone() {
            None => view! { p(class="loading") { "Loading…" } },
            Some(all) if all.is_empty() => view! {
                p { "You have no tickets yet. Passes appear here once an order is paid." }
            },
            Some(all) => {
                let all = create_signal(all);
                view! {
                    ul(class="passes") {
                        Keyed(
                            list=all,
                            key=|held| (held.pass.id.clone(), held.pass.status),
                            view=|held| view! { li { PassCard(held=held) } },
                        )
                    }
                }
            }
        })
    }
}

#[component(inline_props)]
fn PassCard(held: Held) -> View {
    let Held { pass, paid } = held;
    let heading = format!("{} (seat {} of {})", pass.title, pass.seat, pass.of);
    let link = format!("/passes/{}", pass.id);
    let title = pass.title.clone();
    // Only a valid pass has anything to show at the door or to sell.
    let (qr, resale) = if pass.status == PassStatus::Valid {
        let (id, code) = (pass.id.to_string(), pass.code.clone());
        (
            view! { Qr(code=code, class="qr") },
            view! { Resale(pass_id=id, paid=paid) },
        )
    } else {
        (view! {}, view! {})
    };
    view! {
        article(class="pass", aria-label=heading) {
            (qr)
            div(class="pass-details") {
                h2 { (title) }
                dl(class="facts") { PassFacts(pass=pass) }
                p { a(href=link) { "Show and print" } }
                (resale)
            }
        }
    }
}

/// "Sell this ticket": a price (at most what was paid), then the new listing or why not.
#[component(inline_props)]
fn Resale(pass_id: String, paid: Cents) -> View {
    let config = use_context::<&'static Config>();
    let open = create_signal(false);
    let price = create_signal(paid.to_string());
    let listed = create_signal(None::<Ticket>);
    let sending = Sending::new();
    let (problems, busy) = (sending.problems, sending.busy);
    let input_id = format!("resale-price-{pass_id}");
    let error_id = format!("{input_id}-error");
    let label = format!("Price (at most {})", money::display(paid));
    let path = format!("/passes/{pass_id}/resale");

    let submit = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        if !sending.begin() {
            return;
        }
        price.set(money::tidy_price(&price.get_clone()));
        let body = ResaleRequest {
            price: Entered::Text(price.get_clone().trim().to_owned()),
        };
        let path = path.clone();
        spawn_local_scoped(async move {
            match Call::post(path, &body)
                .json::<Ticket>(&config.api_base)
                .await
            {
                Ok(answer) => {
                    listed.set(Some(answer.body));
                    sending.fail(Vec::new());
                }
                Err(failure) => sending.fail(failure.problems),
            }
        });
    };

    view! {
        (if let Some(ticket) = listed.get_clone() {
            view! {
                p(class="listed", role="status") {
                    "On sale again for " (money::display(ticket.price)) ": "
                    a(href=format!("/tickets/{}", ticket.id)) { "View the listing" }
                }
            }
        } else if open.get() {
            let (input_id, error_id, label) = (input_id.clone(), error_id.clone(), label.clone());
            let (input_for, error_for) = (input_id.clone(), error_id.clone());
            view! {
                form(class="form resale", on:submit=submit.clone(), novalidate=true) {
                    div(class="field") {
                        label(r#for=input_for) { (label) }
                        input(id=input_id, name="price", r#type="text", inputmode="decimal",
                            autocomplete="off", aria-describedby=error_for,
                            aria-invalid=move || field_message(problems, "price").is_some().to_string(),
                            bind:value=price,
                            on:blur=move |_| price.set(money::tidy_price(&price.get_clone())))
                        p(class="field-error", id=error_id) {
                            (field_message(problems, "price").unwrap_or_default())
                        }
                    }
                    Alert(problems=problems)
                    button(r#type="submit", disabled=move || busy.get()) { "List for sale" }
                }
            }
        } else {
            view! {
                button(r#type="button", class="secondary", on:click=move |_| open.set(true)) {
                    "Sell this ticket"
                }
            }
        })
    }
}

/// One pass, large: what a buyer shows at the door, laid out to print on a page of its own.
#[component(inline_props)]
pub fn Show(id: String) -> View {
    let (held, problems) = use_held();
    let print = |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.print();
        }
    };
    view! {
        (match held.get_clone() {
            None => view! { h1 { "Ticket" } p(class="loading") { "Loading…" } },
            Some(all) => match all.into_iter().find(|held| held.pass.id.as_str() == id) {
                None => view! {
                    h1 { "Ticket" }
                    p { "This ticket is not among yours. " a(href="/passes") { "My tickets" } }
                },
                Some(Held { pass, .. }) => {
                    let (title, code) = (pass.title.clone(), pass.code.clone());
                    let qr = if pass.status == PassStatus::Valid {
                        let code = code.clone();
                        view! { Qr(code=code, class="qr large") }
                    } else {
                        view! {}
                    };
                    view! {
                    article(class="pass printable") {
                        h1 { (title) }
                        (qr)
                        dl(class="facts") { PassFacts(pass=pass) }
                        p(class="code") { span(class="label") { "Code " } (code) }
                        p(class="no-print") {
                            button(r#type="button", on:click=print) { "Print" }
                            " "
                            a(href="/passes") { "All my tickets" }
                        }
                    }
                    }
                }
            },
        })
        Alert(problems=problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_code_draws_as_one_inline_svg_element() {
        // A code at its longest: a 16-character key id, a colon and 128 base32 characters.
        let code = format!("{}:{}", "K".repeat(16), "A7".repeat(64));
        let image = qr_svg(&code).expect("a QR code");
        assert!(image.starts_with("<svg "), "{}", &image[..40]);
        assert!(image.ends_with("</svg>"));
        assert!(image.contains("shape-rendering=\"crispEdges\""));
    }
}
