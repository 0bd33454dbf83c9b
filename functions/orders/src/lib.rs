//! Orders: a buyer holds tickets of a listing until paid or expired.
//!
//! Routes: [`place_order`], [`cancel_order`], [`list_orders`], [`show_order`], and a drop's queue
//! ([`join_queue`], [`show_queue`]; [`queue`]). The hold is one
//! DynamoDB transaction against this context's replica of the listing ([`replica`], fed by the
//! tickets' events); [`outcomes`] handles what the expiry sweep and payments report. Every change is
//! announced through the transactional outbox; `relay-orders` publishes what a crash left behind.

pub mod cancel_order;
pub mod group_commit;
pub mod join_queue;
pub mod list_orders;
pub mod order;
pub mod outcomes;
pub mod place_order;
pub mod positions;
pub mod queue;
pub mod recent;
pub mod replica;
pub mod show_order;
pub mod show_queue;
pub mod store;

use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use shared::config::{Env, FromEnv};
use shared::dynamo::TableSpec;
use shared::error::ApiError;
use shared::outbox::{Outbox, StoreSettings};
use shared::session::Sessions;

use crate::group_commit::GroupCommit;
use crate::queue::{Admission, Advancing};
use crate::recent::Recent;
use crate::replica::TicketReplica;
use crate::store::Orders;

/// The outbox of this context.
pub const OUTBOX: TableSpec = shared::outbox::table("orders-outbox");

/// The tables this context owns.
pub const TABLES: &[TableSpec] = &[store::TABLE, OUTBOX];

/// Settings of `place-order`: sessions, the tables, NATS, and `ORDER_HOLD_SECONDS` (default 900).
/// The others read less: `cancel-order` sessions, the tables and NATS; `list-orders` and
/// `show-order` sessions and `TABLE_PREFIX`; `expire-order`, `complete-order` and `relay-orders`
/// the tables and NATS ([`StoreSettings`]); `replicate-ticket` and `track-payment` only
/// `TABLE_PREFIX`.
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

/// The group commit of holds: placements queued per listing, each answered with its outcome.
pub type Holds = GroupCommit<store::Placement, Result<store::Placed, ApiError>>;

#[derive(Clone)]
pub struct OrderState {
    pub orders: Orders,
    pub outbox: Outbox,
    pub sessions: Sessions,
    pub hold: Duration,
    /// This instance's holds, committed in groups per listing.
    pub holds: std::sync::Arc<Holds>,
    /// The replicas this instance's orders read: shared while being read, and kept a moment for
    /// drops on sale (`place_order::replica`).
    pub replicas: std::sync::Arc<Recent<Option<TicketReplica>>>,
}

impl OrderState {
    pub async fn connect(settings: Settings) -> Result<Self, async_nats::ConnectError> {
        let (client, outbox) = settings.store.connect(&OUTBOX).await?;
        Ok(Self {
            orders: Orders::new(client, &settings.store.prefix),
            outbox,
            sessions: settings.sessions,
            hold: settings.hold,
            holds: std::sync::Arc::new(GroupCommit::new(store::GROUP_MAX)),
            replicas: std::sync::Arc::default(),
        })
    }
}

impl OrderState {
    /// What the handlers that end orders need.
    pub fn ledger(&self) -> Ledger {
        Ledger {
            orders: self.orders.clone(),
            outbox: self.outbox.clone(),
            admission: Admission::default(),
            advancing: std::sync::Arc::default(),
        }
    }
}

impl OrderState {
    /// What the buyer's read-only routes need.
    pub fn reading(&self) -> Buyers<Orders> {
        Buyers {
            store: self.orders.clone(),
            sessions: self.sessions.clone(),
        }
    }

    /// What the buyer's cancel needs.
    pub fn cancelling(&self) -> Buyers<Ledger> {
        Buyers {
            store: self.ledger(),
            sessions: self.sessions.clone(),
        }
    }
}

/// A route buyers call with their session, over `store` (the table, or the table and the outbox).
#[derive(Clone)]
pub struct Buyers<T> {
    pub store: T,
    pub sessions: Sessions,
}

impl<T> FromRef<Buyers<T>> for Sessions {
    fn from_ref(state: &Buyers<T>) -> Self {
        state.sessions.clone()
    }
}

/// The table and the outbox: what the handlers that end orders need (no session, no hold time).
#[derive(Clone)]
pub struct Ledger {
    pub orders: Orders,
    pub outbox: Outbox,
    /// The admission window of the drops' queues that a cancelled order moves on.
    pub admission: Admission,
    pub advancing: std::sync::Arc<Advancing>,
}

impl Ledger {
    pub async fn connect(
        store: StoreSettings,
        admission: Admission,
    ) -> Result<Self, async_nats::ConnectError> {
        let (client, outbox) = store.connect(&OUTBOX).await?;
        Ok(Self {
            orders: Orders::new(client, &store.prefix),
            outbox,
            admission,
            advancing: std::sync::Arc::default(),
        })
    }

    /// Tickets of a drop came back (a cancelled or expired order): the next in its queue are let
    /// in now rather than at the next read. Best effort: any read does it too.
    pub async fn advance_queue(&self, order: &order::OrderItem) {
        if !order.admitted || order.status != contract::OrderStatus::Cancelled {
            return;
        }
        let ticket = order.ticket.id.as_str();
        if let Err(err) =
            queue::advance(&self.orders, &self.advancing, ticket, self.admission).await
        {
            tracing::warn!(ticket, error = %err, "queue not advanced after a cancellation");
        }
    }
}

impl FromRef<OrderState> for Sessions {
    fn from_ref(state: &OrderState) -> Self {
        state.sessions.clone()
    }
}

/// The `relay-orders` function: publishes outbox records that were not published at once.
pub async fn relay_app(store: StoreSettings) -> Result<Router, async_nats::ConnectError> {
    let (_, outbox) = store.connect(&OUTBOX).await?;
    Ok(shared::outbox::relay_router(outbox))
}
