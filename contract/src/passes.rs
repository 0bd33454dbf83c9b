//! E-tickets and check-in (`api.md`, "E-tickets and check-in"): the pass as the API shows it, the
//! check-in request and its answers, the published verification keys, and the passes context's
//! events (`docs/architecture.md`, "Passes"). Kept apart from [`crate::events`], the original
//! catalogue ([`crate::events::types::ALL`], which every Trigger is checked against); the tickets
//! context's `track-passes` consumes these for resale, through Triggers of its own.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api::ErrorEntry;
use crate::ids::{OrderId, TicketId, UserId};

/// The messages of the resale route's refusals.
pub const RESALE_PRICE_CAP: &str = "Resale price must be at most the original price";
pub const RESALE_NOT_VALID: &str = "Only a valid pass can be resold";

/// The messages of the contract's check-in answers.
pub const INVALID_CODE: &str = "Invalid code";
pub const ALREADY_CHECKED_IN: &str = "Already checked in";
pub const PASS_REVOKED: &str = "Pass revoked";
pub const NONCE_RANGE: &str = "Nonce must be 1 to 128 characters";

/// A pass (one admission). On the wire a plain string; deterministic per order and seat, so that
/// issuing twice names the same passes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PassId(String);

impl PassId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PassId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

/// Where a pass is: valid until it is checked in or revoked, both for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PassStatus {
    #[serde(rename = "valid")]
    Valid,
    #[serde(rename = "checked-in")]
    CheckedIn,
    /// The order was cancelled or refunded (or, with resale, the pass was resold).
    #[serde(rename = "revoked")]
    Revoked,
}

impl PassStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::CheckedIn => "checked-in",
            Self::Revoked => "revoked",
        }
    }
}

/// Pass JSON. `venue` and `startsAt` are `null` for a listing that does not describe its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassBody {
    pub id: PassId,
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub title: String,
    pub venue: Option<String>,
    pub starts_at: Option<String>,
    pub seat: i64,
    pub of: i64,
    /// What the QR code holds: at most 200 characters of the QR alphanumeric set.
    pub code: String,
    pub status: PassStatus,
    pub checked_in_at: Option<String>,
}

/// `POST /api/passes/:id/resale`: `{price}`, at most the price the pass was bought at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResaleRequest {
    pub price: crate::api::Entered,
}

/// `POST /api/checkins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinRequest {
    pub code: String,
    /// Chosen by the scanner per scan: a retry with the same nonce replays the first answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// 200: this scan checked the pass in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedInBody {
    pub pass: PassBody,
    pub checked_in_at: String,
}

/// 409 `Already checked in`: the contract's error body, with the pass and when it was checked in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlreadyCheckedInBody {
    pub errors: Vec<ErrorEntry>,
    pub pass: PassBody,
    pub checked_in_at: String,
}

/// `GET /api/passes/keys`: every key a code may be signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysBody {
    pub keys: Vec<PublicKeyBody>,
}

/// One Ed25519 public key: its id (the code's prefix) and its 32 bytes in base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyBody {
    pub kid: String,
    pub public_key: String,
}

/// The passes context's event types.
pub mod types {
    pub const PASS_ISSUED: &str = "ticketing.pass.issued";
    pub const PASS_REVOKED: &str = "ticketing.pass.revoked";
    pub const PASS_CHECKED_IN: &str = "ticketing.pass.checked-in";
    pub const PASS_RESALE_VOIDED: &str = "ticketing.pass.resale-voided";

    pub const ALL: &[&str] = &[
        PASS_ISSUED,
        PASS_REVOKED,
        PASS_CHECKED_IN,
        PASS_RESALE_VOIDED,
    ];
}

/// `pass.issued`: one pass of a completed order, held by the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassIssuedData {
    pub id: PassId,
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub user_id: UserId,
    pub seat: i64,
    pub of: i64,
    /// What the holder paid for this pass (cents): a resale of it may ask at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::Cents>,
}

impl crate::events::Payload for PassIssuedData {
    const TYPES: &'static [&'static str] = &[types::PASS_ISSUED];
}

/// `pass.revoked`: the pass no longer admits anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassRevokedData {
    pub id: PassId,
    pub order_id: OrderId,
    pub ticket_id: TicketId,
}

impl crate::events::Payload for PassRevokedData {
    const TYPES: &'static [&'static str] = &[types::PASS_REVOKED];
}

/// `pass.checked-in`: the one scan that admitted the pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassCheckedInData {
    pub id: PassId,
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub checked_in_at: String,
}

impl crate::events::Payload for PassCheckedInData {
    const TYPES: &'static [&'static str] = &[types::PASS_CHECKED_IN];
}

/// `pass.resale-voided`: a paid order bought a resold pass that was no longer valid when the order
/// completed (checked in or revoked first), so no pass was issued for it and its payment is owed
/// back. Emitted once per order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassResaleVoidedData {
    pub order_id: OrderId,
    /// The resale listing the order bought.
    pub ticket_id: TicketId,
    /// The old pass the listing resold.
    pub pass_id: PassId,
}

impl crate::events::Payload for PassResaleVoidedData {
    const TYPES: &'static [&'static str] = &[types::PASS_RESALE_VOIDED];
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ORDER: &str = "0193a1b2-0000-7000-8000-000000000001";
    const TICKET: &str = "0193a1b2-0000-7000-8000-000000000002";
    const PASS: &str = "0193a1b2-0000-8000-8000-000000000005";

    #[test]
    fn pass_json_is_the_contract_s_with_nulls_for_what_is_unknown() {
        let pass = PassBody {
            id: PassId::from(PASS),
            order_id: OrderId::from(ORDER),
            ticket_id: TicketId::from(TICKET),
            title: "Concert".to_owned(),
            venue: None,
            starts_at: None,
            seat: 1,
            of: 2,
            code: "K1:ABC".to_owned(),
            status: PassStatus::CheckedIn,
            checked_in_at: Some("2026-11-24T19:42:00Z".to_owned()),
        };
        let wire = json!({"id": PASS, "orderId": ORDER, "ticketId": TICKET, "title": "Concert",
            "venue": null, "startsAt": null, "seat": 1, "of": 2, "code": "K1:ABC",
            "status": "checked-in", "checkedInAt": "2026-11-24T19:42:00Z"});
        assert_eq!(serde_json::to_value(&pass).expect("json"), wire);
        assert_eq!(
            serde_json::from_value::<PassBody>(wire).expect("back"),
            pass
        );
    }

    #[test]
    fn pass_issued_carries_the_price_paid_when_known() {
        let data = PassIssuedData {
            id: PassId::from(PASS),
            order_id: OrderId::from(ORDER),
            ticket_id: TicketId::from(TICKET),
            user_id: UserId::from(ORDER),
            seat: 1,
            of: 1,
            price: Some(crate::Cents(2000)),
        };
        let wire = json!({"id": PASS, "orderId": ORDER, "ticketId": TICKET, "userId": ORDER,
            "seat": 1, "of": 1, "price": 2000});
        assert_eq!(serde_json::to_value(&data).expect("json"), wire);
        assert_eq!(
            serde_json::from_value::<PassIssuedData>(wire).expect("back"),
            data
        );
        let older = json!({"id": PASS, "orderId": ORDER, "ticketId": TICKET, "userId": ORDER,
            "seat": 1, "of": 1});
        assert_eq!(
            serde_json::from_value::<PassIssuedData>(older)
                .expect("without a price")
                .price,
            None
        );
    }

    #[test]
    fn a_voided_resale_names_its_order_listing_and_old_pass() {
        let data = PassResaleVoidedData {
            order_id: OrderId::from(ORDER),
            ticket_id: TicketId::from(TICKET),
            pass_id: PassId::from(PASS),
        };
        let wire = json!({"orderId": ORDER, "ticketId": TICKET, "passId": PASS});
        assert_eq!(serde_json::to_value(&data).expect("json"), wire);
        assert_eq!(
            serde_json::from_value::<PassResaleVoidedData>(wire).expect("back"),
            data
        );
    }

    #[test]
    fn statuses_carry_the_contract_s_strings() {
        for status in [
            PassStatus::Valid,
            PassStatus::CheckedIn,
            PassStatus::Revoked,
        ] {
            assert_eq!(serde_json::to_value(status).expect("json"), status.as_str());
        }
    }

    #[test]
    fn each_payload_travels_as_its_own_types_only() {
        use crate::events::Payload;
        let mut covered = [
            PassIssuedData::TYPES,
            PassRevokedData::TYPES,
            PassCheckedInData::TYPES,
            PassResaleVoidedData::TYPES,
        ]
        .concat();
        covered.sort_unstable();
        let mut all = types::ALL.to_vec();
        all.sort_unstable();
        assert_eq!(covered, all);
        assert!(
            types::ALL
                .iter()
                .all(|t| !crate::events::types::ALL.contains(t))
        );
    }
}
