//! CloudEvents 1.0: the envelope, the event types of the catalogue, and how an event arrives over
//! HTTP (binary or structured mode).
//!
//! A small typed module rather than the `cloudevents-sdk` crate: its NATS binding targets the
//! retired synchronous `nats` crate, and it brings `chrono`, `url` and a second HTTP stack into every
//! function, for the eight attributes we use.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::json::BODY_LIMIT;

/// The event types of the catalogue in `events.md`.
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

/// The payloads of the catalogue that more than one context reads. Money is in cents.
pub mod data {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};

    use crate::validation::{
        DataRules, LISTING_QUANTITY, ORDER_QUANTITY, PRICE_CENTS, TITLE_CHARS, TOTAL_CENTS,
    };

    /// A payload that knows the contract's rules for its fields; read it with
    /// [`CloudEvent::payload`](super::CloudEvent::payload).
    pub trait EventData: DeserializeOwned {
        /// Records every rule the payload breaks.
        fn check(&self, rules: &mut DataRules);
    }

    /// `ticket.created` / `ticket.updated`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TicketData {
        pub id: String,
        pub version: i64,
        pub title: String,
        pub price: i64,
        pub quantity: i64,
        pub user_id: String,
    }

    impl EventData for TicketData {
        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", &self.id)
                .version("version", self.version)
                .text("title", &self.title, TITLE_CHARS)
                .range("price", self.price, PRICE_CENTS)
                .range("quantity", self.quantity, LISTING_QUANTITY)
                .id("userId", &self.user_id);
        }
    }

    /// `order.created`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct OrderCreatedData {
        pub id: String,
        pub version: i64,
        pub status: String,
        pub user_id: String,
        pub expires_at: String,
        pub quantity: i64,
        pub ticket: OrderedTicket,
        pub total: i64,
    }

    /// The listing an order holds, with the price it was ordered at.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct OrderedTicket {
        pub id: String,
        pub price: i64,
    }

    impl EventData for OrderCreatedData {
        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", &self.id)
                .version("version", self.version)
                .equals("status", &self.status, "created")
                .id("userId", &self.user_id)
                .time("expiresAt", &self.expires_at)
                .range("quantity", self.quantity, ORDER_QUANTITY)
                .id("ticket.id", &self.ticket.id)
                .range("ticket.price", self.ticket.price, PRICE_CENTS)
                .range("total", self.total, TOTAL_CENTS);
        }
    }

    /// `order.cancelled` / `order.completed`: `version` is the one the change produced.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct OrderEndedData {
        pub id: String,
        pub version: i64,
        pub quantity: i64,
        pub ticket: TicketRef,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TicketRef {
        pub id: String,
    }

    impl EventData for OrderEndedData {
        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", &self.id)
                .version("version", self.version)
                .range("quantity", self.quantity, ORDER_QUANTITY)
                .id("ticket.id", &self.ticket.id);
        }
    }

    /// `payment.created`: a PaymentIntent paid the order (`amount` in cents).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PaymentCreatedData {
        pub id: String,
        pub order_id: String,
        pub stripe_id: String,
        pub amount: i64,
        pub currency: String,
    }

    /// `payment.pending`: the buyer must authenticate the PaymentIntent (3-D Secure).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PaymentPendingData {
        pub id: String,
        pub order_id: String,
        pub stripe_id: String,
    }

    /// `payment.failed`: the PaymentIntent was declined after all.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PaymentFailedData {
        pub id: String,
        pub order_id: String,
        pub stripe_id: String,
        pub reason: String,
    }

    /// `order.expired` (from the expiry sweep) and `payment.lapsed` (payments' verdict on it).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct OrderExpiredData {
        pub order_id: String,
        pub expires_at: String,
    }

    impl EventData for OrderExpiredData {
        fn check(&self, rules: &mut DataRules) {
            rules
                .id("orderId", &self.order_id)
                .time("expiresAt", &self.expires_at);
        }
    }
}

pub const SPEC_VERSION: &str = "1.0";
/// The media type of a CloudEvent in structured mode.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// One event, as it travels (structured JSON) and as it is stored in an outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default)]
    pub data: Value,
}

impl CloudEvent {
    /// A new event with a fresh time-ordered id, stamped now.
    pub fn new(
        function: &str,
        kind: &str,
        subject: &str,
        data: &impl Serialize,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            specversion: SPEC_VERSION.to_owned(),
            id: uuid::Uuid::now_v7().to_string(),
            source: format!("/ticketing/{function}"),
            kind: kind.to_owned(),
            subject: Some(subject.to_owned()),
            time: Some(crate::time::rfc3339(crate::time::now())),
            datacontenttype: Some("application/json".to_owned()),
            data: serde_json::to_value(data).map_err(ApiError::internal)?,
        })
    }

    /// The payload as the handler's type. An event whose data does not fit will never be handled:
    /// that is the 400 which sends it to the dead letters.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_value(self.data.clone()).map_err(|err| {
            ApiError::rule(format!("Event data does not match {}: {err}", self.kind))
        })
    }

    /// The payload as its catalogue type, every rule of the contract checked (ids are ids,
    /// quantities and prices in range, times readable). Data that does not fit, or breaks a rule,
    /// will never be handled: that is the 400 which sends the event to the dead letters.
    pub fn payload<T: data::EventData>(&self) -> Result<T, ApiError> {
        let payload: T = self.data_as()?;
        let mut rules = crate::validation::DataRules::new();
        payload.check(&mut rules);
        rules.finish(&self.kind)?;
        Ok(payload)
    }

    /// Parses the structured form.
    pub fn from_structured(bytes: &[u8]) -> Result<Self, ApiError> {
        let event: Self = serde_json::from_slice(bytes)
            .map_err(|err| ApiError::rule(format!("Not a structured CloudEvent: {err}")))?;
        event.checked()
    }

    /// Reads binary mode: attributes in `ce-` headers, the data as the body.
    pub fn from_binary(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        let attribute = |name: &str| {
            headers
                .get(format!("ce-{name}"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let required = |name: &str| {
            attribute(name).ok_or_else(|| ApiError::rule(format!("Missing ce-{name} header")))
        };
        let data = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .map_err(|err| ApiError::rule(format!("Event data is not JSON: {err}")))?
        };
        let event = Self {
            specversion: required("specversion")?,
            id: required("id")?,
            source: required("source")?,
            kind: required("type")?,
            subject: attribute("subject"),
            time: attribute("time"),
            datacontenttype: headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            data,
        };
        event.checked()
    }

    /// The attributes of binary mode, for a delivery over HTTP.
    pub fn binary_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = Vec::new();
        let mut add = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.push((HeaderName::from_static(name), value));
            }
        };
        add("ce-specversion", &self.specversion);
        add("ce-id", &self.id);
        add("ce-source", &self.source);
        add("ce-type", &self.kind);
        if let Some(subject) = &self.subject {
            add("ce-subject", subject);
        }
        if let Some(time) = &self.time {
            add("ce-time", time);
        }
        add(
            "content-type",
            self.datacontenttype
                .as_deref()
                .unwrap_or("application/json"),
        );
        headers
    }

    /// Refuses an event of a type this handler was not subscribed to (a routing mistake: retrying
    /// will not help).
    pub fn expect_type(&self, accepted: &[&str]) -> Result<(), ApiError> {
        if accepted.contains(&self.kind.as_str()) {
            Ok(())
        } else {
            Err(ApiError::rule(format!(
                "This handler does not take {} events",
                self.kind
            )))
        }
    }

    pub fn to_json(&self) -> Result<Vec<u8>, ApiError> {
        serde_json::to_vec(self).map_err(ApiError::internal)
    }

    fn checked(self) -> Result<Self, ApiError> {
        if self.specversion != SPEC_VERSION {
            return Err(ApiError::rule(format!(
                "Unsupported CloudEvents specversion {:?}",
                self.specversion
            )));
        }
        if self.id.is_empty() || self.kind.is_empty() || self.source.is_empty() {
            return Err(ApiError::rule(
                "CloudEvent id, type and source are required",
            ));
        }
        Ok(self)
    }
}

fn is_structured(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(STRUCTURED_CONTENT_TYPE)
        })
}

/// Decodes either mode: structured when the content type says so, else binary.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<CloudEvent, ApiError> {
    if is_structured(headers) {
        CloudEvent::from_structured(body)
    } else {
        CloudEvent::from_binary(headers, body)
    }
}

/// An event delivered over HTTP, in binary or structured mode. Anything else is a 400, which tells
/// the delivery side never to try it again.
impl<S: Send + Sync> FromRequest<S> for CloudEvent {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, BODY_LIMIT * 4)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        decode(&parts.headers, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CloudEvent {
        CloudEvent::new(
            "create-ticket",
            types::TICKET_CREATED,
            "t1",
            &serde_json::json!({"id": "t1", "version": 0}),
        )
        .expect("event")
    }

    #[test]
    fn binary_mode_carries_every_attribute() {
        let event = sample();
        let mut headers = HeaderMap::new();
        for (name, value) in event.binary_headers() {
            headers.insert(name, value);
        }
        let body = serde_json::to_vec(&event.data).expect("data");
        assert_eq!(decode(&headers, &body).expect("decoded"), event);
    }

    #[test]
    fn structured_mode_is_read_by_the_same_decoder() {
        let event = sample();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents+json; charset=utf-8"),
        );
        let body = event.to_json().expect("json");
        assert_eq!(decode(&headers, &body).expect("decoded"), event);
    }

    #[test]
    fn a_request_without_cloudevent_headers_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let err = decode(&headers, b"{}").expect_err("not an event");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn another_spec_version_is_refused() {
        let mut event = sample();
        event.specversion = "0.3".to_owned();
        let body = serde_json::to_vec(&event).expect("json");
        assert!(CloudEvent::from_structured(&body).is_err());
    }

    #[test]
    fn data_of_the_wrong_shape_is_a_bad_request() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Wanted {
            title: String,
        }
        let err = sample().data_as::<Wanted>().expect_err("no title");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}
