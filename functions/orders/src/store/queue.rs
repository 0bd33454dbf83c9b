//! The queue entries of drops in the orders table ([`crate::queue`]): `queue#<ticket>#<user>`, in
//! the index partition `line#<ticket>` while waiting and `admitted#<ticket>` while admitted.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, Select, TransactWriteItem, Update,
};
use contract::OrderStatus;
use contract::drops::QueueState;
use shared::dynamo::{self, INDEX, INDEX_PK, INDEX_SK, Item, PK, Writes};
use shared::error::ApiError;
use time::OffsetDateTime;

use super::Orders;
use crate::order::{self, OrderItem};
use crate::queue::{self, InLine, QueueEntry};
use crate::replica::{self, TicketReplica};

/// The writes of the queue's transactions, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// The replica: capacity held or given back, conditioned on the replica as read.
    Replica,
    /// A queue entry's state change, conditioned on the entry as it was read.
    Entry,
    /// A rejoin's check that the order of the entry it replaces was cancelled.
    OrderCancelled,
    Order,
    Outbox,
    Answer,
}

/// The condition of an entry's move out of the line: still waiting, at the place and for the
/// quantity it was read with.
const WAITING_AS_READ: &str = "#state = :waiting AND #place = :place AND quantity = :quantity";

/// What joining did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// A new entry (or one that replaced an entry that no longer stood, at the back of the line).
    New,
    /// The buyer was in the queue already: nothing was written.
    Existing,
}

/// How often a join reads and tries again an entry that moved under it.
const JOIN_ATTEMPTS: usize = 3;

/// The most new entries one transaction puts: DynamoDB's limit of 100 writes per transaction.
pub const JOIN_GROUP_MAX: usize = 100;

/// What replacing an entry that was read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejoin {
    /// The new entry took its place.
    Replaced,
    /// The entry still stands (waiting, admitted in time, ordered and not cancelled, sold out for
    /// this quantity): nothing was written.
    Stands,
    /// The entry changed since it was read: nothing was written.
    Moved,
}

/// What an admission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    Admitted,
    /// The replica or an entry moved since they were read: nothing was written.
    Moved,
}

/// What placing an admitted buyer's order did.
#[derive(Debug, Clone)]
pub enum PlacedAdmitted {
    /// The order exists, on the tickets its admission held.
    Held,
    /// The entry is not admitted in time for that quantity: nothing was written. The entry as it
    /// was, if the buyer has one.
    NotAdmitted(Option<Box<QueueEntry>>),
    /// The `Idempotency-Key` has an answer already (its record as it was): nothing was written.
    KeyTaken(Option<Item>),
}

impl Orders {
    pub async fn entry(
        &self,
        ticket_id: &str,
        user_id: &str,
    ) -> Result<Option<QueueEntry>, ApiError> {
        self.0.get(queue::key(ticket_id, user_id)).await
    }

    /// A join whose put of `entry` found an entry of the buyer's that it may not replace as it
    /// is: reads it, and replaces it (at the back: a rejoin) if it no longer stands, that is, it
    /// lapsed, was cancelled or is sold out for its quantity. `unsold` and `now` are the
    /// listing's as the caller read it, and the time of the join.
    pub async fn join_over(
        &self,
        entry: &QueueEntry,
        unsold: i64,
        now: i64,
    ) -> Result<Joined, ApiError> {
        for attempt in 0..JOIN_ATTEMPTS {
            if attempt > 0 && self.put_new(entry).await? {
                return Ok(Joined::New);
            }
            let Some(old) = self.entry(&entry.ticket_id, &entry.user_id).await? else {
                continue;
            };
            match self.rejoin(entry, &old, unsold, now).await? {
                Rejoin::Replaced => return Ok(Joined::New),
                Rejoin::Stands => return Ok(Joined::Existing),
                Rejoin::Moved => {}
            }
        }
        // The entry kept moving under the join: it is shown as it is.
        Ok(Joined::Existing)
    }

    /// Puts each of `entries` where its buyer has no entry or a `lapsed` one: whether each was
    /// written, in order. More than one go in transactions of up to [`JOIN_GROUP_MAX`] conditional
    /// puts: DynamoDB Local spends most of a put on the request around it, so 100 in one request
    /// cost far less than 100 requests. A transaction with a refused put writes nothing, so it is
    /// sent again without the refused ones. A buyer twice in one group (a join sent again while
    /// the first was in flight) is put once; the other finds that entry.
    pub async fn put_new_all(&self, entries: &[QueueEntry]) -> Result<Vec<bool>, ApiError> {
        if let [entry] = entries {
            return Ok(vec![self.put_new(entry).await?]);
        }
        let mut written = vec![false; entries.len()];
        let mut seen = std::collections::HashSet::new();
        let mut left: Vec<usize> = (0..entries.len())
            .filter(|&n| seen.insert(entries[n].pk.as_str()))
            .collect();
        while !left.is_empty() {
            let mut writes = Writes::new();
            for &n in &left {
                let put = Put::builder()
                    .table_name(self.0.table())
                    .set_item(Some(dynamo::item_of(&entries[n])?))
                    .condition_expression("attribute_not_exists(#pk) OR #state = :lapsed")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":lapsed", dynamo::s(QueueState::Lapsed.as_str()))
                    .build()
                    .map_err(ApiError::internal)?;
                writes.add(n, TransactWriteItem::builder().put(put).build());
            }
            match writes.commit(self.0.client()).await? {
                Ok(()) => {
                    for &n in &left {
                        written[n] = true;
                    }
                    left.clear();
                }
                Err(refused) if !refused.failures().is_empty() => {
                    left.retain(|&n| !refused.failed(n));
                }
                Err(refused) => {
                    return Err(ApiError::internal(format!(
                        "joins refused without a failed condition: {:?}",
                        refused.failures()
                    )));
                }
            }
        }
        Ok(written)
    }

    /// Puts the entry where the buyer has none or a `lapsed` one. Whether it was written.
    async fn put_new(&self, entry: &QueueEntry) -> Result<bool, ApiError> {
        let put = self
            .0
            .client()
            .put_item()
            .table_name(self.0.table())
            .set_item(Some(dynamo::item_of(entry)?))
            .condition_expression("attribute_not_exists(#pk) OR #state = :lapsed")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":lapsed", dynamo::s(QueueState::Lapsed.as_str()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(false),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// Replaces `old`, the buyer's entry as read, with `entry` where `old` no longer stands, in one
    /// transaction conditioned on `old` being still as read:
    /// - `lapsed`;
    /// - `admitted` with its time up at `now` but not yet lapsed by an advance: its quantity goes
    ///   back to the replica in the same transaction, as a lapse would give it (the replaced entry
    ///   leaves the index, so no advance lapses it again);
    /// - `ordered`, and the order was cancelled (by the buyer or by expiry), which gave its
    ///   tickets back already;
    /// - `sold-out`, and the new quantity fits in what the listing could still sell (`unsold` as
    ///   the caller read it: the new entry holds nothing, the next advance judges it again).
    async fn rejoin(
        &self,
        entry: &QueueEntry,
        old: &QueueEntry,
        unsold: i64,
        now: i64,
    ) -> Result<Rejoin, ApiError> {
        let put = Put::builder()
            .table_name(self.0.table())
            .set_item(Some(dynamo::item_of(entry)?))
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", dynamo::s(old.state.as_str()));
        let mut writes = Writes::new();
        let put = match old.state {
            QueueState::Lapsed => put.condition_expression("#state = :state"),
            QueueState::SoldOut if entry.quantity <= unsold => {
                put.condition_expression("#state = :state")
            }
            QueueState::Admitted => {
                let Some(until) = old.admitted_until_unix.filter(|&until| until < now) else {
                    return Ok(Rejoin::Stands);
                };
                writes.add(
                    Write::Replica,
                    self.adjust(&old.ticket_id, old.quantity, false)?,
                );
                put.condition_expression(
                    "#state = :state AND admittedUntilUnix < :now \
                     AND admittedUntilUnix = :until AND quantity = :quantity",
                )
                .expression_attribute_values(":now", dynamo::n(now))
                .expression_attribute_values(":until", dynamo::n(until))
                .expression_attribute_values(":quantity", dynamo::n(old.quantity))
            }
            QueueState::Ordered => {
                let Some(order_id) = old.order_id.as_deref() else {
                    return Ok(Rejoin::Stands);
                };
                writes.add(Write::OrderCancelled, self.is_cancelled(order_id)?);
                put.condition_expression("#state = :state AND orderId = :order")
                    .expression_attribute_values(":order", dynamo::s(order_id))
            }
            QueueState::Waiting | QueueState::SoldOut => return Ok(Rejoin::Stands),
        };
        writes.add(
            Write::Entry,
            TransactWriteItem::builder()
                .put(put.build().map_err(ApiError::internal)?)
                .build(),
        );
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Rejoin::Replaced),
            // The order is still open, or was paid: the entry stands.
            Err(refused) if refused.failed(Write::OrderCancelled) => Ok(Rejoin::Stands),
            Err(refused) if refused.failed(Write::Entry) => Ok(Rejoin::Moved),
            Err(refused) => Err(ApiError::internal(format!(
                "rejoin refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// The check, for a transaction, that an order was cancelled (by its buyer or by expiry).
    fn is_cancelled(&self, order_id: &str) -> Result<TransactWriteItem, ApiError> {
        let check = ConditionCheck::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(order::key(order_id)))
            .condition_expression("#status = :cancelled")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":cancelled", dynamo::s(OrderStatus::Cancelled.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// A query of a listing's line (`#ipk = :partition` named), in admission order.
    fn line_query(&self, ticket_id: &str) -> QueryFluentBuilder {
        self.0
            .client()
            .query()
            .table_name(self.0.table())
            .index_name(INDEX)
            .expression_attribute_names("#ipk", INDEX_PK)
            .expression_attribute_values(":partition", dynamo::s(queue::line_partition(ticket_id)))
    }

    /// The first `limit` waiting entries of a listing's line, in admission order.
    pub async fn line(&self, ticket_id: &str, limit: usize) -> Result<Vec<QueueEntry>, ApiError> {
        let output = self
            .line_query(ticket_id)
            .key_condition_expression("#ipk = :partition")
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        entries(output.items.unwrap_or_default())
    }

    /// The place of the first entry waiting in a listing's line (one key read), if any.
    pub async fn line_head(&self, ticket_id: &str) -> Result<Option<String>, ApiError> {
        let output = self
            .line_query(ticket_id)
            .key_condition_expression("#ipk = :partition")
            .expression_attribute_names("#isk", INDEX_SK)
            .projection_expression("#isk")
            .limit(1)
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        Ok(output
            .items
            .unwrap_or_default()
            .first()
            .and_then(|item| item.get(INDEX_SK))
            .and_then(|value| value.as_s().ok())
            .cloned())
    }

    /// The entries waiting in a listing's line after the place `after` (all of them for `None`), in
    /// line order: only their places and what their answers show, 1 MB read a page.
    pub async fn line_places(
        &self,
        ticket_id: &str,
        after: Option<&str>,
    ) -> Result<Vec<InLine>, ApiError> {
        let mut places = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .line_query(ticket_id)
                .expression_attribute_names("#isk", INDEX_SK)
                .expression_attribute_names("#user", "userId")
                .expression_attribute_names("#quantity", "quantity")
                .expression_attribute_names("#joined", "joinedAt")
                .projection_expression("#isk, #user, #quantity, #joined")
                .set_exclusive_start_key(start);
            query = match after {
                Some(after) => query
                    .key_condition_expression("#ipk = :partition AND #isk > :after")
                    .expression_attribute_values(":after", dynamo::s(after)),
                None => query.key_condition_expression("#ipk = :partition"),
            };
            let output = query.send().await.map_err(dynamo::sdk_error)?;
            for item in output.items.unwrap_or_default() {
                places.push(dynamo::parse_item(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(places),
            }
        }
    }

    /// A query of a listing's open admissions, the earliest to end first.
    fn admitted_query(&self, ticket_id: &str) -> QueryFluentBuilder {
        self.0
            .client()
            .query()
            .table_name(self.0.table())
            .index_name(INDEX)
            .key_condition_expression("#ipk = :partition")
            .expression_attribute_names("#ipk", INDEX_PK)
            .expression_attribute_values(
                ":partition",
                dynamo::s(queue::admitted_partition(ticket_id)),
            )
    }

    /// The first `limit` admitted entries of a listing, the earliest to end first.
    pub async fn first_admissions(
        &self,
        ticket_id: &str,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, ApiError> {
        let output = self
            .admitted_query(ticket_id)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        entries(output.items.unwrap_or_default())
    }

    /// How many admissions of a listing are open (admitted, neither ordered nor lapsed yet),
    /// counting no further than `limit`: one query of the index, which reads at most `limit` keys.
    pub async fn open_admissions(&self, ticket_id: &str, limit: usize) -> Result<usize, ApiError> {
        let output = self
            .admitted_query(ticket_id)
            .select(Select::Count)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        Ok(usize::try_from(output.count).unwrap_or(0))
    }

    /// Ends an admission that ran out unused: the entry becomes `lapsed` (only if it is still the
    /// admission as read, for its quantity and end, and that end is before `now`, so an order in
    /// time wins and a rejoin for another quantity is not lapsed) and its capacity goes back to the
    /// replica, in one transaction. Whether it lapsed.
    pub async fn lapse(&self, entry: &QueueEntry, now: i64) -> Result<bool, ApiError> {
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(entry.pk.clone()))
            .update_expression("SET #state = :lapsed REMOVE gsi1pk, gsi1sk")
            .condition_expression(
                "#state = :admitted AND admittedUntilUnix < :now \
                 AND admittedUntilUnix = :until AND quantity = :quantity",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":lapsed", dynamo::s(QueueState::Lapsed.as_str()))
            .expression_attribute_values(":admitted", dynamo::s(QueueState::Admitted.as_str()))
            .expression_attribute_values(":now", dynamo::n(now))
            .expression_attribute_values(":until", dynamo::n(until_of(entry)?))
            .expression_attribute_values(":quantity", dynamo::n(entry.quantity))
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes
            .add(
                Write::Entry,
                TransactWriteItem::builder().update(update).build(),
            )
            .add(
                Write::Replica,
                self.adjust(&entry.ticket_id, entry.quantity, false)?,
            );
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(true),
            Err(refused) if refused.failed(Write::Entry) => Ok(false),
            Err(refused) => Err(ApiError::internal(format!(
                "lapse refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Lets `admit` in until `until` and takes `sold_out` out of the line, in one transaction: the
    /// replica gives the admitted quantity (only if it is still as read: version, `available`,
    /// `sold`), and each entry moves only if it is still waiting as read (its place and quantity:
    /// not a rejoin since, which may want another quantity).
    pub async fn admit(
        &self,
        ticket: &TicketReplica,
        admit: &[&QueueEntry],
        sold_out: &[&QueueEntry],
        until: OffsetDateTime,
    ) -> Result<Admitted, ApiError> {
        let total: i64 = admit.iter().map(|entry| entry.quantity).sum();
        let replica = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(replica::key(&ticket.id)))
            .update_expression(
                "SET available = available - :total, reserved = reserved + :total, \
                 admittedEntries = if_not_exists(admittedEntries, :zero) + :count",
            )
            .condition_expression(
                "version = :version AND available = :available \
                 AND (attribute_not_exists(sold) OR sold = :sold)",
            )
            .expression_attribute_values(":total", dynamo::n(total))
            .expression_attribute_values(":zero", dynamo::n(0))
            .expression_attribute_values(":count", dynamo::n(admit.len() as i64))
            .expression_attribute_values(":version", dynamo::n(ticket.version))
            .expression_attribute_values(":available", dynamo::n(ticket.available))
            .expression_attribute_values(":sold", dynamo::n(ticket.sold))
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes.add(
            Write::Replica,
            TransactWriteItem::builder().update(replica).build(),
        );
        let until_unix = until.unix_timestamp();
        let until_text = shared::time::rfc3339(until);
        for entry in admit {
            let update = Update::builder()
                .table_name(self.0.table())
                .key(PK, dynamo::s(entry.pk.clone()))
                .update_expression(
                    "SET #state = :admitted, admittedUntil = :until, \
                     admittedUntilUnix = :untilUnix, gsi1pk = :ipk, gsi1sk = :isk",
                )
                .condition_expression(WAITING_AS_READ)
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#place", "place")
                .expression_attribute_values(":place", dynamo::s(entry.place.clone()))
                .expression_attribute_values(":quantity", dynamo::n(entry.quantity))
                .expression_attribute_values(":admitted", dynamo::s(QueueState::Admitted.as_str()))
                .expression_attribute_values(":waiting", dynamo::s(QueueState::Waiting.as_str()))
                .expression_attribute_values(":until", dynamo::s(until_text.clone()))
                .expression_attribute_values(":untilUnix", dynamo::n(until_unix))
                .expression_attribute_values(
                    ":ipk",
                    dynamo::s(queue::admitted_partition(&entry.ticket_id)),
                )
                .expression_attribute_values(
                    ":isk",
                    dynamo::s(queue::admitted_sort_key(until_unix, &entry.user_id)),
                )
                .build()
                .map_err(ApiError::internal)?;
            writes.add(
                Write::Entry,
                TransactWriteItem::builder().update(update).build(),
            );
        }
        for entry in sold_out {
            let update = Update::builder()
                .table_name(self.0.table())
                .key(PK, dynamo::s(entry.pk.clone()))
                .update_expression("SET #state = :soldOut REMOVE gsi1pk, gsi1sk")
                .condition_expression(WAITING_AS_READ)
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#place", "place")
                .expression_attribute_values(":place", dynamo::s(entry.place.clone()))
                .expression_attribute_values(":quantity", dynamo::n(entry.quantity))
                .expression_attribute_values(":soldOut", dynamo::s(QueueState::SoldOut.as_str()))
                .expression_attribute_values(":waiting", dynamo::s(QueueState::Waiting.as_str()))
                .build()
                .map_err(ApiError::internal)?;
            writes.add(
                Write::Entry,
                TransactWriteItem::builder().update(update).build(),
            );
        }
        Ok(match writes.commit(self.0.client()).await? {
            Ok(()) => Admitted::Admitted,
            Err(_) => Admitted::Moved,
        })
    }

    /// Places an admitted buyer's order on the tickets the admission holds: the order, its event,
    /// the key's answer, and the entry marked `ordered` (only while it is admitted, in time, for
    /// `admitted` tickets), in one transaction. An order for fewer than `admitted` gives the rest
    /// back. The entry is not read first: a refusal brings back the entry as it was (and the key's
    /// record, when that was refused), which is all the caller needs to answer.
    pub async fn place_admitted(
        &self,
        order: &OrderItem,
        admitted: i64,
        event: TransactWriteItem,
        answer: Option<TransactWriteItem>,
    ) -> Result<PlacedAdmitted, ApiError> {
        let quantity = order.quantity.get();
        let ticket_id = order.ticket.id.as_str();
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(queue::key(ticket_id, order.user_id.as_str())))
            .update_expression("SET #state = :ordered, orderId = :order REMOVE gsi1pk, gsi1sk")
            .condition_expression(
                "#state = :admitted AND admittedUntilUnix >= :now AND quantity = :quantity",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":ordered", dynamo::s(QueueState::Ordered.as_str()))
            .expression_attribute_values(":order", dynamo::s(order.id.as_str()))
            .expression_attribute_values(":admitted", dynamo::s(QueueState::Admitted.as_str()))
            .expression_attribute_values(":now", dynamo::n(shared::time::unix_now()))
            .expression_attribute_values(":quantity", dynamo::n(admitted))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes
            .add(
                Write::Entry,
                TransactWriteItem::builder().update(update).build(),
            )
            .add(Write::Order, self.insert(order)?)
            .add(Write::Outbox, event);
        if let Some(answer) = answer {
            writes.add(Write::Answer, answer);
        }
        if admitted > quantity {
            writes.add(
                Write::Replica,
                self.adjust(ticket_id, admitted - quantity, false)?,
            );
        }
        // Patiently: a crowd of admitted buyers orders at once, and an order sent twice is twice
        // the load that made it late.
        match writes.commit_patiently(self.0.client()).await? {
            Ok(()) => Ok(PlacedAdmitted::Held),
            Err(refused) if refused.failed(Write::Answer) => Ok(PlacedAdmitted::KeyTaken(
                refused.old(Write::Answer).cloned(),
            )),
            Err(refused) if refused.failed(Write::Entry) => {
                let entry = refused
                    .old(Write::Entry)
                    .cloned()
                    .map(dynamo::parse_item)
                    .transpose()?;
                Ok(PlacedAdmitted::NotAdmitted(entry.map(Box::new)))
            }
            Err(refused) => Err(ApiError::internal(format!(
                "admitted order refused: {:?}",
                refused.failures()
            ))),
        }
    }
}

/// An admission's end, as the entry was read.
fn until_of(entry: &QueueEntry) -> Result<i64, ApiError> {
    entry
        .admitted_until_unix
        .ok_or_else(|| ApiError::internal(format!("{} is admitted without an end", entry.pk)))
}

fn entries(items: Vec<Item>) -> Result<Vec<QueueEntry>, ApiError> {
    items.into_iter().map(dynamo::parse_item).collect()
}
