//! A listing as stored, as shown, as announced, and as a create or update request.

use contract::api::TicketBody;
use contract::events::TicketData;
use contract::{Cents, Quantity, TicketId, UserId};
use serde::{Deserialize, Serialize};
use shared::error::ApiError;
use shared::json::JsonBody;
use shared::validation::{LISTING_QUANTITY, TITLE_CHARS, Validator, bounded_text, whole_number};

pub const TITLE_REQUIRED: &str = "Title is required";
pub const TITLE_TOO_LONG: &str = "Title must be at most 200 characters";
pub const QUANTITY_RANGE: &str = "Quantity must be a whole number between 1 and 100000";
pub const RESERVED: &str = "Cannot edit a reserved ticket";
pub const BELOW_SOLD: &str = "Quantity cannot be less than the number sold";
pub const MODIFIED_CONCURRENTLY: &str = "Ticket was modified concurrently, please retry";

/// The partition of the listing index that every listing is in.
pub const LISTED: &str = "listing";

/// A listing as stored. `available` = `quantity` − `held` − `sold`, kept by every write that
/// changes one of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketItem {
    pub pk: String,
    pub entity: String,
    pub id: TicketId,
    pub title: String,
    pub price: Cents,
    pub quantity: Quantity,
    pub held: Quantity,
    pub sold: Quantity,
    pub available: Quantity,
    pub user_id: UserId,
    pub version: i64,
    pub created_at: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
}

pub fn key(id: &str) -> String {
    format!("ticket#{id}")
}

impl TicketItem {
    pub fn new(id: String, user_id: UserId, request: TicketRequest, created_at: String) -> Self {
        Self {
            pk: key(&id),
            entity: "ticket".to_owned(),
            gsi1pk: LISTED.to_owned(),
            gsi1sk: id.clone(),
            id: TicketId::new(id),
            title: request.title,
            price: request.price,
            quantity: request.quantity,
            held: Quantity(0),
            sold: Quantity(0),
            available: request.quantity,
            user_id,
            version: 0,
            created_at,
        }
    }

    /// Ticket JSON.
    pub fn body(&self) -> TicketBody {
        TicketBody {
            id: self.id.clone(),
            title: self.title.clone(),
            price: self.price,
            quantity: self.quantity,
            available: self.available,
            user_id: self.user_id.clone(),
            version: self.version,
            created_at: self.created_at.clone(),
            venue: None,
            starts_at: None,
            on_sale_at: None,
            queue_seed_hash: None,
            queue_seed: None,
            resale_of: None,
        }
    }

    /// The data of `ticket.created` and `ticket.updated`.
    pub fn event_data(&self) -> TicketData {
        TicketData {
            id: self.id.clone(),
            version: self.version,
            title: self.title.clone(),
            price: self.price,
            quantity: self.quantity,
            user_id: self.user_id.clone(),
            venue: None,
            starts_at: None,
            on_sale_at: None,
            queue_seed: None,
            resale_of: None,
        }
    }
}

/// `{title, price, quantity?}`, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRequest {
    pub title: String,
    pub price: Cents,
    pub quantity: Quantity,
}

impl TryFrom<JsonBody> for TicketRequest {
    type Error = ApiError;

    fn try_from(body: JsonBody) -> Result<Self, ApiError> {
        let mut v = Validator::new();
        let title = v.check(
            "title",
            bounded_text(
                body.get("title"),
                TITLE_CHARS,
                TITLE_REQUIRED,
                TITLE_TOO_LONG,
            ),
        );
        let price = v.check("price", contract::money::parse_price(body.get("price")));
        let quantity = v.check(
            "quantity",
            whole_number(
                body.get("quantity"),
                1,
                *LISTING_QUANTITY.start(),
                *LISTING_QUANTITY.end(),
                QUANTITY_RANGE,
            ),
        );
        v.finish(|| {
            Some(Self {
                title: title?,
                price: price?,
                quantity: Quantity(quantity?),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: serde_json::Value) -> Result<TicketRequest, ApiError> {
        let serde_json::Value::Object(map) = value else {
            panic!("object")
        };
        TicketRequest::try_from(JsonBody(map))
    }

    fn messages(err: ApiError) -> Vec<(String, String)> {
        match err {
            ApiError::Validation(entries) => entries
                .into_iter()
                .map(|e| (e.field.unwrap_or_default(), e.message))
                .collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn quantity_defaults_to_one() {
        let ticket = request(json!({"title": " Concert ", "price": "19.99"})).expect("valid");
        assert_eq!(
            ticket,
            TicketRequest {
                title: "Concert".to_owned(),
                price: Cents(1999),
                quantity: Quantity(1)
            }
        );
    }

    #[test]
    fn every_failing_field_is_reported_in_order() {
        let err =
            request(json!({"title": "", "price": true, "quantity": "many"})).expect_err("bad");
        assert_eq!(
            messages(err),
            vec![
                ("title".to_owned(), TITLE_REQUIRED.to_owned()),
                (
                    "price".to_owned(),
                    contract::money::PRICE_REQUIRED.to_owned()
                ),
                ("quantity".to_owned(), QUANTITY_RANGE.to_owned()),
            ]
        );
    }

    #[test]
    fn a_title_over_two_hundred_characters_is_refused() {
        let err = request(json!({"title": "é".repeat(201), "price": 1})).expect_err("long");
        assert_eq!(
            messages(err),
            vec![("title".to_owned(), TITLE_TOO_LONG.to_owned())]
        );
        assert!(request(json!({"title": "é".repeat(200), "price": 1})).is_ok());
    }

    #[test]
    fn quantity_over_a_hundred_thousand_is_refused() {
        let err = request(json!({"title": "x", "price": 1, "quantity": 100_001})).expect_err("big");
        assert_eq!(
            messages(err),
            vec![("quantity".to_owned(), QUANTITY_RANGE.to_owned())]
        );
    }

    #[test]
    fn the_ticket_json_shows_the_price_in_major_units() {
        let item = TicketItem::new(
            "id".to_owned(),
            UserId::from("u"),
            TicketRequest {
                title: "t".to_owned(),
                price: Cents(1999),
                quantity: Quantity(3),
            },
            "2026-11-24T10:00:00Z".to_owned(),
        );
        let body = serde_json::to_value(item.body()).expect("json");
        assert_eq!(body["price"], json!(19.99));
        assert_eq!(body["available"], json!(3));
        assert_eq!(body["userId"], json!("u"));
        assert_eq!(body["version"], json!(0));
    }
}
