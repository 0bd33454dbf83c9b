//! An order as stored, as shown, as announced, and as a request.

use contract::api::{OrderBody, OrderTicketBody};
use contract::events::{self, OrderCreatedData, OrderEndedData, TicketRef};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use serde::{Deserialize, Serialize};
use shared::error::ApiError;
use shared::json::JsonBody;
use shared::validation::{ORDER_QUANTITY, Validator, whole_number};

pub const TICKET_ID_REQUIRED: &str = "TicketId must be provided";
pub const QUANTITY_RANGE: &str = "Quantity must be a whole number between 1 and 10";
pub const OWN_TICKET: &str = "You cannot buy your own ticket";
pub const RESERVED: &str = "Ticket is already reserved";
pub const COMPLETED: &str = "Cannot cancel a completed order";

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
    pub id: TicketId,
    pub title: String,
    pub price: Cents,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub pk: String,
    pub entity: String,
    pub id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub expires_at: String,
    /// `expiresAt` in Unix seconds, for comparisons.
    pub expires_at_unix: i64,
    pub quantity: Quantity,
    pub ticket: OrderedTicket,
    pub total: Cents,
    pub version: i64,
    pub created_at: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    /// The PaymentIntent the buyer is authenticating while `awaiting:payment`: only its failure
    /// reopens the order, not that of an earlier attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_stripe_id: Option<String>,
    /// Placed with a drop's queue admission: paying it counts the tickets as sold on the replica,
    /// so that the queue knows what can no longer come back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admitted: bool,
}

impl OrderItem {
    /// Order JSON.
    pub fn body(&self) -> OrderBody {
        OrderBody {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            status: self.status,
            expires_at: self.expires_at.clone(),
            quantity: self.quantity,
            ticket: OrderTicketBody {
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
    pub fn created_data(&self) -> OrderCreatedData {
        OrderCreatedData {
            id: self.id.clone(),
            version: self.version,
            status: self.status,
            user_id: self.user_id.clone(),
            expires_at: self.expires_at.clone(),
            quantity: self.quantity,
            ticket: events::OrderedTicket {
                id: self.ticket.id.clone(),
                price: self.ticket.price,
            },
            total: self.total,
        }
    }

    /// `order.cancelled` / `order.completed` data, for the version the change produced.
    pub fn ended_data(&self, version: i64) -> OrderEndedData {
        OrderEndedData {
            id: self.id.clone(),
            version,
            quantity: self.quantity,
            ticket: TicketRef {
                id: self.ticket.id.clone(),
            },
        }
    }

    /// Still holding tickets: neither paid nor cancelled.
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }
}

/// `{ticketId, quantity?}`, valid. The ticket id is checked for existence later (404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub ticket_id: String,
    pub quantity: Quantity,
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
            whole_number(
                body.get("quantity"),
                1,
                *ORDER_QUANTITY.start(),
                *ORDER_QUANTITY.end(),
                QUANTITY_RANGE,
            ),
        );
        v.finish(|| {
            Some(Self {
                ticket_id: ticket_id?,
                quantity: Quantity(quantity?),
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
                quantity: Quantity(1)
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
