//! This context's copy of each listing, fed by `ticket.created` and `ticket.updated`: what a hold
//! needs (price, seller, how many are left) without reading the tickets context's table.
//!
//! `reserved` counts what orders hold or bought; `available` = `quantity` − `reserved` is what the
//! hold's condition (`available >= :quantity`) guards. Events apply in version order: each update is
//! conditioned on the version before it. A drop's replica also keeps `onSaleAt` and the queue's seed
//! ([`crate::queue`]); its admissions hold capacity here like orders do.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use contract::events::{Payload, TicketData};
use serde::{Deserialize, Serialize};
use shared::error::ApiError;
use shared::events::CloudEvent;

use shared::dynamo::TablePrefix;

use crate::store::{Orders, Replicated};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketReplica {
    pub pk: String,
    pub entity: String,
    pub id: String,
    pub title: String,
    /// Cents.
    pub price: i64,
    pub quantity: i64,
    pub user_id: String,
    pub version: i64,
    pub reserved: i64,
    pub available: i64,
    /// A drop's on-sale time (RFC 3339): orders need an admission from its queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<String>,
    /// A drop's queue seed (hex): orders the entries that joined before `onSaleAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_seed: Option<String>,
    /// Tickets of paid orders: what can no longer come back to a drop's queue.
    #[serde(default)]
    pub sold: i64,
    /// Queue entries admitted so far: the pace that waiting times are estimated from.
    #[serde(default)]
    pub admitted_entries: i64,
}

impl TicketReplica {
    /// `onSaleAt` in Unix seconds, for a drop.
    pub fn on_sale_unix(&self) -> Option<i64> {
        self.on_sale_at
            .as_deref()
            .and_then(shared::time::parse_rfc3339)
            .map(time::OffsetDateTime::unix_timestamp)
    }

    /// Tickets that are neither sold nor could come back: what a queue can still hope for.
    pub fn unsold(&self) -> i64 {
        self.quantity - self.sold
    }
}

pub fn key(id: &str) -> String {
    format!("ticket#{id}")
}

pub fn router(orders: Orders) -> Router {
    Router::new()
        .route("/", post(replicate_ticket))
        .with_state(orders)
}

/// Announces nothing: the table is all it needs.
pub async fn app(prefix: TablePrefix) -> Router {
    router(Orders::connect(&prefix).await)
}

async fn replicate_ticket(
    State(orders): State<Orders>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(TicketData::TYPES)?;
    let ticket: TicketData = event.payload()?;
    match orders.replicate(&event.kind, &ticket).await? {
        Replicated::Applied | Replicated::AlreadyApplied => Ok(StatusCode::NO_CONTENT),
        Replicated::Early => Err(ApiError::Conflict(format!(
            "version {} of ticket {} arrived before its predecessor",
            ticket.version, ticket.id
        ))),
    }
}
