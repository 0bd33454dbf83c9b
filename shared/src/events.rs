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

/// The event types of the catalogue, defined in the contract crate.
pub use contract::events::types;

/// The rules of the catalogue's payloads (the payloads themselves are the contract crate's,
/// `contract::events`).
pub mod data {
    use contract::events as typed;
    use serde::de::DeserializeOwned;

    use crate::validation::{
        DataRules, LISTING_QUANTITY, ORDER_QUANTITY, PRICE_CENTS, TITLE_CHARS, TOTAL_CENTS,
    };

    /// A payload that knows the contract's rules for its fields; read it with
    /// [`CloudEvent::payload`](super::CloudEvent::payload). The rules live here rather than in the
    /// contract crate because they need `uuid` and `time`, which the storefront does without.
    pub trait EventData: DeserializeOwned {
        /// The event types that carry this payload.
        const TYPES: &'static [&'static str];

        /// Records every rule the payload breaks.
        fn check(&self, rules: &mut DataRules);
    }

    impl EventData for typed::TicketData {
        const TYPES: &'static [&'static str] = <typed::TicketData as typed::Payload>::TYPES;

        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", self.id.as_str())
                .version("version", self.version)
                .text("title", &self.title, TITLE_CHARS)
                .range("price", self.price.get(), PRICE_CENTS)
                // A withdrawn listing is announced with its quantity cut to what was sold, which
                // may be none: 0 is a listing off sale, not a broken event.
                .range("quantity", self.quantity.get(), 0..=*LISTING_QUANTITY.end())
                .id("userId", self.user_id.as_str());
        }
    }

    impl EventData for typed::OrderCreatedData {
        const TYPES: &'static [&'static str] = <typed::OrderCreatedData as typed::Payload>::TYPES;

        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", self.id.as_str())
                .version("version", self.version)
                .equals(
                    "status",
                    self.status.as_str(),
                    contract::OrderStatus::Created.as_str(),
                )
                .id("userId", self.user_id.as_str())
                .time("expiresAt", &self.expires_at)
                .range("quantity", self.quantity.get(), ORDER_QUANTITY)
                .id("ticket.id", self.ticket.id.as_str())
                .range("ticket.price", self.ticket.price.get(), PRICE_CENTS)
                .range("total", self.total.get(), TOTAL_CENTS);
        }
    }

    impl EventData for typed::OrderEndedData {
        const TYPES: &'static [&'static str] = <typed::OrderEndedData as typed::Payload>::TYPES;

        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", self.id.as_str())
                .version("version", self.version)
                .range("quantity", self.quantity.get(), ORDER_QUANTITY)
                .id("ticket.id", self.ticket.id.as_str());
        }
    }

    impl EventData for typed::OrderExpiredData {
        const TYPES: &'static [&'static str] = <typed::OrderExpiredData as typed::Payload>::TYPES;

        fn check(&self, rules: &mut DataRules) {
            rules
                .id("orderId", self.order_id.as_str())
                .time("expiresAt", &self.expires_at);
        }
    }

    impl EventData for typed::PaymentCreatedData {
        const TYPES: &'static [&'static str] = <typed::PaymentCreatedData as typed::Payload>::TYPES;

        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", self.id.as_str())
                .id("orderId", self.order_id.as_str())
                .range("amount", self.amount.get(), TOTAL_CENTS);
        }
    }

    impl EventData for typed::PaymentPendingData {
        const TYPES: &'static [&'static str] = <typed::PaymentPendingData as typed::Payload>::TYPES;

        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", self.id.as_str())
                .id("orderId", self.order_id.as_str());
        }
    }

    impl EventData for typed::PaymentFailedData {
        const TYPES: &'static [&'static str] = <typed::PaymentFailedData as typed::Payload>::TYPES;

        fn check(&self, rules: &mut DataRules) {
            rules
                .id("id", self.id.as_str())
                .id("orderId", self.order_id.as_str());
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

    /// A new event of `kind` carrying its catalogue payload. A payload that is not `kind`'s (an
    /// `order.created` sent as `order.cancelled`) is a bug, refused before anything is written.
    pub fn of<T: contract::events::Payload>(
        function: &str,
        kind: &str,
        subject: &str,
        data: &T,
    ) -> Result<Self, ApiError> {
        if !T::TYPES.contains(&kind) {
            return Err(ApiError::internal(format!(
                "{} is not the payload of {kind}",
                std::any::type_name::<T>()
            )));
        }
        Self::new(function, kind, subject, data)
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
        if !T::TYPES.contains(&self.kind.as_str()) {
            return Err(ApiError::rule(format!(
                "{} events do not carry {}",
                self.kind,
                std::any::type_name::<T>()
            )));
        }
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
    fn a_payload_is_sent_only_as_its_own_type() {
        let id = contract::OrderId::new(uuid::Uuid::now_v7().to_string());
        let data = contract::events::OrderExpiredData {
            order_id: id.clone(),
            expires_at: "2026-11-24T10:15:00Z".to_owned(),
        };
        assert!(CloudEvent::of("expire", types::ORDER_EXPIRED, id.as_str(), &data).is_ok());
        assert!(CloudEvent::of("expire", types::ORDER_CANCELLED, id.as_str(), &data).is_err());
    }

    #[test]
    fn a_payload_is_read_only_from_its_own_type() {
        let id = uuid::Uuid::now_v7().to_string();
        let data = contract::events::OrderExpiredData {
            order_id: contract::OrderId::new(id.clone()),
            expires_at: "2026-11-24T10:15:00Z".to_owned(),
        };
        let mut event = CloudEvent::of("expire", types::ORDER_EXPIRED, &id, &data).expect("event");
        assert_eq!(
            event
                .payload::<contract::events::OrderExpiredData>()
                .expect("read"),
            data
        );
        event.kind = types::ORDER_CANCELLED.to_owned();
        let err = event
            .payload::<contract::events::OrderExpiredData>()
            .expect_err("not an order.cancelled payload");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
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
