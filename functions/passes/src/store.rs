//! The passes table: this context's copies of orders (`order#<id>`, from the order events) and of
//! listings (`ticket#<id>`, from the ticket events), the passes (`pass#<id>`), and the answers of
//! check-ins that carried a nonce (`checkin#<pass id>#<nonce>`). The only place in this context
//! that speaks DynamoDB; each operation says what happened as an enum.
//!
//! Every decision is a condition on the item it changes, never a read before it: the order copy's
//! status decides issuing and revoking (created → complete | cancelled, each once), and a pass's
//! status decides its check-in (valid → checked-in | revoked, each for good).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use contract::passes::{PassBody, PassId, PassStatus};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::dynamo::{self, PK, Table, TablePrefix, TableSpec, Writes};
use shared::error::ApiError;

pub const TABLE: TableSpec = TableSpec {
    name: "passes",
    sort_key: false,
    index: false,
};

/// How long a check-in's answer is kept for a retry with its nonce (garbage collection only: the
/// answer of a pass checked in is final anyway).
const ANSWER_TTL_SECONDS: i64 = 24 * 60 * 60;

pub fn order_key(id: &str) -> String {
    format!("order#{id}")
}

pub fn listing_key(id: &str) -> String {
    format!("ticket#{id}")
}

pub fn pass_key(id: &str) -> String {
    format!("pass#{id}")
}

fn answer_key(pass: &PassId, nonce: &str) -> String {
    format!("checkin#{pass}#{nonce}")
}

/// The pass of `seat` of an order: the same id every time it is computed, so issuing again (an
/// event delivered twice, a retry after a timeout) names the same passes, and their puts'
/// conditions find them. A UUIDv8 of the first 16 bytes of a SHA-256 of the order id and seat.
pub fn pass_id(order: &OrderId, seat: i64) -> uuid::Uuid {
    let digest = Sha256::digest(format!("ticketing-pass/{order}/{seat}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// What this context knows of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCopy {
    pub pk: String,
    pub entity: String,
    pub id: OrderId,
    /// The buyer: the holder of its passes.
    pub user_id: UserId,
    pub ticket_id: TicketId,
    pub quantity: Quantity,
    /// `created` until the order completes (passes issued) or is cancelled (passes revoked).
    pub status: OrderStatus,
    /// The price of each ticket (cents), as ordered; copies made before it was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Cents>,
    /// Set when the order bought a resold pass that was no longer valid when the order completed
    /// (checked in or revoked first): the order is complete but issued nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resale_failed: Option<PassStatus>,
}

impl OrderCopy {
    pub fn new(
        id: OrderId,
        user_id: UserId,
        ticket_id: TicketId,
        quantity: Quantity,
        price: Cents,
    ) -> Self {
        Self {
            pk: order_key(id.as_str()),
            entity: "order".to_owned(),
            id,
            user_id,
            ticket_id,
            quantity,
            status: OrderStatus::Created,
            price: Some(price),
            resale_failed: None,
        }
    }
}

/// What this context knows of a listing: who checks its passes in, and what passes show of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListingCopy {
    pub pk: String,
    pub entity: String,
    pub id: TicketId,
    /// The seller who listed the tickets: the organiser, who checks them in.
    pub user_id: UserId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// The pass this listing resells: selling it revokes that pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resale_of: Option<PassId>,
    pub version: i64,
}

/// A pass as stored. Title, venue and start come from the listing copy when it is shown, so a
/// listing's later update shows on its passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassItem {
    pub pk: String,
    pub entity: String,
    pub id: PassId,
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    /// The holder.
    pub user_id: UserId,
    /// The listing's seller, the one who may check it in; fixed when the pass is issued.
    pub organiser_id: UserId,
    pub seat: i64,
    pub of: i64,
    pub code: String,
    pub status: PassStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<String>,
    pub issued_at: String,
}

impl PassItem {
    /// Pass JSON.
    pub fn body(&self, listing: &ListingCopy) -> PassBody {
        PassBody {
            id: self.id.clone(),
            order_id: self.order_id.clone(),
            ticket_id: self.ticket_id.clone(),
            title: listing.title.clone(),
            venue: listing.venue.clone(),
            starts_at: listing.starts_at.clone(),
            seat: self.seat,
            of: self.of,
            code: self.code.clone(),
            status: self.status,
            checked_in_at: self.checked_in_at.clone(),
        }
    }
}

/// A check-in's answer, kept under its nonce for a retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredAnswer {
    pub pk: String,
    pub entity: String,
    pub status: u16,
    /// The JSON body, as sent.
    pub body: String,
    pub ttl: i64,
}

/// What issuing an order's passes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    Issued,
    /// The order is no longer `created`: its passes were issued before (a duplicate), or it was
    /// cancelled. Nothing was written.
    AlreadyDecided,
    /// The order resells a pass that is no longer valid (checked in or revoked since it was
    /// read): nothing was written.
    ResoldPassGone,
}

/// What voiding a resale order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voided {
    /// The order copy is complete with `resaleFailed`, and `pass.resale-voided` is recorded.
    Voided,
    /// The order was decided before (a duplicate, or cancelled): nothing was written.
    AlreadyDecided,
}

/// What revoking an order's passes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Revoked,
    /// The order or one of its passes changed since they were read: read and decide again.
    Moved,
}

/// What a check-in did.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckIn {
    /// This scan won: the pass is checked in, with the answer stored under the nonce.
    CheckedIn,
    /// A scan with this nonce was answered before: this is its answer.
    Replay(StoredAnswer),
    /// The pass was no longer valid: as it was at that moment.
    NotValid(Box<PassItem>),
    /// No such pass.
    Missing,
}

/// The writes of this context's transactions, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Order,
    Pass,
    /// The pass a resale replaces.
    Resold,
    Answer,
    Outbox,
}

#[derive(Clone)]
pub struct Passes(Table);

impl Passes {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    fn client(&self) -> &Client {
        self.0.client()
    }

    fn table(&self) -> &str {
        self.0.table()
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderCopy>, ApiError> {
        self.0.get(order_key(id)).await
    }

    pub async fn listing(&self, id: &str) -> Result<Option<ListingCopy>, ApiError> {
        self.0.get(listing_key(id)).await
    }

    pub async fn pass(&self, id: &str) -> Result<Option<PassItem>, ApiError> {
        self.0.get(pass_key(id)).await
    }

    /// Copies a new order, once: a repeated `order.created` changes nothing, and neither does one
    /// that comes after the order was decided.
    pub async fn copy_order(&self, copy: &OrderCopy) -> Result<(), ApiError> {
        self.0.put_once(copy).await.map(|_| ())
    }

    /// Copies a listing at its version, unless a later one is here already. Each event carries
    /// the whole listing, so a later version simply replaces an earlier one, whatever came
    /// between. Whether it was applied.
    pub async fn copy_listing(&self, copy: &ListingCopy) -> Result<bool, ApiError> {
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(dynamo::item_of(copy)?))
            .condition_expression("attribute_not_exists(#pk) OR version < :version")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":version", dynamo::n(copy.version))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(false),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// The passes of an order (those that exist: none before it completes), by seat. Their ids
    /// follow from the order, so this is one consistent batch read, not an index query that
    /// might lag behind the issuing.
    pub async fn passes_of(&self, order: &OrderCopy) -> Result<Vec<PassItem>, ApiError> {
        let keys: Vec<HashMap<String, AttributeValue>> = (1..=order.quantity.get())
            .map(|seat| {
                let id = pass_id(&order.id, seat).hyphenated().to_string();
                HashMap::from([(PK.to_owned(), dynamo::s(pass_key(&id)))])
            })
            .collect();
        let mut wanted = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(ApiError::internal)?,
        );
        let mut found: Vec<PassItem> = Vec::new();
        // DynamoDB may leave keys unprocessed under load; they are asked for again after a pause.
        for attempt in 0..5u64 {
            let Some(request) = wanted.take() else {
                break;
            };
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            let output = self
                .client()
                .batch_get_item()
                .request_items(self.table(), request)
                .send()
                .await
                .map_err(dynamo::sdk_error)?;
            for item in output
                .responses
                .and_then(|mut tables| tables.remove(self.table()))
                .unwrap_or_default()
            {
                found.push(dynamo::parse_item(item)?);
            }
            wanted = output
                .unprocessed_keys
                .and_then(|mut tables| tables.remove(self.table()))
                .filter(|rest| !rest.keys().is_empty());
        }
        if wanted.is_some() {
            return Err(ApiError::unavailable(
                "DynamoDB left passes unread after 5 attempts",
            ));
        }
        found.sort_by_key(|pass| pass.seat);
        Ok(found)
    }

    /// Issues an order's passes: the copy moves created → complete (the one condition that makes
    /// issuing happen once, however often the event comes), each pass is put where none is, and
    /// their events go to the outbox, in one transaction. An order that bought a resold pass
    /// revokes that pass in the same transaction, on the condition that it is still valid: the
    /// new holder's pass and the old holder's revocation happen together or not at all.
    pub async fn issue(
        &self,
        order: &OrderCopy,
        passes: &[PassItem],
        resold: Option<&PassId>,
        events: Vec<TransactWriteItem>,
    ) -> Result<Issued, ApiError> {
        let mut writes = Writes::new();
        writes.add(
            Write::Order,
            self.order_status(order, OrderStatus::Complete)?,
        );
        for pass in passes {
            writes.add(Write::Pass, self.0.insert(pass)?);
        }
        if let Some(resold) = resold {
            writes.add(Write::Resold, self.revocation(resold)?);
        }
        for event in events {
            writes.add(Write::Outbox, event);
        }
        match writes.commit(self.client()).await? {
            Ok(()) => Ok(Issued::Issued),
            Err(refused) if refused.failed(Write::Order) => Ok(Issued::AlreadyDecided),
            Err(refused) if refused.failed(Write::Resold) => Ok(Issued::ResoldPassGone),
            Err(refused) => Err(ApiError::internal(format!(
                "passes of order {} refused: {:?}",
                order.id,
                refused.failures()
            ))),
        }
    }

    /// Cancels the order copy as it was read and revokes its passes that are still valid, with
    /// their events, in one transaction. A pass checked in meanwhile, or an order that moved,
    /// refuses it all: the caller reads again.
    pub async fn revoke(
        &self,
        order: &OrderCopy,
        valid: &[PassItem],
        events: Vec<TransactWriteItem>,
    ) -> Result<Revoked, ApiError> {
        let mut writes = Writes::new();
        writes.add(
            Write::Order,
            self.order_status(order, OrderStatus::Cancelled)?,
        );
        for pass in valid {
            writes.add(Write::Pass, self.revocation(&pass.id)?);
        }
        for event in events {
            writes.add(Write::Outbox, event);
        }
        match writes.commit(self.client()).await? {
            Ok(()) => Ok(Revoked::Revoked),
            Err(_) => Ok(Revoked::Moved),
        }
    }

    /// Completes an order that bought a resold pass no longer valid: it issues nothing, says why
    /// (`resaleFailed`), and records `announce` (`pass.resale-voided`, which makes payments refund
    /// the order) in the same transaction. The copy's move created → complete is the condition, so
    /// the event is recorded once however often `order.completed` comes.
    pub async fn void_resale(
        &self,
        order: &OrderCopy,
        why: PassStatus,
        announce: TransactWriteItem,
    ) -> Result<Voided, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order.id.as_str())))
            .update_expression("SET #status = :to, resaleFailed = :why")
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(OrderStatus::Complete.as_str()))
            .expression_attribute_values(":from", dynamo::s(OrderStatus::Created.as_str()))
            .expression_attribute_values(":why", dynamo::s(why.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes.add(
            Write::Order,
            TransactWriteItem::builder().update(update).build(),
        );
        writes.add(Write::Outbox, announce);
        match writes.commit(self.client()).await? {
            Ok(()) => Ok(Voided::Voided),
            Err(refused) if refused.failed(Write::Order) => Ok(Voided::AlreadyDecided),
            Err(refused) => Err(ApiError::internal(format!(
                "voiding the resale of order {} refused: {:?}",
                order.id,
                refused.failures()
            ))),
        }
    }

    /// A pass's move valid → revoked.
    fn revocation(&self, pass: &PassId) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(pass_key(pass.as_str())))
            .update_expression("SET #status = :revoked")
            .condition_expression("#status = :valid")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":revoked", dynamo::s(PassStatus::Revoked.as_str()))
            .expression_attribute_values(":valid", dynamo::s(PassStatus::Valid.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The order copy's move from the status it was read with to `to`.
    fn order_status(
        &self,
        order: &OrderCopy,
        to: OrderStatus,
    ) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order.id.as_str())))
            .update_expression("SET #status = :to")
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(to.as_str()))
            .expression_attribute_values(":from", dynamo::s(order.status.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Checks a pass in: valid → checked-in is the condition that lets exactly one of any number
    /// of simultaneous scans win. With a nonce, the answer is stored under it in the same
    /// transaction, so a retry of this very scan finds it rather than a 409. A refusal comes back
    /// with the items as they were (`ReturnValuesOnConditionCheckFailure`), so the loser's answer
    /// needs no second read.
    pub async fn check_in(
        &self,
        pass: &PassItem,
        at: &str,
        by: &UserId,
        answer: Option<(&str, u16, String)>,
        event: TransactWriteItem,
    ) -> Result<CheckIn, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(pass_key(pass.id.as_str())))
            .update_expression("SET #status = :checked, checkedInAt = :at, checkedInBy = :by")
            .condition_expression("#status = :valid")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":checked", dynamo::s(PassStatus::CheckedIn.as_str()))
            .expression_attribute_values(":valid", dynamo::s(PassStatus::Valid.as_str()))
            .expression_attribute_values(":at", dynamo::s(at))
            .expression_attribute_values(":by", dynamo::s(by.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes.add(
            Write::Pass,
            TransactWriteItem::builder().update(update).build(),
        );
        if let Some((nonce, status, body)) = answer {
            let stored = StoredAnswer {
                pk: answer_key(&pass.id, nonce),
                entity: "checkin".to_owned(),
                status,
                body,
                ttl: shared::time::unix_now() + ANSWER_TTL_SECONDS,
            };
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(dynamo::item_of(&stored)?))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(ApiError::internal)?;
            writes.add(Write::Answer, TransactWriteItem::builder().put(put).build());
        }
        writes.add(Write::Outbox, event);
        let refused = match writes.commit(self.client()).await? {
            Ok(()) => return Ok(CheckIn::CheckedIn),
            Err(refused) => refused,
        };
        if refused.failed(Write::Answer) {
            let stored = refused.old(Write::Answer).cloned().ok_or_else(|| {
                ApiError::internal("a refused nonce came back without its answer")
            })?;
            return Ok(CheckIn::Replay(dynamo::parse_item(stored)?));
        }
        if refused.failed(Write::Pass) {
            return match refused.old(Write::Pass) {
                Some(old) => Ok(CheckIn::NotValid(Box::new(dynamo::parse_item(
                    old.clone(),
                )?))),
                None => Ok(CheckIn::Missing),
            };
        }
        Err(ApiError::internal(format!(
            "check-in refused: {:?}",
            refused.failures()
        )))
    }

    /// The answer stored under a scan's nonce, if that scan was answered before.
    pub async fn answer(
        &self,
        pass: &PassId,
        nonce: &str,
    ) -> Result<Option<StoredAnswer>, ApiError> {
        self.0.get(answer_key(pass, nonce)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_ids_follow_from_order_and_seat_alone() {
        let order = OrderId::new(uuid::Uuid::now_v7().to_string());
        let first = pass_id(&order, 1);
        assert_eq!(first, pass_id(&order, 1));
        assert_ne!(first, pass_id(&order, 2));
        let other = OrderId::new(uuid::Uuid::now_v7().to_string());
        assert_ne!(first, pass_id(&other, 1));
        assert_eq!(first.get_version_num(), 8);
    }

    #[test]
    fn a_pass_is_stored_with_the_contract_s_status_strings() {
        let order = OrderId::new(uuid::Uuid::now_v7().to_string());
        let pass = PassItem {
            pk: pass_key("p"),
            entity: "pass".to_owned(),
            id: PassId::new("p"),
            order_id: order,
            ticket_id: TicketId::new("t"),
            user_id: UserId::new("u"),
            organiser_id: UserId::new("o"),
            seat: 1,
            of: 1,
            code: "K:X".to_owned(),
            status: PassStatus::CheckedIn,
            checked_in_at: None,
            issued_at: "2026-11-24T10:00:00Z".to_owned(),
        };
        let item = dynamo::item_of(&pass).expect("item");
        assert_eq!(item["status"], dynamo::s("checked-in"));
        assert!(!item.contains_key("checkedInAt"));
        assert_eq!(dynamo::parse_item::<PassItem>(item).expect("back"), pass);
    }
}
