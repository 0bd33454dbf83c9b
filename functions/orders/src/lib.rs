//! Orders: a buyer holds tickets of a listing until paid or expired.
//!
//! Routes: [`place_order`], [`cancel_order`], [`list_orders`], [`show_order`]. The hold is one
//! DynamoDB transaction against this context's replica of the listing ([`replica`], fed by the
//! tickets' events); [`outcomes`] handles what the expiry sweep and payments report. Every change is
//! announced through the transactional outbox; `relay-orders` publishes what a crash left behind.

pub mod cancel_order;
pub mod gate;
pub mod idempotency;
pub mod list_orders;
pub mod order;
pub mod outcomes;
pub mod place_order;
pub mod replica;
pub mod show_order;
pub mod store;

use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use shared::config::{Env, FromEnv};
use shared::dynamo::TableSpec;
use shared::outbox::{Outbox, StoreSettings};
use shared::session::Sessions;

use crate::store::Orders;

/// The outbox of this context.
pub const OUTBOX: TableSpec = shared::outbox::table("orders-outbox");

/// The tables this context owns.
pub const TABLES: &[TableSpec] = &[store::TABLE, OUTBOX];

/// Settings of every orders function: sessions, storage, and `ORDER_HOLD_SECONDS` (default 900).
pub struct Settings {
    pub sessions: Sessions,
    pub store: StoreSettings,
    pub hold: Duration,
}

impl FromEnv for Settings {
    fn from_env(env: &mut Env) -> Self {
        let hold_seconds: u64 = env.parsed_or("ORDER_HOLD_SECONDS", 900);
        if hold_seconds == 0 {
            env.invalid("ORDER_HOLD_SECONDS", "must be at least 1 second");
        }
        Self {
            sessions: Sessions::from_env(env),
            store: StoreSettings::from_env(env),
            hold: Duration::from_secs(hold_seconds),
        }
    }
}

#[derive(Clone)]
pub struct OrderState {
    pub orders: Orders,
    pub outbox: Outbox,
    pub sessions: Sessions,
    pub hold: Duration,
    pub gates: std::sync::Arc<gate::HoldGates>,
}

impl OrderState {
    pub async fn connect(settings: Settings) -> Result<Self, async_nats::ConnectError> {
        let (client, outbox) = settings.store.connect(&OUTBOX).await?;
        Ok(Self {
            orders: Orders::new(client, &settings.store.prefix),
            outbox,
            sessions: settings.sessions,
            hold: settings.hold,
            gates: std::sync::Arc::default(),
        })
    }
}

impl FromRef<OrderState> for Sessions {
    fn from_ref(state: &OrderState) -> Self {
        state.sessions.clone()
    }
}

/// The `relay-orders` function: publishes outbox records that were not published at once.
pub async fn relay_app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    let state = OrderState::connect(settings).await?;
    Ok(shared::outbox::relay_router(state.outbox))
}
