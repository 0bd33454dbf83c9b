//! Sign up, sign in, sign out.

use contract::api::Credentials;
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use sycamore_router::navigate;

use crate::api::{Call, Problem};
use crate::config::Config;
use crate::forms::{Alert, Field, Sending};
use crate::models::User;
use crate::session::Session;

#[component]
pub fn SignUp() -> View {
    view! { Credentials(title="Sign Up", path="/users/signup", button="Sign Up", new_password=true) }
}

#[component]
pub fn SignIn() -> View {
    view! { Credentials(title="Sign In", path="/users/signin", button="Sign In", new_password=false) }
}

/// The email-and-password form both pages share; on success the user is signed in and sent home.
#[component(inline_props)]
fn Credentials(
    title: &'static str,
    path: &'static str,
    button: &'static str,
    new_password: bool,
) -> View {
    let config = use_context::<&'static Config>();
    let session = use_context::<Session>();
    let email = create_signal(String::new());
    let password = create_signal(String::new());
    let sending = Sending::new();
    let (problems, busy) = (sending.problems, sending.busy);

    let submit = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        if !sending.begin() {
            return;
        }
        let api = config.api_base.clone();
        let body = Credentials {
            email: email.get_clone(),
            password: password.get_clone(),
        };
        spawn_local_scoped(async move {
            match Call::post(path, &body).json::<User>(&api).await {
                Ok(answer) => {
                    session.user.set(Some(answer.body));
                    session.known.set(true);
                    navigate("/");
                }
                Err(failure) => sending.fail(failure.problems),
            }
        });
    };

    view! {
        h1 { (title) }
        form(class="form", on:submit=submit, novalidate=true) {
            Field(label="Email Address", name="email", kind="email", autocomplete="email",
                value=email, problems=problems)
            Field(label="Password", name="password", kind="password",
                autocomplete=if new_password { "new-password" } else { "current-password" },
                value=password, problems=problems)
            Alert(problems=problems)
            button(r#type="submit", disabled=move || busy.get()) { (button) }
        }
    }
}

#[component]
pub fn SignOut() -> View {
    let config = use_context::<&'static Config>();
    let session = use_context::<Session>();
    let problems = create_signal(Vec::<Problem>::new());
    let api = config.api_base.clone();
    spawn_local_scoped(async move {
        match Call::new("POST", "/users/signout").send(&api).await {
            Ok(_) => {
                session.user.set(None);
                navigate("/");
            }
            Err(failure) => problems.set(failure.problems),
        }
    });
    view! {
        h1 { "Signing you out…" }
        Alert(problems=problems)
    }
}
