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

/// The longest a client waits between two reads of a waiting entry: a page opened long before the
/// sale still notices a moved `onSaleAt`, and a buyer far back still sees the line move.
pub const SLOWEST_READ_MS: f64 = 30_000.0;

/// Milliseconds until a client reads an entry again, by its state and how near its turn is
/// (`until_sale_ms`: the time left until `onSaleAt`, by the client's clock); `None` when it will not
/// change any more by itself (ordered, sold out, lapsed). The storefront's queue page paces its reads
/// with this, and the bench's queued drop paces its buyers with the same function.
///
/// The pace is what a crowd costs the back end, so reads come only when they can tell something:
/// - before the sale, nothing is admitted and places are shuffled at `onSaleAt`: the next read is
///   just after admissions start (2 s after `onSaleAt`, `ADMISSION_GRACE_SECONDS` in the orders
///   context), or in [`SLOWEST_READ_MS`] if that is later; the page counts down by itself;
/// - while waiting, the first 100 every 2 s; further back every 4 or 8 s, and not more often than
///   a quarter of the estimated wait: a buyer 15,000 places back, with minutes to wait, reads every
///   30 s, not every 8.
pub fn next_read_ms(entry: &QueueEntryBody, until_sale_ms: f64) -> Option<f64> {
    match entry.state {
        QueueState::Waiting if until_sale_ms > 0.0 => {
            Some((until_sale_ms + 2_000.0).min(SLOWEST_READ_MS))
        }
        QueueState::Waiting => {
            let by_place: f64 = match entry.position.unwrap_or(1) {
                ..=100 => return Some(2_000.0),
                101..=1_000 => 4_000.0,
                _ => 8_000.0,
            };
            let by_wait = entry
                .estimated_wait_seconds
                .map_or(0.0, |seconds| seconds as f64 * 1_000.0 / 4.0);
            Some(by_place.max(by_wait.min(SLOWEST_READ_MS)))
        }
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
        let mut far = entry(QueueState::Waiting, 50_000);
        far.estimated_wait_seconds = None;
        assert_eq!(next_read_ms(&far, 0.0), Some(8_000.0));
        for settled in [QueueState::Ordered, QueueState::Lapsed, QueueState::SoldOut] {
            assert_eq!(next_read_ms(&entry(settled, 1), 0.0), None);
        }
    }

    #[test]
    fn before_the_sale_the_next_read_is_just_after_admissions_start_or_in_thirty_seconds() {
        let waiting = entry(QueueState::Waiting, 50_000);
        assert_eq!(next_read_ms(&waiting, 1_500.0), Some(3_500.0));
        assert_eq!(next_read_ms(&waiting, 600_000.0), Some(SLOWEST_READ_MS));
    }

    #[test]
    fn a_buyer_with_a_long_wait_reads_at_a_quarter_of_it_up_to_thirty_seconds() {
        let mut far = entry(QueueState::Waiting, 15_000);
        far.estimated_wait_seconds = Some(60);
        assert_eq!(next_read_ms(&far, 0.0), Some(15_000.0));
        far.estimated_wait_seconds = Some(3_600);
        assert_eq!(next_read_ms(&far, 0.0), Some(SLOWEST_READ_MS));
        let mut near = entry(QueueState::Waiting, 10);
        near.estimated_wait_seconds = Some(600);
        assert_eq!(next_read_ms(&near, 0.0), Some(2_000.0));
    }
}
