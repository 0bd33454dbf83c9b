//! The HTTP API's bodies (`api.md`): what the functions answer and what the storefront sends and
//! reads. Money is shown in major units (`"price": 19.99`) and held as [`Cents`]; the server parses
//! requests field by field (so that each field gets its own message) and the request types here
//! are what a client sends.

use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, PaymentId, TicketId, UserId};
use crate::money::{Cents, Quantity, major_units};
use crate::status::{OrderStatus, PaymentStatus};

/// `{"errors": [{"message", "field"?}]}`: every error, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub errors: Vec<ErrorEntry>,
}

/// One message; `field` only when one input field is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `POST /api/users/signup` and `/signin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// `{id, email}`: what sign-up and sign-in answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserBody {
    pub id: UserId,
    pub email: String,
}

/// The session's claims as `GET /api/users/currentuser` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub id: UserId,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
}

/// `{"currentUser": {…}}`, or `{"currentUser": null}` without a valid session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentUserBody {
    pub current_user: Option<SessionUser>,
}

/// A field as a person typed it: a whole number when it is one, else the text, for the server to
/// name the field's rule (`"quantity": "many"` gets the quantity's message, not "Malformed JSON").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Entered {
    Number(u64),
    Text(String),
}

impl Entered {
    pub fn typed(text: &str) -> Self {
        text.trim()
            .parse::<u64>()
            .map_or_else(|_| Self::Text(text.to_owned()), Self::Number)
    }
}

/// `POST /api/tickets` and `PUT /api/tickets/:id`: `{title, price, quantity?}`. The price may be a
/// number or a numeric string (`"20.00"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketRequest {
    pub title: String,
    pub price: Entered,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Entered>,
    /// Where the event takes place: 0 to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// When the event starts (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// Makes the listing a drop: sales start then, through its queue (RFC 3339, in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<String>,
}

/// Ticket JSON: a listing. `available` = quantity − held − sold, as the listing's owner knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketBody {
    pub id: TicketId,
    pub title: String,
    #[serde(with = "major_units")]
    pub price: Cents,
    pub quantity: Quantity,
    pub available: Quantity,
    pub user_id: UserId,
    pub version: i64,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// A drop's on-sale time: ordered only through its queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<String>,
    /// Hex SHA-256 of the drop's queue seed, published before sales start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_seed_hash: Option<String>,
    /// The seed itself (hex), published from `onSaleAt` on, so anyone can check the shuffle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_seed: Option<String>,
    /// The pass this listing resells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resale_of: Option<crate::passes::PassId>,
}

/// `POST /api/orders`: `{ticketId, quantity?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRequest {
    pub ticket_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Entered>,
}

/// Order JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    pub id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub expires_at: String,
    pub quantity: Quantity,
    pub ticket: OrderTicketBody,
    #[serde(with = "major_units")]
    pub total: Cents,
    pub version: i64,
    pub created_at: String,
}

/// The listing an order is for, as it was when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTicketBody {
    pub id: TicketId,
    pub title: String,
    #[serde(with = "major_units")]
    pub price: Cents,
}

/// `POST /api/payments`: `{orderId, paymentMethodId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    pub order_id: String,
    pub payment_method_id: String,
}

/// What `POST /api/payments` answers: 201 `succeeded`, or 202 `requires_action` with the secret
/// Stripe.js confirms the payment with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentBody {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub stripe_id: String,
    pub status: PaymentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// `GET /config.json`: where the storefront finds the API and Stripe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorefrontConfig {
    pub api_base: String,
    pub stripe_publishable_key: String,
    pub stripe_js_url: String,
}

#[cfg(test)]
mod tests {
    //! The examples of `api.md`, with concrete values where it writes `…`: parsed into the type
    //! and written back to the very same JSON.

    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;

    const ID: &str = "0193a1b2-0000-7000-8000-000000000001";
    const USER: &str = "0193a1b2-0000-7000-8000-000000000002";
    const TICKET: &str = "0193a1b2-0000-7000-8000-000000000003";
    const AT: &str = "2026-11-24T10:00:00Z";

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
        wire: Value,
        expected: &T,
    ) {
        let parsed: T = serde_json::from_value(wire.clone()).expect("the wire form parses");
        assert_eq!(&parsed, expected);
        assert_eq!(serde_json::to_value(&parsed).expect("json"), wire);
    }

    #[test]
    fn ticket_json() {
        round_trip(
            json!({"id": TICKET, "title": "Concert", "price": 20, "quantity": 500,
                   "available": 498, "userId": USER, "version": 3, "createdAt": AT}),
            &TicketBody {
                id: TicketId::from(TICKET),
                title: "Concert".to_owned(),
                price: Cents(2000),
                quantity: Quantity(500),
                available: Quantity(498),
                user_id: UserId::from(USER),
                version: 3,
                created_at: AT.to_owned(),
                venue: None,
                starts_at: None,
                on_sale_at: None,
                queue_seed_hash: None,
                queue_seed: None,
                resale_of: None,
            },
        );
        round_trip(
            json!({"id": TICKET, "title": "Drop", "price": 20, "quantity": 5000,
                   "available": 5000, "userId": USER, "version": 0, "createdAt": AT,
                   "venue": "Ahoy", "startsAt": "2027-03-01T20:00:00Z",
                   "onSaleAt": "2027-01-10T10:00:00Z", "queueSeedHash": "ab12"}),
            &TicketBody {
                id: TicketId::from(TICKET),
                title: "Drop".to_owned(),
                price: Cents(2000),
                quantity: Quantity(5000),
                available: Quantity(5000),
                user_id: UserId::from(USER),
                version: 0,
                created_at: AT.to_owned(),
                venue: Some("Ahoy".to_owned()),
                starts_at: Some("2027-03-01T20:00:00Z".to_owned()),
                on_sale_at: Some("2027-01-10T10:00:00Z".to_owned()),
                queue_seed_hash: Some("ab12".to_owned()),
                queue_seed: None,
                resale_of: None,
            },
        );
        let cents: TicketBody = serde_json::from_value(
            json!({"id": TICKET, "title": "t", "price": 19.99, "quantity": 1, "available": 1,
                   "userId": USER, "version": 0, "createdAt": AT}),
        )
        .expect("parses");
        assert_eq!(cents.price, Cents(1999));
    }

    #[test]
    fn order_json() {
        round_trip(
            json!({"id": ID, "userId": USER, "status": "created", "expiresAt": AT,
                   "quantity": 2, "ticket": {"id": TICKET, "title": "Concert", "price": 20},
                   "total": 40, "version": 0, "createdAt": AT}),
            &OrderBody {
                id: OrderId::from(ID),
                user_id: UserId::from(USER),
                status: OrderStatus::Created,
                expires_at: AT.to_owned(),
                quantity: Quantity(2),
                ticket: OrderTicketBody {
                    id: TicketId::from(TICKET),
                    title: "Concert".to_owned(),
                    price: Cents(2000),
                },
                total: Cents(4000),
                version: 0,
                created_at: AT.to_owned(),
            },
        );
        let waiting: OrderBody = serde_json::from_value(
            json!({"id": ID, "userId": USER, "status": "awaiting:payment", "expiresAt": AT,
                   "quantity": 1, "ticket": {"id": TICKET, "title": "t", "price": 0.5},
                   "total": 0.5, "version": 1, "createdAt": AT}),
        )
        .expect("parses");
        assert_eq!(waiting.status, OrderStatus::AwaitingPayment);
    }

    #[test]
    fn payment_answers() {
        round_trip(
            json!({"id": ID, "orderId": USER, "stripeId": "pi_1", "status": "succeeded"}),
            &PaymentBody {
                id: PaymentId::from(ID),
                order_id: OrderId::from(USER),
                stripe_id: "pi_1".to_owned(),
                status: PaymentStatus::Succeeded,
                client_secret: None,
            },
        );
        round_trip(
            json!({"id": ID, "orderId": USER, "stripeId": "pi_1", "status": "requires_action",
                   "clientSecret": "pi_1_secret_2"}),
            &PaymentBody {
                id: PaymentId::from(ID),
                order_id: OrderId::from(USER),
                stripe_id: "pi_1".to_owned(),
                status: PaymentStatus::RequiresAction,
                client_secret: Some("pi_1_secret_2".to_owned()),
            },
        );
    }

    #[test]
    fn users_and_sessions() {
        round_trip(
            json!({"id": USER, "email": "ada@example.com"}),
            &UserBody {
                id: UserId::from(USER),
                email: "ada@example.com".to_owned(),
            },
        );
        round_trip(
            json!({"currentUser": {"id": USER, "email": "ada@example.com", "iat": 1, "exp": 2}}),
            &CurrentUserBody {
                current_user: Some(SessionUser {
                    id: UserId::from(USER),
                    email: "ada@example.com".to_owned(),
                    iat: 1,
                    exp: 2,
                }),
            },
        );
        round_trip(
            json!({"currentUser": null}),
            &CurrentUserBody { current_user: None },
        );
    }

    #[test]
    fn errors() {
        round_trip(
            json!({"errors": [{"message": "Email must be valid", "field": "email"},
                              {"message": "Not authorized"}]}),
            &ErrorBody {
                errors: vec![
                    ErrorEntry {
                        message: "Email must be valid".to_owned(),
                        field: Some("email".to_owned()),
                    },
                    ErrorEntry {
                        message: "Not authorized".to_owned(),
                        field: None,
                    },
                ],
            },
        );
    }

    #[test]
    fn requests() {
        round_trip(
            json!({"email": "ada@example.com", "password": "correct horse"}),
            &Credentials {
                email: "ada@example.com".to_owned(),
                password: "correct horse".to_owned(),
            },
        );
        round_trip(
            json!({"title": "Concert", "price": 20, "quantity": 100}),
            &TicketRequest {
                title: "Concert".to_owned(),
                price: Entered::Number(20),
                quantity: Some(Entered::Number(100)),
                venue: None,
                starts_at: None,
                on_sale_at: None,
            },
        );
        round_trip(
            json!({"title": "Concert", "price": "19.99"}),
            &TicketRequest {
                title: "Concert".to_owned(),
                price: Entered::typed("19.99"),
                quantity: None,
                venue: None,
                starts_at: None,
                on_sale_at: None,
            },
        );
        round_trip(
            json!({"ticketId": TICKET, "quantity": "many"}),
            &OrderRequest {
                ticket_id: TICKET.to_owned(),
                quantity: Some(Entered::typed("many")),
            },
        );
        round_trip(
            json!({"orderId": ID, "paymentMethodId": "pm_card_visa"}),
            &PaymentRequest {
                order_id: ID.to_owned(),
                payment_method_id: "pm_card_visa".to_owned(),
            },
        );
        round_trip(
            json!({"apiBase": "/api", "stripePublishableKey": "pk_test", "stripeJsUrl": "https://js.stripe.com/v3/"}),
            &StorefrontConfig {
                api_base: "/api".to_owned(),
                stripe_publishable_key: "pk_test".to_owned(),
                stripe_js_url: "https://js.stripe.com/v3/".to_owned(),
            },
        );
    }
}
