//! Passes: one e-ticket per ticket of a completed order, each with a code signed with Ed25519, and
//! the organiser's check-in, exactly once per pass.
//!
//! Functions: [`issue`] (`issue-passes`: this context's copies of orders and listings from their
//! events; issues passes on `order.completed`, revokes them on `order.cancelled`), [`list_passes`]
//! (`GET /api/orders/:id/passes`), [`check_in`] (`POST /api/checkins`, and the verification keys
//! at `GET /api/passes/keys`), and `relay-passes` (the outbox). Codes: [`codes`]; storage:
//! [`store`]. Only `issue-passes` holds the signing key.

pub mod check_in;
pub mod codes;
pub mod issue;
pub mod list_passes;
pub mod store;

use axum::Router;
use axum::extract::FromRef;
use shared::config::{Env, FromEnv};
use shared::dynamo::{TablePrefix, TableSpec};
use shared::outbox::{Outbox, StoreSettings};
use shared::session::Sessions;

use crate::codes::{PublicKeys, Signer, SigningKey};
use crate::store::Passes;

/// The outbox of this context.
pub const OUTBOX: TableSpec = shared::outbox::table("passes-outbox");

/// The tables this context owns.
pub const TABLES: &[TableSpec] = &[store::TABLE, OUTBOX];

/// Why a passes function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("NATS: {0}")]
    Nats(#[from] async_nats::ConnectError),
    #[error("no signing key")]
    NoSigningKey,
}

/// `issue-passes`: storage, events, and the signing key (`PASS_SIGNING_KEY`, `PASS_KEY_ID`).
pub struct IssueSettings {
    pub store: StoreSettings,
    pub key: SigningKey,
}

impl FromEnv for IssueSettings {
    fn from_env(env: &mut Env) -> Self {
        Self {
            store: StoreSettings::from_env(env),
            key: SigningKey::from_env(env),
        }
    }
}

#[derive(Clone)]
pub struct IssueState {
    pub passes: Passes,
    pub outbox: Outbox,
    pub signer: Signer,
}

impl IssueState {
    pub async fn connect(settings: IssueSettings) -> Result<Self, StartError> {
        let signer = settings.key.0.ok_or(StartError::NoSigningKey)?;
        let (client, outbox) = settings.store.connect(&OUTBOX).await?;
        Ok(Self {
            passes: Passes::new(client, &settings.store.prefix),
            outbox,
            signer,
        })
    }
}

/// `check-in`: sessions, storage, events, and the public keys codes may be signed with
/// (`PASS_PUBLIC_KEYS`).
pub struct CheckinSettings {
    pub sessions: Sessions,
    pub store: StoreSettings,
    pub keys: PublicKeys,
}

impl FromEnv for CheckinSettings {
    fn from_env(env: &mut Env) -> Self {
        Self {
            sessions: Sessions::from_env(env),
            store: StoreSettings::from_env(env),
            keys: PublicKeys::from_env(env),
        }
    }
}

#[derive(Clone)]
pub struct CheckinState {
    pub passes: Passes,
    pub outbox: Outbox,
    pub sessions: Sessions,
    pub keys: PublicKeys,
    pub gates: std::sync::Arc<check_in::ScanGates>,
}

impl CheckinState {
    pub async fn connect(settings: CheckinSettings) -> Result<Self, StartError> {
        let (client, outbox) = settings.store.connect(&OUTBOX).await?;
        Ok(Self {
            passes: Passes::new(client, &settings.store.prefix),
            outbox,
            sessions: settings.sessions,
            keys: settings.keys,
            gates: std::sync::Arc::default(),
        })
    }
}

impl FromRef<CheckinState> for Sessions {
    fn from_ref(state: &CheckinState) -> Self {
        state.sessions.clone()
    }
}

/// `list-passes`: sessions and the table; it announces nothing, so it never connects to NATS.
pub struct ListSettings {
    pub sessions: Sessions,
    pub prefix: TablePrefix,
}

impl FromEnv for ListSettings {
    fn from_env(env: &mut Env) -> Self {
        Self {
            sessions: Sessions::from_env(env),
            prefix: TablePrefix::from_env(env),
        }
    }
}

#[derive(Clone)]
pub struct ListState {
    pub passes: Passes,
    pub sessions: Sessions,
}

impl ListState {
    pub async fn connect(settings: ListSettings) -> Self {
        Self {
            passes: Passes::new(shared::dynamo::client().await, &settings.prefix),
            sessions: settings.sessions,
        }
    }
}

impl FromRef<ListState> for Sessions {
    fn from_ref(state: &ListState) -> Self {
        state.sessions.clone()
    }
}

pub async fn issue_app(settings: IssueSettings) -> Result<Router, StartError> {
    Ok(issue::router(IssueState::connect(settings).await?))
}

pub async fn check_in_app(settings: CheckinSettings) -> Result<Router, StartError> {
    Ok(check_in::router(CheckinState::connect(settings).await?))
}

pub async fn list_passes_app(settings: ListSettings) -> Router {
    list_passes::router(ListState::connect(settings).await)
}

/// The `relay-passes` function: publishes outbox records that were not published at once.
pub async fn relay_app(settings: StoreSettings) -> Result<Router, StartError> {
    let (_, outbox) = settings.connect(&OUTBOX).await?;
    Ok(shared::outbox::relay_router(outbox))
}
