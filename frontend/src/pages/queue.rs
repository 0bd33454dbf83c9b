//! `/tickets/:id/queue`: a buyer's place in a drop's queue. Asks `GET /api/tickets/:id/queue`
//! again every few seconds (sooner when the turn is near, later when far back or when the server
//! is struggling) and moves on by itself: waiting → admitted (order now) → ordered.

use contract::api::{Entered, OrderRequest};
use contract::drops::{QueueEntryBody, QueueRequest, QueueState, next_read_ms};
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use sycamore_router::navigate;

use crate::api::Call;
use crate::config::Config;
use crate::forms::{Alert, Sending, field_message};
use crate::models::{Order, Ticket};
use crate::pages::tickets::new_key;
use crate::session::require_user;
use crate::timer;

/// The longest wait between two reads, however far back the buyer is or however often the server
/// failed.
const SLOWEST_MS: f64 = 30_000.0;

/// What the page shows: decided by the entry's state, so that the page is built again only when
/// that changes (not at every tick of a countdown, which would reset the order form).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Loading,
    NotInQueue,
    In(QueueState),
}

/// After `failures` failed reads in a row: 2 s, 4 s, 8 s … up to [`SLOWEST_MS`].
fn backoff_ms(failures: u32) -> f64 {
    (2_000.0 * 2f64.powi(failures.min(5) as i32)).min(SLOWEST_MS)
}

/// How far along the line the buyer is, from 0 to 1: the share of those ahead at the first read
/// after the sale started who are gone.
fn progress(first_position: i64, position: i64) -> f64 {
    let first = first_position.max(1) as f64;
    ((first - position as f64 + 1.0) / (first + 1.0)).clamp(0.0, 1.0)
}

/// `1,234`.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Spreads the buyers' reads so that a crowd that joined together does not ask together.
fn jittered(ms: f64) -> f64 {
    ms * (0.85 + 0.3 * js_sys::Math::random())
}

#[component(inline_props)]
pub fn Queue(id: String) -> View {
    let config = use_context::<&'static Config>();
    let session = require_user();
    let entry = create_signal(None::<QueueEntryBody>);
    let missing = create_signal(false);
    let ticket = create_signal(None::<Ticket>);
    let problems = create_signal(Vec::new());
    let now = create_signal(timer::now_millis());
    // When the entry was read (for the estimate's own countdown), when to read it next, whether a
    // read is in flight, and how many failed in a row.
    let read_at = create_signal(timer::now_millis());
    let next_read = create_signal(0.0_f64);
    let reading = create_signal(false);
    let failures = create_signal(0_u32);
    // The bar only moves forward, measured from the first position seen after the sale started.
    let first_position = create_signal(None::<i64>);
    let shown_progress = create_signal(0.0_f64);

    let api = config.api_base.clone();
    let ticket_path = format!("/tickets/{id}");
    spawn_local_scoped(async move {
        if let Ok(answer) = Call::get(ticket_path).json::<Ticket>(&api).await {
            ticket.set(Some(answer.body));
        }
    });

    // Takes a fresh entry in: the bar, and when to ask again.
    let take = move |fresh: QueueEntryBody| {
        let at = timer::now_millis();
        let until_sale = timer::parse_millis(&fresh.on_sale_at).map_or(0.0, |sale| sale - at);
        match fresh.state {
            QueueState::Waiting if until_sale <= 0.0 => {
                let position = fresh.position.unwrap_or(1);
                let first = first_position.get_untracked().unwrap_or(position);
                first_position.set(Some(first.max(position)));
                let fraction = progress(first.max(position), position);
                shown_progress.set(shown_progress.get_untracked().max(fraction));
            }
            QueueState::Waiting => {}
            _ => shown_progress.set(1.0),
        }
        next_read
            .set(next_read_ms(&fresh, until_sale).map_or(f64::INFINITY, |ms| at + jittered(ms)));
        read_at.set(at);
        failures.set(0);
        missing.set(false);
        entry.set(Some(fresh));
    };

    let entry_path = format!("/tickets/{id}/queue");
    let read = {
        let entry_path = entry_path.clone();
        move || {
            if reading.get_untracked() {
                return;
            }
            reading.set(true);
            let path = entry_path.clone();
            spawn_local_scoped(async move {
                match Call::get(path)
                    .json::<QueueEntryBody>(&config.api_base)
                    .await
                {
                    Ok(answer) => take(answer.body),
                    Err(failure) if failure.status == 404 => {
                        missing.set(true);
                        next_read.set(f64::INFINITY);
                    }
                    // No answer, or the server struggling: wait longer each time, quietly, and
                    // never sooner than its Retry-After asks.
                    Err(failure) if failure.is_network() || failure.status >= 500 => {
                        let failed = failures.get_untracked() + 1;
                        failures.set(failed);
                        let asked = f64::from(failure.retry_after.unwrap_or(0)) * 1_000.0;
                        let wait = jittered(backoff_ms(failed)).max(asked);
                        next_read.set(timer::now_millis() + wait);
                    }
                    Err(failure) => {
                        problems.set(failure.problems);
                        next_read.set(f64::INFINITY);
                    }
                }
                reading.set(false);
            });
        }
    };

    timer::every(1_000, {
        let read = read.clone();
        move || {
            let at = timer::now_millis();
            now.set(at);
            // An admission that just ran out has lapsed: say so without waiting for the next read.
            let admission_over = entry.with_untracked(|e| {
                e.as_ref().is_some_and(|e| {
                    e.state == QueueState::Admitted
                        && e.admitted_until
                            .as_deref()
                            .and_then(timer::parse_millis)
                            .is_some_and(|until| until <= at)
                })
            });
            if admission_over {
                next_read.set(at);
            }
            if session.user.with_untracked(Option::is_some) && at >= next_read.get_untracked() {
                read();
            }
        }
    });
    create_effect({
        let read = read.clone();
        move || {
            if session.user.with(Option::is_some) {
                read();
            }
        }
    });

    let phase = create_selector(move || {
        if missing.get() {
            Phase::NotInQueue
        } else {
            entry.with(|e| e.as_ref().map_or(Phase::Loading, |e| Phase::In(e.state)))
        }
    });
    let join_again = {
        let entry_path = entry_path.clone();
        move || {
            let quantity = entry.with_untracked(|e| e.as_ref().map_or(1, |e| e.quantity.get()));
            let path = entry_path.clone();
            spawn_local_scoped(async move {
                let body = QueueRequest {
                    quantity: Some(Entered::Number(quantity.max(1).unsigned_abs())),
                };
                match Call::post(path, &body)
                    .json::<QueueEntryBody>(&config.api_base)
                    .await
                {
                    Ok(answer) => {
                        first_position.set(None);
                        shown_progress.set(0.0);
                        problems.set(Vec::new());
                        take(answer.body);
                    }
                    Err(failure) => problems.set(failure.problems),
                }
            });
        }
    };
    let listing_page = format!("/tickets/{id}");

    view! {
        h1 {
            (ticket.with(|t| t.as_ref().map_or("The queue".to_owned(), |t| format!("Queue for {}", t.title))))
        }
        div(class="queue-card", aria-live="polite") {
            (match phase.get() {
                Phase::Loading => view! { p(class="loading") { "Loading…" } },
                Phase::NotInQueue => {
                    let listing_page = listing_page.clone();
                    view! {
                        p { "You are not in this queue." }
                        p { a(href=listing_page) { "Back to the listing to join it" } }
                    }
                }
                Phase::In(QueueState::Waiting) => view! {
                    Waiting(entry=entry, now=now, read_at=read_at, progress=shown_progress)
                },
                Phase::In(QueueState::Admitted) => view! {
                    Admitted(entry=entry, now=now, problems=problems, reread=next_read)
                },
                Phase::In(QueueState::Ordered) => {
                    let order = entry.with_untracked(|e| {
                        e.as_ref().and_then(|e| e.order_id.as_ref().map(|o| format!("/orders/{o}")))
                    }).unwrap_or_else(|| "/orders".to_owned());
                    view! {
                        p(class="queue-state") { "You have ordered your tickets." }
                        p { a(href=order) { "Go to your order" } }
                    }
                }
                Phase::In(QueueState::Lapsed) => {
                    let join_again = join_again.clone();
                    view! {
                        p(class="queue-state") { "Your turn passed before you ordered." }
                        p { "Join again to queue at the back of the line." }
                        button(r#type="button", on:click=move |_| join_again()) { "Join again" }
                    }
                }
                Phase::In(QueueState::SoldOut) => view! {
                    p(class="sold-out") { "Sold out" }
                    p { "Every ticket is sold, and none held can come back." }
                },
            })
        }
        p(class="hint reconnecting") {
            (if failures.get() > 0 {
                "The server is busy; still in line, asking again shortly."
            } else {
                ""
            })
        }
        Alert(problems=problems)
    }
}

/// In line: before the sale, the time until it; after, how many are ahead, the estimated wait and
/// a bar that only moves forward.
#[component(inline_props)]
fn Waiting(
    entry: Signal<Option<QueueEntryBody>>,
    now: Signal<f64>,
    read_at: Signal<f64>,
    progress: Signal<f64>,
) -> View {
    let until_sale = move || {
        entry.with(|e| {
            e.as_ref()
                .and_then(|e| timer::seconds_until(&e.on_sale_at, now.get()))
                .unwrap_or(0)
        })
    };
    let ahead = move || {
        if until_sale() > 0 {
            return "You are in. Your place in line is drawn when sales start.".to_owned();
        }
        match entry
            .with(|e| e.as_ref().and_then(|e| e.position))
            .unwrap_or(1)
        {
            ..=1 => "You are next.".to_owned(),
            2 => "1 buyer ahead of you".to_owned(),
            position => format!("{} ahead of you", grouped(position - 1)),
        }
    };
    let wait = move || {
        if until_sale() > 0 {
            return format!("Sales start in {}", timer::remaining(until_sale()));
        }
        let estimate = entry.with(|e| e.as_ref().and_then(|e| e.estimated_wait_seconds));
        match estimate {
            Some(seconds) => {
                let since_read = ((now.get() - read_at.get()) / 1000.0).floor() as i64;
                match seconds - since_read {
                    left if left > 0 => format!("Estimated wait {}", timer::remaining(left)),
                    _ => "Any moment now".to_owned(),
                }
            }
            None => "Estimated wait: working it out".to_owned(),
        }
    };
    let percent = move || (progress.get() * 100.0).round() as i64;
    view! {
        p(class="queue-state") { (ahead()) }
        p(class="countdown", role="timer") { (wait()) }
        // A `progress` element, not a styled div: the page's CSP allows no inline styles.
        progress(class="progress", aria-label="Your progress in the line", max="100",
            value=move || percent().to_string())
        p(class="hint") { "Keep this page open: it moves on by itself when it is your turn." }
    }
}

/// Let in: the admission's countdown and the order form, for at most the admitted quantity.
#[component(inline_props)]
fn Admitted(
    entry: Signal<Option<QueueEntryBody>>,
    now: Signal<f64>,
    problems: Signal<Vec<crate::api::Problem>>,
    reread: Signal<f64>,
) -> View {
    let config = use_context::<&'static Config>();
    let (ticket_id, admitted) = entry.with_untracked(|e| {
        e.as_ref().map_or((String::new(), 1), |e| {
            (e.ticket_id.to_string(), e.quantity.get())
        })
    });
    let quantity = create_signal(admitted.to_string());
    let sending = Sending::new();
    let busy = sending.busy;
    let key = create_signal(new_key());
    let left = move || {
        entry.with(|e| {
            e.as_ref()
                .and_then(|e| e.admitted_until.as_deref())
                .and_then(|until| timer::seconds_until(until, now.get()))
                .unwrap_or(0)
        })
    };

    let order = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        if !sending.begin() {
            return;
        }
        let body = OrderRequest {
            ticket_id: ticket_id.clone(),
            quantity: Some(Entered::typed(&quantity.get_clone())),
        };
        spawn_local_scoped(async move {
            let call = Call::post("/orders", &body).header("Idempotency-Key", key.get_clone());
            match call.json::<Order>(&config.api_base).await {
                Ok(answer) => navigate(&format!("/orders/{}", answer.body.id)),
                Err(failure) => {
                    if failure.is_refusal() {
                        key.set(new_key());
                    }
                    if !failure.is_network() {
                        // The entry may have moved on (lapsed, ordered from elsewhere, or
                        // ordered by this very request before a 5xx).
                        reread.set(0.0);
                    }
                    problems.set(failure.problems.clone());
                    sending.fail(failure.problems);
                }
            }
        });
    };
    let max = admitted.to_string();

    view! {
        p(class="queue-state turn") { "It's your turn" }
        p(class="countdown", role="timer") { (format!("{} left to order", timer::remaining(left()))) }
        progress(class="progress", aria-label="Your progress in the line", max="100", value="100")
        form(class="form purchase", on:submit=order, novalidate=true) {
            div(class="field") {
                label(r#for="quantity") { "Quantity (up to " (admitted) ")" }
                input(id="quantity", name="quantity", r#type="number", min="1", max=max,
                    aria-describedby="quantity-error", bind:value=quantity)
                p(class="field-error", id="quantity-error") {
                    (field_message(sending.problems, "quantity").unwrap_or_default())
                }
            }
            button(r#type="submit", disabled=move || busy.get()) { "Purchase" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_moves_from_the_first_position_towards_the_front() {
        assert!(progress(100, 100) < 0.02);
        assert!((progress(100, 51) - 0.5).abs() < 0.01);
        assert!(progress(100, 1) > 0.98 && progress(100, 1) < 1.0);
        assert!((0.0..=1.0).contains(&progress(10, 50)));
    }

    #[test]
    fn failed_reads_wait_longer_each_time_up_to_the_slowest() {
        assert_eq!(backoff_ms(0), 2_000.0);
        assert_eq!(backoff_ms(1), 4_000.0);
        assert_eq!(backoff_ms(9), SLOWEST_MS);
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234), "1,234");
        assert_eq!(grouped(20_000_000), "20,000,000");
    }
}
