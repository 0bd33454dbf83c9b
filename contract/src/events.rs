//! The event catalogue (`events.md`, and the changes recorded in `docs/architecture.md`): each
//! event's `type` and its `data`. One payload type per event, used by its producer and by every
//! consumer. Money in event data is integer cents, unlike the HTTP API.

use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, PaymentId, TicketId, UserId};
use crate::money::{Cents, Quantity};
use crate::status::OrderStatus;

/// The event types of the catalogue.
pub mod types {
    pub const TICKET_CREATED: &str = "ticketing.ticket.created";
    pub const TICKET_UPDATED: &str = "ticketing.ticket.updated";
    pub const ORDER_CREATED: &str = "ticketing.order.created";
    pub const ORDER_CANCELLED: &str = "ticketing.order.cancelled";
    pub const ORDER_COMPLETED: &str = "ticketing.order.completed";
    pub const ORDER_EXPIRED: &str = "ticketing.order.expired";
    pub const PAYMENT_CREATED: &str = "ticketing.payment.created";
    pub const PAYMENT_PENDING: &str = "ticketing.payment.pending";
    pub const PAYMENT_FAILED: &str = "ticketing.payment.failed";
    /// Payments' verdict on `order.expired`: the order was not paid in time and may be cancelled.
    /// Payments is the one arbiter between "paid" and "expired" (one conditional write on its copy
    /// of the order), so orders cancels on this event, never on `order.expired` itself.
    pub const PAYMENT_LAPSED: &str = "ticketing.payment.lapsed";

    /// The whole catalogue.
    pub const ALL: &[&str] = &[
        TICKET_CREATED,
        TICKET_UPDATED,
        ORDER_CREATED,
        ORDER_CANCELLED,
        ORDER_COMPLETED,
        ORDER_EXPIRED,
        PAYMENT_CREATED,
        PAYMENT_PENDING,
        PAYMENT_FAILED,
        PAYMENT_LAPSED,
    ];
}

/// The data of a catalogue event, and the types it travels as.
pub trait Payload: Serialize + for<'de> Deserialize<'de> {
    /// The event types whose `data` is this payload.
    const TYPES: &'static [&'static str];
}

/// `ticket.created` / `ticket.updated`: the listing's terms at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketData {
    pub id: TicketId,
    pub version: i64,
    pub title: String,
    pub price: Cents,
    pub quantity: Quantity,
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// A drop's on-sale time: orders need an admission from its queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<String>,
    /// A drop's queue seed (hex), secret until `onSaleAt` (ticket JSON shows only its hash until
    /// then); events stay inside the system, and the queue orders its pre-sale entries with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_seed: Option<String>,
    /// The pass this listing resells: selling it revokes that pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resale_of: Option<crate::passes::PassId>,
}

impl Payload for TicketData {
    const TYPES: &'static [&'static str] = &[types::TICKET_CREATED, types::TICKET_UPDATED];
}

/// `order.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreatedData {
    pub id: OrderId,
    pub version: i64,
    /// Always [`OrderStatus::Created`].
    pub status: OrderStatus,
    pub user_id: UserId,
    /// RFC 3339, rounded up to the second.
    pub expires_at: String,
    pub quantity: Quantity,
    pub ticket: OrderedTicket,
    pub total: Cents,
}

impl Payload for OrderCreatedData {
    const TYPES: &'static [&'static str] = &[types::ORDER_CREATED];
}

/// The listing an order holds, with the price it was ordered at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedTicket {
    pub id: TicketId,
    pub price: Cents,
}

/// `order.cancelled` / `order.completed`: `version` is the one the change produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEndedData {
    pub id: OrderId,
    pub version: i64,
    pub quantity: Quantity,
    pub ticket: TicketRef,
}

impl Payload for OrderEndedData {
    const TYPES: &'static [&'static str] = &[types::ORDER_CANCELLED, types::ORDER_COMPLETED];
}

/// A listing named by an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRef {
    pub id: TicketId,
}

/// `order.expired` (from the expiry sweep) and `payment.lapsed` (payments' verdict on it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderExpiredData {
    pub order_id: OrderId,
    pub expires_at: String,
}

impl Payload for OrderExpiredData {
    const TYPES: &'static [&'static str] = &[types::ORDER_EXPIRED, types::PAYMENT_LAPSED];
}

/// `payment.created`: a PaymentIntent paid the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentCreatedData {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub stripe_id: String,
    pub amount: Cents,
    pub currency: String,
}

impl Payload for PaymentCreatedData {
    const TYPES: &'static [&'static str] = &[types::PAYMENT_CREATED];
}

/// `payment.pending`: the buyer must authenticate the PaymentIntent (3-D Secure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPendingData {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub stripe_id: String,
}

impl Payload for PaymentPendingData {
    const TYPES: &'static [&'static str] = &[types::PAYMENT_PENDING];
}

/// `payment.failed`: the PaymentIntent was declined after all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailedData {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub stripe_id: String,
    pub reason: String,
}

impl Payload for PaymentFailedData {
    const TYPES: &'static [&'static str] = &[types::PAYMENT_FAILED];
}

#[cfg(test)]
mod tests {
    //! Each payload against the catalogue's field list in `events.md`, written out as the wire
    //! JSON: parsed into the type, and written back to the very same JSON.

    use serde_json::{Value, json};

    use super::*;

    const ORDER: &str = "0193a1b2-0000-7000-8000-000000000001";
    const TICKET: &str = "0193a1b2-0000-7000-8000-000000000002";
    const USER: &str = "0193a1b2-0000-7000-8000-000000000003";
    const PAYMENT: &str = "0193a1b2-0000-7000-8000-000000000004";

    fn round_trip<T: Payload + PartialEq + std::fmt::Debug>(wire: Value, expected: &T) {
        let parsed: T = serde_json::from_value(wire.clone()).expect("the wire form parses");
        assert_eq!(&parsed, expected);
        assert_eq!(serde_json::to_value(&parsed).expect("json"), wire);
    }

    #[test]
    fn ticket_data() {
        round_trip(
            json!({"id": TICKET, "version": 3, "title": "Concert", "price": 2000,
                   "quantity": 500, "userId": USER, "venue": "Paradiso",
                   "startsAt": "2027-03-01T20:00:00Z"}),
            &TicketData {
                id: TicketId::from(TICKET),
                version: 3,
                title: "Concert".to_owned(),
                price: Cents(2000),
                quantity: Quantity(500),
                user_id: UserId::from(USER),
                venue: Some("Paradiso".to_owned()),
                starts_at: Some("2027-03-01T20:00:00Z".to_owned()),
                on_sale_at: None,
                queue_seed: None,
                resale_of: None,
            },
        );
    }

    #[test]
    fn order_created_data() {
        round_trip(
            json!({"id": ORDER, "version": 0, "status": "created", "userId": USER,
                   "expiresAt": "2026-11-24T10:15:00Z", "quantity": 2,
                   "ticket": {"id": TICKET, "price": 2000}, "total": 4000}),
            &OrderCreatedData {
                id: OrderId::from(ORDER),
                version: 0,
                status: OrderStatus::Created,
                user_id: UserId::from(USER),
                expires_at: "2026-11-24T10:15:00Z".to_owned(),
                quantity: Quantity(2),
                ticket: OrderedTicket {
                    id: TicketId::from(TICKET),
                    price: Cents(2000),
                },
                total: Cents(4000),
            },
        );
    }

    #[test]
    fn order_ended_data() {
        round_trip(
            json!({"id": ORDER, "version": 1, "quantity": 2, "ticket": {"id": TICKET}}),
            &OrderEndedData {
                id: OrderId::from(ORDER),
                version: 1,
                quantity: Quantity(2),
                ticket: TicketRef {
                    id: TicketId::from(TICKET),
                },
            },
        );
    }

    #[test]
    fn order_expired_data() {
        round_trip(
            json!({"orderId": ORDER, "expiresAt": "2026-11-24T10:15:00Z"}),
            &OrderExpiredData {
                order_id: OrderId::from(ORDER),
                expires_at: "2026-11-24T10:15:00Z".to_owned(),
            },
        );
    }

    #[test]
    fn payment_data() {
        round_trip(
            json!({"id": PAYMENT, "orderId": ORDER, "stripeId": "pi_1", "amount": 4000,
                   "currency": "usd"}),
            &PaymentCreatedData {
                id: PaymentId::from(PAYMENT),
                order_id: OrderId::from(ORDER),
                stripe_id: "pi_1".to_owned(),
                amount: Cents(4000),
                currency: "usd".to_owned(),
            },
        );
        round_trip(
            json!({"id": PAYMENT, "orderId": ORDER, "stripeId": "pi_1"}),
            &PaymentPendingData {
                id: PaymentId::from(PAYMENT),
                order_id: OrderId::from(ORDER),
                stripe_id: "pi_1".to_owned(),
            },
        );
        round_trip(
            json!({"id": PAYMENT, "orderId": ORDER, "stripeId": "pi_1",
                   "reason": "Your card was declined."}),
            &PaymentFailedData {
                id: PaymentId::from(PAYMENT),
                order_id: OrderId::from(ORDER),
                stripe_id: "pi_1".to_owned(),
                reason: "Your card was declined.".to_owned(),
            },
        );
    }

    #[test]
    fn every_type_of_the_catalogue_has_one_payload() {
        let mut covered: Vec<&str> = [
            TicketData::TYPES,
            OrderCreatedData::TYPES,
            OrderEndedData::TYPES,
            OrderExpiredData::TYPES,
            PaymentCreatedData::TYPES,
            PaymentPendingData::TYPES,
            PaymentFailedData::TYPES,
        ]
        .concat();
        covered.sort_unstable();
        let mut all = types::ALL.to_vec();
        all.sort_unstable();
        assert_eq!(covered, all);
    }

    #[test]
    fn a_renamed_or_missing_field_does_not_parse() {
        let wire = json!({"id": ORDER, "version": 1, "qty": 2, "ticket": {"id": TICKET}});
        assert!(serde_json::from_value::<OrderEndedData>(wire).is_err());
    }
}
