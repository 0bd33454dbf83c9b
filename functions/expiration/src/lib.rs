//! Expiration: every order gets a timer when it is created (`arm-timer`), loses it when it is
//! cancelled or paid (`disarm-timer`), and the periodic sweep (`expire`) announces `order.expired`
//! for every timer that is due. Orders decides what expiry means; this context only keeps time.
//!
//! Timers live in partitions `due#0..7` (by order id, so a drop's thousands of timers are not one hot
//! key), sorted by due time, so the sweep reads only what is due. Each order also has a state item
//! (`order#<id>`: armed → disarmed | fired) that makes the events idempotent: a second
//! `order.created` does not re-arm a timer that was disarmed, and a disarm that comes before its
//! arm is a 409 for the bridge to retry.

pub mod store;
pub mod sweep;
pub mod timers;

use axum::Router;
use shared::config::{Env, FromEnv};
use shared::dynamo::{TablePrefix, TableSpec};
use shared::outbox::{Outbox, StoreSettings};

use crate::store::Timers;

/// The outbox of this context.
pub const OUTBOX: TableSpec = shared::outbox::table("expiration-outbox");

/// The tables this context owns.
pub const TABLES: &[TableSpec] = &[store::TABLE, OUTBOX];

/// Settings of the functions that announce expiries (`expire`, `relay-expiration`): the tables
/// and NATS. `arm-timer` and `disarm-timer` announce nothing and read only `TABLE_PREFIX`.
pub struct Settings {
    pub store: StoreSettings,
}

impl FromEnv for Settings {
    fn from_env(env: &mut Env) -> Self {
        Self {
            store: StoreSettings::from_env(env),
        }
    }
}

#[derive(Clone)]
pub struct ExpirationState {
    pub timers: Timers,
    pub outbox: Outbox,
}

impl ExpirationState {
    pub async fn connect(settings: Settings) -> Result<Self, async_nats::ConnectError> {
        let (client, outbox) = settings.store.connect(&OUTBOX).await?;
        Ok(Self {
            timers: Timers::new(client, &settings.store.prefix),
            outbox,
        })
    }
}

pub async fn arm_app(prefix: TablePrefix) -> Router {
    timers::arm_router(Timers::connect(&prefix).await)
}

pub async fn disarm_app(prefix: TablePrefix) -> Router {
    timers::disarm_router(Timers::connect(&prefix).await)
}

pub async fn expire_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(sweep::router(ExpirationState::connect(settings).await?))
}

/// The `relay-expiration` function: publishes outbox records that were not published at once.
pub async fn relay_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    let state = ExpirationState::connect(settings).await?;
    Ok(shared::outbox::relay_router(state.outbox))
}
