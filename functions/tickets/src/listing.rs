//! A listing as stored, as shown, as announced, and as a create or update request.
//!
//! Event details (`venue`, `startsAt`) and a drop's on-sale time (`onSaleAt`) are optional. Times are
//! stored in UTC, rounded down to the second (`2027-03-01T20:00:00Z`), so that their text sorts as
//! they do: DynamoDB compares them as strings in conditions.
//!
//! A drop's queue seed is 32 random bytes, written as 64 lower-case hex characters. Ticket JSON
//! shows `queueSeedHash` = hex SHA-256 of the 32 bytes (not of their hex text) from the moment the
//! listing becomes a drop, and the seed itself from `onSaleAt` on; the queue's HMAC key is the same
//! 32 bytes. Anyone can check: `printf %s "$queueSeed" | xxd -r -p | sha256sum`.

use contract::api::TicketBody;
use contract::events::TicketData;
use contract::passes::PassId;
use contract::{Cents, Quantity, TicketId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::error::{ApiError, ErrorEntry};
use shared::json::JsonBody;
use shared::validation::{LISTING_QUANTITY, TITLE_CHARS, Validator, bounded_text, whole_number};
use time::OffsetDateTime;

pub const TITLE_REQUIRED: &str = "Title is required";
pub const TITLE_TOO_LONG: &str = "Title must be at most 200 characters";
pub const QUANTITY_RANGE: &str = "Quantity must be a whole number between 1 and 100000";
pub const VENUE_TOO_LONG: &str = "Venue must be at most 200 characters";
pub const STARTS_AT_TIME: &str = "Start time must be an RFC 3339 date and time";
pub const ON_SALE_FUTURE: &str = "On-sale time must be in the future";
pub const DROP_QUANTITY_LOCKED: &str =
    "The quantity of a drop cannot be lowered once sales have started";
pub const WITHDRAW_LIVE_DROP: &str = "Cannot withdraw a drop once sales have started";
pub const RESERVED: &str = "Cannot edit a reserved ticket";
pub const BELOW_SOLD: &str = "Quantity cannot be less than the number sold";
pub const MODIFIED_CONCURRENTLY: &str = "Ticket was modified concurrently, please retry";
pub const WITHDRAWN: &str = "Ticket was withdrawn";
pub const WITHDRAW_RESERVED: &str = "Cannot withdraw a reserved ticket";
pub const WITHDRAW_SOLD_OUT: &str = "Cannot withdraw a sold-out ticket";
pub const RESALE_FIXED: &str =
    "A resale listing cannot be edited: withdraw it and resell the pass instead";

/// The longest venue, in characters.
pub const VENUE_CHARS: usize = 200;

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// A drop's on-sale time (UTC, whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<String>,
    /// A drop's secret queue seed (hex): made once when the listing becomes a drop, kept while its
    /// on-sale time only moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_seed: Option<String>,
    /// The pass this listing resells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resale_of: Option<PassId>,
    /// When the seller took the listing off sale; its quantity is then what was sold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<String>,
    pub gsi1pk: String,
    pub gsi1sk: String,
}

pub fn key(id: &str) -> String {
    format!("ticket#{id}")
}

/// A new drop's secret seed: 32 random bytes from the operating system, in hex.
pub fn new_queue_seed() -> Result<String, ApiError> {
    use ring::rand::SecureRandom;
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| ApiError::internal("no randomness for a queue seed"))?;
    Ok(hex::encode(seed))
}

/// Hex SHA-256 of the seed's bytes (the hex decoded), as published before sales start.
pub fn queue_seed_hash(seed: &str) -> Result<String, ApiError> {
    let bytes = hex::decode(seed).map_err(ApiError::internal)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Whether sales of a drop that goes on sale at `on_sale_at` have started at `now`.
pub fn sales_started(on_sale_at: &str, now: OffsetDateTime) -> bool {
    shared::time::parse_rfc3339(on_sale_at).is_none_or(|at| at <= now)
}

impl TicketItem {
    pub fn new(
        id: String,
        user_id: UserId,
        request: TicketRequest,
        created_at: String,
    ) -> Result<Self, ApiError> {
        let queue_seed = request
            .on_sale_at
            .as_ref()
            .map(|_| new_queue_seed())
            .transpose()?;
        Ok(Self {
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
            venue: request.venue,
            starts_at: request.starts_at,
            on_sale_at: request.on_sale_at,
            queue_seed,
            resale_of: None,
            withdrawn_at: None,
        })
    }

    /// This listing with a request's terms, one version on: a drop keeps its seed while its
    /// on-sale time only moves, gets a new one when it becomes a drop, and loses it when it stops
    /// being one.
    pub fn revised(&self, request: &TicketRequest) -> Result<Self, ApiError> {
        let queue_seed = match (&request.on_sale_at, &self.queue_seed) {
            (None, _) => None,
            (Some(_), Some(seed)) => Some(seed.clone()),
            (Some(_), None) => Some(new_queue_seed()?),
        };
        Ok(Self {
            title: request.title.clone(),
            price: request.price,
            quantity: request.quantity,
            available: Quantity(request.quantity.get() - self.sold.get()),
            version: self.version + 1,
            venue: request.venue.clone(),
            starts_at: request.starts_at.clone(),
            on_sale_at: request.on_sale_at.clone(),
            queue_seed,
            ..self.clone()
        })
    }

    /// The listing taken off sale now: its quantity cut to what is sold, nothing available, the
    /// next version. What every withdrawal writes (the seller's, or a used resale pass's).
    pub fn withdrawn(&self) -> Self {
        Self {
            quantity: self.sold,
            available: Quantity(0),
            version: self.version + 1,
            withdrawn_at: Some(shared::time::rfc3339(shared::time::now())),
            ..self.clone()
        }
    }

    /// Ticket JSON now.
    pub fn body(&self) -> Result<TicketBody, ApiError> {
        self.body_at(shared::time::now())
    }

    /// Ticket JSON at `now`: a drop's seed shows from its on-sale time on, its hash before.
    pub fn body_at(&self, now: OffsetDateTime) -> Result<TicketBody, ApiError> {
        let seed = self.queue_seed.as_deref();
        let on_sale = self.on_sale_at.as_deref();
        Ok(TicketBody {
            id: self.id.clone(),
            title: self.title.clone(),
            price: self.price,
            quantity: self.quantity,
            available: self.available,
            user_id: self.user_id.clone(),
            version: self.version,
            created_at: self.created_at.clone(),
            venue: self.venue.clone(),
            starts_at: self.starts_at.clone(),
            on_sale_at: self.on_sale_at.clone(),
            queue_seed_hash: seed.map(queue_seed_hash).transpose()?,
            queue_seed: seed
                .filter(|_| on_sale.is_some_and(|at| sales_started(at, now)))
                .map(str::to_owned),
            resale_of: self.resale_of.clone(),
        })
    }

    /// The data of `ticket.created` and `ticket.updated`: the seed too (events stay inside).
    pub fn event_data(&self) -> TicketData {
        TicketData {
            id: self.id.clone(),
            version: self.version,
            title: self.title.clone(),
            price: self.price,
            quantity: self.quantity,
            user_id: self.user_id.clone(),
            venue: self.venue.clone(),
            starts_at: self.starts_at.clone(),
            on_sale_at: self.on_sale_at.clone(),
            queue_seed: self.queue_seed.clone(),
            resale_of: self.resale_of.clone(),
        }
    }
}

/// `{title, price, quantity?, venue?, startsAt?, onSaleAt?}`, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRequest {
    pub title: String,
    pub price: Cents,
    pub quantity: Quantity,
    /// Trimmed; blank is none.
    pub venue: Option<String>,
    /// UTC, whole seconds.
    pub starts_at: Option<String>,
    /// UTC, whole seconds.
    pub on_sale_at: Option<String>,
}

impl TicketRequest {
    /// A new listing's terms: an on-sale time must be in the future.
    pub fn new_listing(body: &JsonBody, now: OffsetDateTime) -> Result<Self, ApiError> {
        Self::parse(body, |at| on_sale_change(at, None, now))
    }

    /// An update's terms, checked alone: whether its on-sale time may change depends on the
    /// listing ([`TicketRequest::check_on_sale`]).
    pub fn update(body: &JsonBody) -> Result<Self, ApiError> {
        Self::parse(body, |_| Ok(()))
    }

    /// Whether this request may set `onSaleAt` as it does on a listing that has `current`.
    pub fn check_on_sale(
        &self,
        current: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        on_sale_change(self.on_sale_at.as_deref(), current, now)
            .map_err(|message| ApiError::Validation(vec![ErrorEntry::field("onSaleAt", message)]))
    }

    fn parse(
        body: &JsonBody,
        on_sale_rule: impl Fn(Option<&str>) -> Result<(), &'static str>,
    ) -> Result<Self, ApiError> {
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
        let venue = v.check("venue", venue(body.get("venue")));
        let starts_at = v.check("startsAt", time_of(body.get("startsAt"), STARTS_AT_TIME));
        let on_sale_at = v.check(
            "onSaleAt",
            time_of(body.get("onSaleAt"), ON_SALE_FUTURE)
                .and_then(|at| on_sale_rule(at.as_deref()).map(|()| at)),
        );
        v.finish(|| {
            Some(Self {
                title: title?,
                price: price?,
                quantity: Quantity(quantity?),
                venue: venue?,
                starts_at: starts_at?,
                on_sale_at: on_sale_at?,
            })
        })
    }
}

/// Whether `onSaleAt` may become `requested` on a listing that has `current`: unchanged always;
/// otherwise only before sales start, and only to a time in the future.
pub fn on_sale_change(
    requested: Option<&str>,
    current: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), &'static str> {
    if requested == current {
        return Ok(());
    }
    // The contract has one message for every refusal of the time: once sales started it is
    // too late to set, move or remove it.
    if current.is_some_and(|at| sales_started(at, now)) {
        return Err(ON_SALE_FUTURE);
    }
    match requested {
        Some(at) if sales_started(at, now) => Err(ON_SALE_FUTURE),
        _ => Ok(()),
    }
}

/// A venue: text of at most 200 characters, trimmed; blank or absent is none.
fn venue(value: Option<&serde_json::Value>) -> Result<Option<String>, &'static str> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value.as_str().map(str::trim).ok_or(VENUE_TOO_LONG)?;
    if text.chars().count() > VENUE_CHARS {
        return Err(VENUE_TOO_LONG);
    }
    Ok(Some(text.to_owned()).filter(|text| !text.is_empty()))
}

/// An RFC 3339 time, as UTC rounded down to the second; absent is none.
fn time_of(
    value: Option<&serde_json::Value>,
    message: &'static str,
) -> Result<Option<String>, &'static str> {
    let Some(value) = value else {
        return Ok(None);
    };
    let at = value
        .as_str()
        .and_then(shared::time::parse_rfc3339)
        .and_then(|at| at.replace_nanosecond(0).ok())
        .and_then(|at| at.checked_to_offset(time::UtcOffset::UTC))
        .ok_or(message)?;
    Ok(Some(shared::time::rfc3339(at)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-24 10:00 UTC);

    fn request(value: serde_json::Value) -> Result<TicketRequest, ApiError> {
        let serde_json::Value::Object(map) = value else {
            panic!("object")
        };
        TicketRequest::new_listing(&JsonBody(map), NOW)
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

    fn terms(on_sale_at: Option<&str>) -> TicketRequest {
        TicketRequest {
            title: "t".to_owned(),
            price: Cents(1999),
            quantity: Quantity(3),
            venue: None,
            starts_at: None,
            on_sale_at: on_sale_at.map(str::to_owned),
        }
    }

    fn listing(on_sale_at: Option<&str>) -> TicketItem {
        TicketItem::new(
            "id".to_owned(),
            UserId::from("u"),
            terms(on_sale_at),
            "2026-11-24T09:00:00Z".to_owned(),
        )
        .expect("listing")
    }

    #[test]
    fn quantity_defaults_to_one() {
        let ticket = request(json!({"title": " Concert ", "price": "19.99"})).expect("valid");
        assert_eq!(
            ticket,
            TicketRequest {
                title: "Concert".to_owned(),
                price: Cents(1999),
                quantity: Quantity(1),
                venue: None,
                starts_at: None,
                on_sale_at: None,
            }
        );
    }

    #[test]
    fn every_failing_field_is_reported_in_order() {
        let err = request(json!({"title": "", "price": true, "quantity": "many",
            "venue": 5, "startsAt": "tomorrow", "onSaleAt": "2026-11-24T09:59:59Z"}))
        .expect_err("bad");
        assert_eq!(
            messages(err),
            vec![
                ("title".to_owned(), TITLE_REQUIRED.to_owned()),
                (
                    "price".to_owned(),
                    contract::money::PRICE_REQUIRED.to_owned()
                ),
                ("quantity".to_owned(), QUANTITY_RANGE.to_owned()),
                ("venue".to_owned(), VENUE_TOO_LONG.to_owned()),
                ("startsAt".to_owned(), STARTS_AT_TIME.to_owned()),
                ("onSaleAt".to_owned(), ON_SALE_FUTURE.to_owned()),
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
    fn a_venue_is_trimmed_blank_is_none_and_over_two_hundred_characters_is_refused() {
        let venue = |v: serde_json::Value| request(json!({"title": "x", "price": 1, "venue": v}));
        assert_eq!(
            venue(json!(" Ahoy ")).expect("ok").venue.as_deref(),
            Some("Ahoy")
        );
        assert_eq!(venue(json!("  ")).expect("ok").venue, None);
        assert!(venue(json!("é".repeat(200))).is_ok());
        assert_eq!(
            messages(venue(json!("é".repeat(201))).expect_err("long")),
            vec![("venue".to_owned(), VENUE_TOO_LONG.to_owned())]
        );
    }

    #[test]
    fn times_are_stored_in_utc_to_the_second() {
        let ticket = request(json!({"title": "x", "price": 1,
            "startsAt": "2027-03-01T21:00:00.750+01:00", "onSaleAt": "2027-01-10T10:00:00Z"}))
        .expect("valid");
        assert_eq!(ticket.starts_at.as_deref(), Some("2027-03-01T20:00:00Z"));
        assert_eq!(ticket.on_sale_at.as_deref(), Some("2027-01-10T10:00:00Z"));
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
    fn the_on_sale_time_moves_only_before_sales_start_and_only_into_the_future() {
        let future = Some("2026-11-25T10:00:00Z");
        let later = Some("2026-11-26T10:00:00Z");
        let past = Some("2026-11-24T09:00:00Z");
        assert_eq!(on_sale_change(future, None, NOW), Ok(()));
        assert_eq!(on_sale_change(later, future, NOW), Ok(()));
        assert_eq!(on_sale_change(None, future, NOW), Ok(()));
        assert_eq!(on_sale_change(past, None, NOW), Err(ON_SALE_FUTURE));
        assert_eq!(on_sale_change(past, future, NOW), Err(ON_SALE_FUTURE));
        // Once sales start, the time is what it is: resending it is fine, anything else is not.
        assert_eq!(on_sale_change(past, past, NOW), Ok(()));
        assert_eq!(on_sale_change(future, past, NOW), Err(ON_SALE_FUTURE));
        assert_eq!(on_sale_change(None, past, NOW), Err(ON_SALE_FUTURE));
    }

    #[test]
    fn the_ticket_json_shows_the_price_in_major_units() {
        let body = serde_json::to_value(listing(None).body_at(NOW).expect("body")).expect("json");
        assert_eq!(body["price"], json!(19.99));
        assert_eq!(body["available"], json!(3));
        assert_eq!(body["userId"], json!("u"));
        assert_eq!(body["version"], json!(0));
        assert!(body.get("queueSeedHash").is_none());
    }

    #[test]
    fn a_drop_shows_the_hash_of_its_seed_before_sales_and_the_seed_from_then_on() {
        let drop = listing(Some("2026-11-25T10:00:00Z"));
        let seed = drop.queue_seed.clone().expect("seed");
        assert_eq!(seed.len(), 64);
        let before = drop.body_at(NOW).expect("body");
        assert_eq!(before.queue_seed, None);
        let hash = before.queue_seed_hash.expect("hash");
        let bytes = hex::decode(&seed).expect("hex");
        assert_eq!(hash, hex::encode(Sha256::digest(&bytes)));
        let after = drop.body_at(datetime!(2026-11-25 10:00 UTC)).expect("body");
        assert_eq!(after.queue_seed.as_deref(), Some(seed.as_str()));
        assert_eq!(after.queue_seed_hash.as_deref(), Some(hash.as_str()));
        assert_eq!(drop.event_data().queue_seed.as_deref(), Some(seed.as_str()));
    }

    #[test]
    fn a_drop_keeps_its_seed_while_its_time_moves_and_loses_it_when_it_stops_being_one() {
        let plain = listing(None);
        let drop = plain
            .revised(&terms(Some("2026-11-25T10:00:00Z")))
            .expect("drop");
        let seed = drop.queue_seed.clone().expect("a new seed");
        let moved = drop
            .revised(&terms(Some("2026-11-26T10:00:00Z")))
            .expect("moved");
        assert_eq!(moved.queue_seed.as_deref(), Some(seed.as_str()));
        assert_eq!(moved.version, 2);
        let undropped = moved.revised(&terms(None)).expect("plain");
        assert_eq!(undropped.queue_seed, None);
        assert_ne!(listing(Some("2026-11-25T10:00:00Z")).queue_seed, Some(seed));
    }
}
