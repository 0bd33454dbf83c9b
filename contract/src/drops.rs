//! Drops and the waiting room (`api.md`, "Drops and the waiting room"): the queue's request and
//! entry bodies and the entry's states.

use serde::{Deserialize, Serialize};

use crate::api::Entered;
use crate::ids::{OrderId, TicketId};
use crate::money::Quantity;

/// `POST /api/tickets/:id/queue`: `{quantity?}` (1 to 10, default 1, as for orders).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Entered>,
}

/// Where a buyer's queue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QueueState {
    /// In line: `position` entries ahead, plus one.
    #[serde(rename = "waiting")]
    Waiting,
    /// Let in: until `admittedUntil`, an order for at most `quantity` is guaranteed to succeed.
    #[serde(rename = "admitted")]
    Admitted,
    /// The admission was used: `orderId` is set.
    #[serde(rename = "ordered")]
    Ordered,
    /// The admission passed unused; joining again queues at the back.
    #[serde(rename = "lapsed")]
    Lapsed,
    /// Nothing is left, and nothing held could come back.
    #[serde(rename = "sold-out")]
    SoldOut,
}

impl QueueState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Admitted => "admitted",
            Self::Ordered => "ordered",
            Self::Lapsed => "lapsed",
            Self::SoldOut => "sold-out",
        }
    }
}

/// Queue entry JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntryBody {
    pub ticket_id: TicketId,
    pub quantity: Quantity,
    pub state: QueueState,
    /// Entries ahead, plus one, while `waiting`.
    pub position: Option<i64>,
    pub estimated_wait_seconds: Option<i64>,
    pub joined_at: String,
    pub on_sale_at: String,
    pub admitted_until: Option<String>,
    pub order_id: Option<OrderId>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_entry_of_the_contract_round_trips() {
        let wire = json!({"ticketId": "0193a1b2-0000-7000-8000-000000000003", "quantity": 2,
            "state": "waiting", "position": 1234, "estimatedWaitSeconds": 40,
            "joinedAt": "2027-01-10T09:59:00Z", "onSaleAt": "2027-01-10T10:00:00Z",
            "admittedUntil": null, "orderId": null});
        let entry: QueueEntryBody = serde_json::from_value(wire.clone()).expect("parses");
        assert_eq!(entry.state, QueueState::Waiting);
        assert_eq!(entry.quantity, Quantity(2));
        assert_eq!(serde_json::to_value(&entry).expect("json"), wire);
    }

    #[test]
    fn states_have_the_wire_strings_of_the_contract() {
        for state in [
            QueueState::Waiting,
            QueueState::Admitted,
            QueueState::Ordered,
            QueueState::Lapsed,
            QueueState::SoldOut,
        ] {
            assert_eq!(
                serde_json::to_value(state).expect("json"),
                json!(state.as_str())
            );
        }
    }
}
