//! The payments table: order copies (`order#<id>`), payments by PaymentIntent (`pi#<stripe id>`:
//! one record per PaymentIntent, however many paths report it), and Stripe events seen
//! (`stripe-event#<id>`); and the refunds table: money owed back (`due` / PaymentIntent), written
//! in the same transaction as the decision to refund, deleted once Stripe has refunded it.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use contract::{Cents, OrderId, UserId};
use serde::{Deserialize, Serialize};
use shared::dynamo::{self, PK, Refused, SK, Table, TablePrefix, TableSpec};
use shared::error::ApiError;

pub const TABLE: TableSpec = TableSpec {
    name: "payments",
    sort_key: false,
    index: false,
};

/// Refunds owed: one partition (`due`), sorted by PaymentIntent. Refunds are rare, so one
/// partition is plenty, and `relay-payments` reads it whole.
pub const REFUNDS: TableSpec = TableSpec {
    name: "payments-refunds",
    sort_key: true,
    index: false,
};

const DUE: &str = "due";

/// Where payments' copy of an order is. Orders' own statuses (`contract::OrderStatus`) differ:
/// `awaiting:payment` is orders' business, and `expired` is payments' verdict before orders cancels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyStatus {
    Created,
    Cancelled,
    Complete,
    /// Payments decided the order was not paid in time (`payment.lapsed`); orders then cancels it.
    Expired,
}

impl CopyStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Cancelled => "cancelled",
            Self::Complete => "complete",
            Self::Expired => "expired",
        }
    }
}

/// What payments knows of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCopy {
    pub pk: String,
    pub id: OrderId,
    pub user_id: UserId,
    pub status: CopyStatus,
    pub total: Cents,
    pub expires_at_unix: i64,
    pub version: i64,
    /// Until when a payment attempt holds the order (one attempt at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_until: Option<i64>,
    /// The PaymentIntent that paid the order, once one has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_by: Option<String>,
    /// The last PaymentIntent that waited for the buyer to authenticate (3-D Secure): it may
    /// still succeed, so an expiry asks Stripe about it before the order lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_intent: Option<String>,
}

impl OrderCopy {
    pub fn has_expired(&self, now: i64) -> bool {
        now >= self.expires_at_unix
    }

    /// Whether an expiry at `now` may decide this order: unpaid, due, and no attempt in flight
    /// (the same condition as [`Payments::lapse`]'s write, read first to know whether to ask
    /// Stripe about a pending PaymentIntent).
    pub fn awaits_verdict(&self, now: i64) -> bool {
        self.status == CopyStatus::Created
            && self.expires_at_unix <= now + CLOCK_SKEW_SECONDS
            && self.attempt_until.is_none_or(|until| until < now)
    }
}

pub fn order_key(id: &str) -> String {
    format!("order#{id}")
}

#[derive(Clone)]
pub struct Payments {
    table: Table,
    refunds: String,
}

impl Payments {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self {
            table: Table::new(client, prefix, &TABLE),
            refunds: prefix.table(&REFUNDS),
        }
    }

    fn client(&self) -> &Client {
        self.table.client()
    }

    fn table(&self) -> &str {
        self.table.table()
    }

    /// Writes `items` together, or none of them.
    pub async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Refused>, ApiError> {
        self.table.transact(items).await
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderCopy>, ApiError> {
        self.table.get(order_key(id)).await
    }

    /// Writes the copy of a new order, once (a repeated `order.created` changes nothing).
    pub async fn insert_copy(&self, copy: &OrderCopy) -> Result<(), ApiError> {
        self.table.put_once(copy).await.map(|_| ())
    }

    pub async fn exists(&self, key: String) -> Result<bool, ApiError> {
        let item: Option<serde_json::Value> = self.table.get(key).await?;
        Ok(item.is_some())
    }

    /// Claims the one payment attempt an order may have at a time, while it is payable: not paid,
    /// not ended, and before its `expiresAt`. This condition, not the read before it, is what
    /// decides; an attempt in flight also keeps [`Payments::lapse`] from winning until it ends.
    pub async fn claim_attempt(
        &self,
        order_id: &str,
        now: i64,
        seconds: i64,
    ) -> Result<bool, ApiError> {
        let claimed = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("SET attemptUntil = :until")
            .condition_expression(
                "#status = :created AND expiresAtUnix > :now \
                 AND (attribute_not_exists(attemptUntil) OR attemptUntil < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":created", dynamo::s(CopyStatus::Created.as_str()))
            .expression_attribute_values(":until", dynamo::n(now + seconds))
            .expression_attribute_values(":now", dynamo::n(now))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(true),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(false),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// Ends an attempt without payment (declined, Stripe unreachable).
    pub async fn release_attempt(&self, order_id: &str) {
        let released = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("REMOVE attemptUntil")
            .send()
            .await;
        if let Err(err) = released {
            tracing::warn!(order = order_id, error = %dynamo::sdk_error(err), "attempt not released; it lapses");
        }
    }

    /// Ends an attempt that left `stripe_id` waiting for the buyer's authentication, remembering
    /// it: the order must not lapse before Stripe has been asked whether it succeeded in time.
    pub async fn await_authentication(
        &self,
        order_id: &str,
        stripe_id: &str,
    ) -> Result<(), ApiError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("SET pendingIntent = :stripe REMOVE attemptUntil")
            .expression_attribute_values(":stripe", dynamo::s(stripe_id))
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        Ok(())
    }

    /// Forgets the PaymentIntent awaiting authentication once Stripe can no longer take it
    /// (cancelled) or it was settled, so that the expiry need not ask again.
    pub async fn forget_pending(&self, order_id: &str, stripe_id: &str) {
        let forgot = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("REMOVE pendingIntent")
            .condition_expression("pendingIntent = :stripe")
            .expression_attribute_values(":stripe", dynamo::s(stripe_id))
            .send()
            .await;
        match forgot {
            Ok(_) => {}
            Err(err) if dynamo::is_condition_failure(&err) => {}
            Err(err) => {
                tracing::warn!(order = order_id, error = %dynamo::sdk_error(err), "pending PaymentIntent not forgotten; the expiry asks Stripe again");
            }
        }
    }

    /// A put that only succeeds for a key not seen before.
    pub fn first(
        &self,
        key: String,
        attributes: &[(&str, String)],
    ) -> Result<TransactWriteItem, ApiError> {
        let mut put = Put::builder()
            .table_name(self.table())
            .item(PK, dynamo::s(key))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        for (name, value) in attributes {
            put = put.item(*name, dynamo::s(value.clone()));
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(ApiError::internal)?)
            .build())
    }

    /// Marks the order copy paid by `stripe_id`, if it still awaits payment and the payment came
    /// before its `expiresAt` (`paid_at`: when the attempt was claimed, or when Stripe says the
    /// PaymentIntent succeeded). One side of the race with [`Payments::lapse`]: both are
    /// conditioned on `status = created`, so exactly one of them wins.
    pub fn mark_paid(
        &self,
        order_id: &str,
        stripe_id: &str,
        paid_at: i64,
    ) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("SET #status = :complete, paidBy = :stripe REMOVE attemptUntil")
            .condition_expression("#status = :created AND expiresAtUnix > :paidAt")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":complete", dynamo::s(CopyStatus::Complete.as_str()))
            .expression_attribute_values(":created", dynamo::s(CopyStatus::Created.as_str()))
            .expression_attribute_values(":stripe", dynamo::s(stripe_id))
            .expression_attribute_values(":paidAt", dynamo::n(paid_at))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The other side of the race: on `order.expired`, marks the copy `expired` and records
    /// `announce` (`payment.lapsed`) in one transaction, but only while the order is unpaid, due,
    /// and no payment attempt is in flight.
    pub async fn lapse(
        &self,
        order_id: &str,
        now: i64,
        announce: TransactWriteItem,
    ) -> Result<Lapse, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("SET #status = :expired")
            .condition_expression(
                "#status = :created AND expiresAtUnix <= :due \
                 AND (attribute_not_exists(attemptUntil) OR attemptUntil < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expired", dynamo::s(CopyStatus::Expired.as_str()))
            .expression_attribute_values(":created", dynamo::s(CopyStatus::Created.as_str()))
            .expression_attribute_values(":due", dynamo::n(now + CLOCK_SKEW_SECONDS))
            .expression_attribute_values(":now", dynamo::n(now))
            .build()
            .map_err(ApiError::internal)?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            announce,
        ];
        if self.transact(items).await?.is_ok() {
            return Ok(Lapse::Lapsed);
        }
        // Refused: say why, from the copy as it is now.
        let Some(copy) = self.order(order_id).await? else {
            return Ok(Lapse::NotCopied);
        };
        Ok(match copy.status {
            CopyStatus::Complete => Lapse::Paid,
            CopyStatus::Created if copy.expires_at_unix > now + CLOCK_SKEW_SECONDS => Lapse::NotDue,
            CopyStatus::Created => Lapse::AttemptInFlight,
            _ => Lapse::Ended,
        })
    }

    /// Applies `order.cancelled` or `order.completed` (`to`) at `version` to the copy, unless the
    /// copy is paid and the order is being cancelled: that money must go back first
    /// ([`Copied::PaidButCancelled`]).
    pub async fn apply_end(
        &self,
        order_id: &str,
        to: CopyStatus,
        version: i64,
    ) -> Result<Copied, ApiError> {
        // A paid copy is never overwritten by a cancellation: that needs the refund first.
        let condition = if to == CopyStatus::Complete {
            "attribute_exists(#pk) AND version < :version"
        } else {
            "attribute_exists(#pk) AND version < :version AND #status <> :complete"
        };
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("SET #status = :to, version = :version")
            .condition_expression(condition)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(to.as_str()))
            .expression_attribute_values(":version", dynamo::n(version));
        if to != CopyStatus::Complete {
            request = request
                .expression_attribute_values(":complete", dynamo::s(CopyStatus::Complete.as_str()));
        }
        let updated = request.send().await;
        match updated {
            Ok(_) => Ok(Copied::Applied),
            Err(err) if dynamo::is_condition_failure(&err) => {
                Ok(match self.order(order_id).await? {
                    None => Copied::NotCopied,
                    Some(copy) if copy.version >= version => Copied::Stale,
                    Some(copy) => match copy.paid_by {
                        Some(stripe_id) if copy.status == CopyStatus::Complete => {
                            Copied::PaidButCancelled(stripe_id)
                        }
                        // Changed in between: the caller tries again.
                        _ => Copied::Raced,
                    },
                })
            }
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// A paid copy is being cancelled: it becomes cancelled at `version`, its payment `stripe_id`
    /// becomes owed back ([`REFUND_DUE`], and a record in the refunds table), together. Whether it
    /// applied (false: the copy changed meanwhile). The refund itself follows, and is retried by
    /// `relay-payments` until Stripe has made it.
    pub async fn cancel_paid(
        &self,
        order_id: &str,
        stripe_id: &str,
        version: i64,
    ) -> Result<bool, ApiError> {
        let copy = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("SET #status = :cancelled, version = :version")
            .condition_expression("#status = :complete AND paidBy = :stripe AND version < :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":cancelled", dynamo::s(CopyStatus::Cancelled.as_str()))
            .expression_attribute_values(":complete", dynamo::s(CopyStatus::Complete.as_str()))
            .expression_attribute_values(":stripe", dynamo::s(stripe_id))
            .expression_attribute_values(":version", dynamo::n(version))
            .build()
            .map_err(ApiError::internal)?;
        let items = vec![
            TransactWriteItem::builder().update(copy).build(),
            self.payment_status(stripe_id, REFUND_DUE)?,
            self.owe(order_id, stripe_id)?,
        ];
        Ok(self.transact(items).await?.is_ok())
    }

    /// Records, once, that the money of `stripe_id` (a PaymentIntent no order could take) goes
    /// back: its payment record as [`REFUND_DUE`] and a record in the refunds table. False when
    /// the PaymentIntent already has a record (the other path settled it first).
    pub async fn owe_refund(&self, order_id: &str, stripe_id: &str) -> Result<bool, ApiError> {
        let items = vec![
            self.first(
                payment_key(stripe_id),
                &[
                    ("orderId", order_id.to_owned()),
                    ("status", REFUND_DUE.to_owned()),
                ],
            )?,
            self.owe(order_id, stripe_id)?,
        ];
        Ok(self.transact(items).await?.is_ok())
    }

    /// The order paid by `stripe_id` got no ticket (its resold pass was used first): the payment
    /// becomes owed back, its record [`REFUND_DUE`] and a record in the refunds table, together,
    /// on the condition that the record still says it paid this order. False when it does not
    /// (owed back or refunded already: a repeated event), so the refund is owed once.
    pub async fn void_payment(&self, order_id: &str, stripe_id: &str) -> Result<bool, ApiError> {
        let payment = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(payment_key(stripe_id)))
            .update_expression("SET #status = :due")
            .condition_expression("#status = :succeeded AND orderId = :order")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":due", dynamo::s(REFUND_DUE))
            .expression_attribute_values(":succeeded", dynamo::s(SUCCEEDED))
            .expression_attribute_values(":order", dynamo::s(order_id))
            .build()
            .map_err(ApiError::internal)?;
        let items = vec![
            TransactWriteItem::builder().update(payment).build(),
            self.owe(order_id, stripe_id)?,
        ];
        Ok(self.transact(items).await?.is_ok())
    }

    /// Stripe has refunded `stripe_id`: it is owed no more.
    pub async fn refunded(&self, stripe_id: &str) -> Result<(), ApiError> {
        let done = Delete::builder()
            .table_name(&self.refunds)
            .key(PK, dynamo::s(DUE))
            .key(SK, dynamo::s(stripe_id))
            .build()
            .map_err(ApiError::internal)?;
        let items = vec![
            TransactWriteItem::builder().delete(done).build(),
            self.payment_status(stripe_id, REFUNDED)?,
        ];
        self.transact(items)
            .await?
            .map_err(|_| ApiError::internal("refund record update refused"))
    }

    /// Refunds owed since `before` (unix seconds) or earlier, oldest decisions first, at most
    /// `limit` of them.
    pub async fn refunds_due(&self, before: i64, limit: usize) -> Result<Vec<Owed>, ApiError> {
        let mut owed = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(&self.refunds)
                .key_condition_expression("#pk = :due")
                .filter_expression("since <= :before")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":due", dynamo::s(DUE))
                .expression_attribute_values(":before", dynamo::n(before))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(dynamo::sdk_error)?;
            for item in page.items.unwrap_or_default() {
                owed.push(dynamo::parse_item(item)?);
                if owed.len() >= limit {
                    return Ok(owed);
                }
            }
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(owed),
            }
        }
    }

    fn owe(&self, order_id: &str, stripe_id: &str) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(&self.refunds)
            .item(PK, dynamo::s(DUE))
            .item(SK, dynamo::s(stripe_id))
            .item("orderId", dynamo::s(order_id))
            .item("since", dynamo::n(shared::time::unix_now()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn payment_status(&self, stripe_id: &str, to: &str) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(payment_key(stripe_id)))
            .update_expression("SET #status = :to")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(to))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The payment recorded for a PaymentIntent, if any.
    pub async fn payment(&self, stripe_id: &str) -> Result<Option<PaymentRecord>, ApiError> {
        self.table.get(payment_key(stripe_id)).await
    }
}

/// A refund owed (the refunds table).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owed {
    /// The PaymentIntent to refund.
    pub sk: String,
    pub order_id: String,
}

/// How far ahead of an order's own `expiresAt` an expiry may come (clocks differ a little).
const CLOCK_SKEW_SECONDS: i64 = 5;

/// The status of a payment record that was refunded.
pub const REFUNDED: &str = "refunded";
/// The status of a payment record whose money must go back, and has not yet.
pub const REFUND_DUE: &str = "refund_due";
/// The status of a payment record that paid its order.
pub const SUCCEEDED: &str = "succeeded";

/// A PaymentIntent as payments recorded it (`pi#<stripe id>`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    #[serde(default)]
    pub id: Option<String>,
    pub status: String,
}

/// What [`Payments::lapse`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lapse {
    /// The order was unpaid: it is `expired` here and `payment.lapsed` is recorded.
    Lapsed,
    /// A payment won the race: the order is not to be cancelled.
    Paid,
    /// Already cancelled or lapsed: nothing to do.
    Ended,
    /// A payment attempt is in flight: decide after it ends.
    AttemptInFlight,
    /// The order's `expiresAt` is still ahead.
    NotDue,
    /// The copy has not arrived yet.
    NotCopied,
}

/// What [`Payments::apply_end`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    Applied,
    /// The copy is already at this version or a later one.
    Stale,
    NotCopied,
    /// The order was cancelled while payments had it paid by this PaymentIntent.
    PaidButCancelled(String),
    /// The copy changed between the write and the read: try again.
    Raced,
}

pub fn payment_key(stripe_id: &str) -> String {
    format!("pi#{stripe_id}")
}

pub fn stripe_event_key(id: &str) -> String {
    format!("stripe-event#{id}")
}
