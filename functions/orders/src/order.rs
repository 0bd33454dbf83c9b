//! An order as stored, as shown, as announced, and as a request.

use serde::{Deserialize, Serialize};
use shared::error::ApiError;
use shared::json::JsonBody;
use shared::money;
use shared::validation::{Validator, whole_number};

pub const TICKET_ID_REQUIRED: &str = "TicketId must be provided";
pub const QUANTITY_RANGE: &str = "Quantity must be a whole number between 1 and 10";
pub const OWN_TICKET: &str = "You cannot buy your own ticket";
pub const RESERVED: &str = "Ticket is already reserved";
pub const COMPLETED: &str = "Cannot cancel a completed order";

/// Order statuses.
pub mod status {
    pub const CREATED: &str = "created";
    pub const AWAITING_PAYMENT: &str = "awaiting:payment";
    pub const COMPLETE: &str = "complete";
    pub const CANCELLED: &str = "cancelled";
}

pub fn key(id: &str) -> String {
    format!("order#{id}")
}

/// The index partition of one buyer's orders.
pub fn buyer_partition(user_id: &str) -> String {
    format!("user#{user_id}")
}

/// What an order remembers of the listing: as it was when the order was placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderedTicket {
    pub id: String,
    pub title: String,
    /// Cents.
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub pk: String,
    pub entity: String,
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub expires_at: String,
    /// `expiresAt` in Unix seconds, for comparisons.
    pub expires_at_unix: i64,
    pub quantity: i64,
    pub ticket: OrderedTicket,
    /// Cents.
    pub total: i64,
    pub version: i64,
    pub created_at: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    /// The PaymentIntent the buyer is authenticating while `awaiting:payment`: only its failure
    /// reopens the order, not that of an earlier attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_stripe_id: Option<String>,
}

impl OrderItem {
    pub fn body(&self) -> OrderBody {
        OrderBody {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            status: self.status.clone(),
            expires_at: self.expires_at.clone(),
            quantity: self.quantity,
            ticket: TicketBody {
                id: self.ticket.id.clone(),
                title: self.ticket.title.clone(),
                price: self.ticket.price,
            },
            total: self.total,
            version: self.version,
            created_at: self.created_at.clone(),
        }
    }

    /// `order.created` data.
    pub fn created_data(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "version": self.version,
            "status": self.status,
            "userId": self.user_id,
            "expiresAt": self.expires_at,
            "quantity": self.quantity,
            "ticket": {"id": self.ticket.id, "price": self.ticket.price},
            "total": self.total,
        })
    }

    /// `order.cancelled` / `order.completed` data, for the version the change produced.
    pub fn ended_data(&self, version: i64) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "version": version,
            "quantity": self.quantity,
            "ticket": {"id": self.ticket.id},
        })
    }

    /// Still holding tickets: neither paid nor cancelled.
    pub fn is_open(&self) -> bool {
        self.status == status::CREATED || self.status == status::AWAITING_PAYMENT
    }
}

/// Order JSON of the API; money in major units.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub expires_at: String,
    pub quantity: i64,
    pub ticket: TicketBody,
    #[serde(serialize_with = "money::serialize")]
    pub total: i64,
    pub version: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketBody {
    pub id: String,
    pub title: String,
    #[serde(serialize_with = "money::serialize")]
    pub price: i64,
}

/// `{ticketId, quantity?}`, valid. The ticket id is checked for existence later (404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub ticket_id: String,
    pub quantity: i64,
}

impl TryFrom<JsonBody> for OrderRequest {
    type Error = ApiError;

    fn try_from(body: JsonBody) -> Result<Self, ApiError> {
        let mut v = Validator::new();
        let ticket_id = v.check(
            "ticketId",
            body.str("ticketId")
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .ok_or(TICKET_ID_REQUIRED),
        );
        let quantity = v.check(
            "quantity",
            whole_number(body.get("quantity"), 1, 1, 10, QUANTITY_RANGE),
        );
        v.finish(|| {
            Some(Self {
                ticket_id: ticket_id?,
                quantity: quantity?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: serde_json::Value) -> Result<OrderRequest, ApiError> {
        let serde_json::Value::Object(map) = value else {
            panic!("object")
        };
        OrderRequest::try_from(JsonBody(map))
    }

    #[test]
    fn quantity_defaults_to_one() {
        assert_eq!(
            request(json!({"ticketId": "abc"})).expect("valid"),
            OrderRequest {
                ticket_id: "abc".to_owned(),
                quantity: 1
            }
        );
    }

    #[test]
    fn a_missing_ticket_and_a_bad_quantity_are_both_reported() {
        let Err(ApiError::Validation(entries)) = request(json!({"ticketId": 5, "quantity": 11}))
        else {
            panic!("validation error expected")
        };
        let messages: Vec<&str> = entries.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, vec![TICKET_ID_REQUIRED, QUANTITY_RANGE]);
    }
}
