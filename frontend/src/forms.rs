//! What every form shares: the alert box, a labelled field with its own message, and a busy flag.

use sycamore::prelude::*;

use crate::api::Problem;

/// Every message of the last failed request, announced to screen readers.
#[component(inline_props)]
pub fn Alert(problems: Signal<Vec<Problem>>) -> View {
    view! {
        div(class="alert-slot", aria-live="assertive") {
            (if problems.with(Vec::is_empty) {
                view! {}
            } else {
                view! {
                    div(class="alert", role="alert") {
                        h2 { "Something needs your attention" }
                        ul {
                            Indexed(
                                list=problems,
                                view=|problem| view! { li { (problem.message) } },
                            )
                        }
                    }
                }
            })
        }
    }
}

/// What a form that sends a request keeps: the messages of its last answer, and whether a request is
/// in flight (its button is disabled meanwhile, and a second submit is ignored).
#[derive(Clone, Copy)]
pub struct Sending {
    pub problems: Signal<Vec<Problem>>,
    pub busy: Signal<bool>,
}

impl Sending {
    pub fn new() -> Self {
        Self {
            problems: create_signal(Vec::new()),
            busy: create_signal(false),
        }
    }

    /// Marks a request in flight; false when one already is.
    pub fn begin(self) -> bool {
        if self.busy.get() {
            return false;
        }
        self.busy.set(true);
        true
    }

    /// The request failed: show why, and let the user try again.
    pub fn fail(self, problems: Vec<Problem>) {
        self.problems.set(problems);
        self.busy.set(false);
    }
}

/// The message for one field, if the last answer named it.
pub fn field_message(problems: Signal<Vec<Problem>>, field: &str) -> Option<String> {
    problems.with(|all| {
        all.iter()
            .find(|p| p.field.as_deref() == Some(field))
            .map(|p| p.message.clone())
    })
}

/// A labelled text input bound to `value`, with its field's message under it.
#[component(inline_props)]
pub fn Field(
    label: &'static str,
    name: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: Signal<String>,
    problems: Signal<Vec<Problem>>,
) -> View {
    let error_id = format!("{name}-error");
    let described = error_id.clone();
    view! {
        div(class="field") {
            label(r#for=name) { (label) }
            input(
                id=name,
                name=name,
                r#type=kind,
                autocomplete=autocomplete,
                aria-describedby=described,
                aria-invalid=move || field_message(problems, name).is_some().to_string(),
                bind:value=value,
            )
            p(class="field-error", id=error_id) {
                (field_message(problems, name).unwrap_or_default())
            }
        }
    }
}
