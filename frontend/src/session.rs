//! Who is signed in, as `GET /api/users/currentuser` says; pages that need a user send a visitor
//! without one to the sign-in page.

use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use sycamore_router::navigate_replace;

use crate::api::Call;
use crate::config::Config;
use contract::api::CurrentUserBody;

use crate::models::User;

#[derive(Clone, Copy)]
pub struct Session {
    pub user: Signal<Option<User>>,
    /// False until the first answer: nothing is decided about a visitor before it.
    pub known: Signal<bool>,
}

impl Session {
    pub fn start(config: &Config) -> Self {
        let session = Self {
            user: create_signal(None),
            known: create_signal(false),
        };
        let api = config.api_base.clone();
        spawn_local_scoped(async move {
            // A failure here leaves the visitor signed out; the pages show their own errors.
            if let Ok(answer) = Call::get("/users/currentuser")
                .json::<CurrentUserBody>(&api)
                .await
            {
                session.user.set(answer.body.current_user.map(|user| User {
                    id: user.id,
                    email: user.email,
                }));
            }
            session.known.set(true);
        });
        session
    }
}

/// For pages that need a session: sends a signed-out visitor to sign in, once the session is known.
pub fn require_user() -> Session {
    let session = use_context::<Session>();
    create_effect(move || {
        if session.known.get() && session.user.with(Option::is_none) {
            // Navigating from inside an effect would re-render the router while it renders.
            wasm_bindgen_futures::spawn_local(async { navigate_replace("/auth/signin") });
        }
    });
    session
}
