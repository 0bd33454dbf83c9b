//! Listings: one seller offers `quantity` identical tickets at one price.
//!
//! Routes: [`create_ticket`], [`update_ticket`], [`withdraw_ticket`], [`list_tickets`],
//! [`show_ticket`], and the resale of passes ([`resale`]: `resell-pass`, and `track-passes`, which
//! copies passes from their events). Event handlers
//! ([`holds`]) keep each listing's held and sold counts from the orders' events, which gives the
//! listing its `available` count and its edit lock. Every change is announced through the
//! transactional outbox; `relay-tickets` publishes what a crash left behind.

pub mod create_ticket;
pub mod holds;
pub mod list_tickets;
pub mod listing;
pub mod resale;
pub mod show_ticket;
pub mod store;
pub mod update_ticket;
pub mod withdraw_ticket;

use axum::Router;
use axum::extract::FromRef;
use shared::config::{Env, FromEnv};
use shared::dynamo::TableSpec;
use shared::outbox::{Outbox, StoreSettings};
use shared::session::Sessions;

use crate::store::Tickets;

/// The outbox of this context.
pub const OUTBOX: TableSpec = shared::outbox::table("tickets-outbox");

/// The tables this context owns.
pub const TABLES: &[TableSpec] = &[store::TABLE, OUTBOX];

/// Settings of the functions that change listings (`create-ticket`, `update-ticket`): sessions,
/// the tables and NATS. The others read less: `show-ticket`, `list-tickets`, `hold-tickets` and
/// `sell-tickets` only `TABLE_PREFIX`; `release-tickets` (it may withdraw a resale listing),
/// `track-passes` and `relay-tickets` the tables and NATS.
pub struct Settings {
    pub sessions: Sessions,
    pub store: StoreSettings,
}

impl FromEnv for Settings {
    fn from_env(env: &mut Env) -> Self {
        Self {
            sessions: Sessions::from_env(env),
            store: StoreSettings::from_env(env),
        }
    }
}

#[derive(Clone)]
pub struct TicketState {
    pub tickets: Tickets,
    pub outbox: Outbox,
    pub sessions: Sessions,
}

impl TicketState {
    pub async fn connect(settings: Settings) -> Result<Self, async_nats::ConnectError> {
        let (client, outbox) = settings.store.connect(&OUTBOX).await?;
        Ok(Self {
            tickets: Tickets::new(client, &settings.store.prefix),
            outbox,
            sessions: settings.sessions,
        })
    }
}

impl FromRef<TicketState> for Sessions {
    fn from_ref(state: &TicketState) -> Self {
        state.sessions.clone()
    }
}

/// The `relay-tickets` function: publishes outbox records that were not published at once.
pub async fn relay_app(store: StoreSettings) -> Result<Router, async_nats::ConnectError> {
    let (_, outbox) = store.connect(&OUTBOX).await?;
    Ok(shared::outbox::relay_router(outbox))
}
