//! Accounts and sessions.
//!
//! Four functions, one binary each: [`sign_up`], [`sign_in`], [`sign_out`], [`current_user`]. They share
//! the users table ([`users`]), the parsing of credentials ([`credentials`]) and password hashing
//! ([`passwords`]); sign-in also limits attempts per account ([`attempts`]).

pub mod attempts;
pub mod credentials;
pub mod current_user;
pub mod passwords;
pub mod sign_in;
pub mod sign_out;
pub mod sign_up;
pub mod users;

use axum::extract::FromRef;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use contract::UserId;
use contract::api::UserBody;
use shared::config::{Env, FromEnv};
use shared::dynamo::{TablePrefix, TableSpec};
use shared::error::ApiError;
use shared::session::Sessions;

use crate::attempts::Attempts;
use crate::passwords::Passwords;
use crate::users::Users;

/// The tables this context owns.
pub const TABLES: &[TableSpec] = &[users::TABLE];

/// Settings of the functions that touch accounts.
pub struct Settings {
    pub sessions: Sessions,
    pub prefix: TablePrefix,
}

impl FromEnv for Settings {
    fn from_env(env: &mut Env) -> Self {
        Self {
            sessions: Sessions::from_env(env),
            prefix: TablePrefix::from_env(env),
        }
    }
}

/// What the sign-up and sign-in handlers share.
#[derive(Clone)]
pub struct AccountState {
    pub users: Users,
    pub attempts: Attempts,
    pub sessions: Sessions,
    pub passwords: Passwords,
}

impl AccountState {
    pub async fn connect(settings: Settings) -> Self {
        let client = shared::dynamo::client().await;
        Self::new(Users::new(client, &settings.prefix), settings.sessions)
    }

    pub fn new(users: Users, sessions: Sessions) -> Self {
        Self {
            attempts: users.attempts(),
            users,
            sessions,
            passwords: Passwords::new(),
        }
    }
}

impl FromRef<AccountState> for Sessions {
    fn from_ref(state: &AccountState) -> Self {
        state.sessions.clone()
    }
}

/// A response that starts a session for the user: the body, and the session cookie.
fn signed_in_response(
    status: StatusCode,
    sessions: &Sessions,
    id: String,
    email: String,
) -> Result<Response, ApiError> {
    let token = sessions.issue(&sessions.claims_for(&id, &email))?;
    let cookie: HeaderValue = sessions.cookie(&token)?;
    let body = UserBody {
        id: UserId::new(id),
        email,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}
