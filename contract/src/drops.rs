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

/// Milliseconds until a client reads an entry again, by its state and how near its turn is
/// (`until_sale_ms`: the time left until `onSaleAt`, by the client's clock); `None` when it will not
/// change any more by itself (ordered, sold out, lapsed). The storefront's queue page paces its reads
/// with this, and the bench's queued drop paces its buyers with the same function.
pub fn next_read_ms(entry: &QueueEntryBody, until_sale_ms: f64) -> Option<f64> {
    match entry.state {
        QueueState::Waiting if until_sale_ms > 0.0 => Some(until_sale_ms.clamp(1_000.0, 5_000.0)),
        QueueState::Waiting => Some(match entry.position.unwrap_or(1) {
            ..=100 => 2_000.0,
            101..=1_000 => 4_000.0,
            _ => 8_000.0,
        }),
        // Only to notice an order placed from another tab; the countdown asks again at its end.
        QueueState::Admitted => Some(10_000.0),
        QueueState::Ordered | QueueState::Lapsed | QueueState::SoldOut => None,
    }
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

    fn entry(state: QueueState, position: i64) -> QueueEntryBody {
        QueueEntryBody {
            ticket_id: TicketId::from("t"),
            quantity: Quantity(2),
            state,
            position: Some(position),
            estimated_wait_seconds: Some(40),
            joined_at: "2027-01-10T09:59:00Z".to_owned(),
            on_sale_at: "2027-01-10T10:00:00Z".to_owned(),
            admitted_until: None,
            order_id: None,
        }
    }

    #[test]
    fn clients_read_sooner_near_the_front_and_stop_once_the_entry_is_settled() {
        assert_eq!(
            next_read_ms(&entry(QueueState::Waiting, 3), 0.0),
            Some(2_000.0)
        );
        assert_eq!(
            next_read_ms(&entry(QueueState::Waiting, 50_000), 0.0),
            Some(8_000.0)
        );
        assert_eq!(
            next_read_ms(&entry(QueueState::Waiting, 50_000), 1_500.0),
            Some(1_500.0)
        );
        assert_eq!(
            next_read_ms(&entry(QueueState::Waiting, 50_000), 600_000.0),
            Some(5_000.0)
        );
        for settled in [QueueState::Ordered, QueueState::Lapsed, QueueState::SoldOut] {
            assert_eq!(next_read_ms(&entry(settled, 1), 0.0), None);
        }
    }
}
