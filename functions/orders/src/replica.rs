//! This context's copy of each listing, fed by `ticket.created` and `ticket.updated`: what a hold
//! needs (price, seller, how many are left) without reading the tickets context's table.
//!
//! `reserved` counts what orders hold or bought; `available` = `quantity` − `reserved` is what the
//! hold's condition (`available >= :quantity`) guards. Events apply in version order: each update is
//! conditioned on the version before it.

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
