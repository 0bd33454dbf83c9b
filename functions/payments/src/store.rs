//! The payments table: order copies (`order#<id>`), payments by PaymentIntent (`pi#<stripe id>`:
//! one record per PaymentIntent, however many paths report it), and Stripe events seen
//! (`stripe-event#<id>`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use shared::dynamo::{self, PK, Table, TablePrefix, TableSpec};
use shared::error::ApiError;

pub const TABLE: TableSpec = TableSpec {
    name: "payments",
    sort_key: false,
    index: false,
};

pub mod status {
    pub const CREATED: &str = "created";
    pub const CANCELLED: &str = "cancelled";
    pub const COMPLETE: &str = "complete";
    /// Payments decided the order was not paid in time (`payment.lapsed`); orders then cancels it.
    pub const EXPIRED: &str = "expired";
}

/// What payments knows of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCopy {
    pub pk: String,
    pub id: String,
    pub user_id: String,
    pub status: String,
    /// Cents.
    pub total: i64,
    pub expires_at_unix: i64,
    pub version: i64,
    /// Until when a payment attempt holds the order (one attempt at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_until: Option<i64>,
    /// The PaymentIntent that paid the order, once one has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_by: Option<String>,
}

impl OrderCopy {
    pub fn has_expired(&self, now: i64) -> bool {
        now >= self.expires_at_unix
    }
}

pub fn order_key(id: &str) -> String {
    format!("order#{id}")
}

#[derive(Clone)]
pub struct Payments(Table);

impl std::ops::Deref for Payments {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.0
    }
}

impl Payments {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderCopy>, ApiError> {
        self.0.get(order_key(id)).await
    }

    /// Writes the copy of a new order, once (a repeated `order.created` changes nothing).
    pub async fn insert_copy(&self, copy: &OrderCopy) -> Result<(), ApiError> {
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(dynamo::item_of(copy)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(()),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    pub async fn exists(&self, key: String) -> Result<bool, ApiError> {
        let item: Option<serde_json::Value> = self.0.get(key).await?;
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
            .expression_attribute_values(":created", dynamo::s(status::CREATED))
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

    /// Ends an attempt without payment (declined, waiting for 3-D Secure, Stripe unreachable).
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
            .expression_attribute_values(":complete", dynamo::s(status::COMPLETE))
            .expression_attribute_values(":created", dynamo::s(status::CREATED))
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
            .expression_attribute_values(":expired", dynamo::s(status::EXPIRED))
            .expression_attribute_values(":created", dynamo::s(status::CREATED))
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
        Ok(match copy.status.as_str() {
            status::COMPLETE => Lapse::Paid,
            status::CREATED if copy.expires_at_unix > now + CLOCK_SKEW_SECONDS => Lapse::NotDue,
            status::CREATED => Lapse::AttemptInFlight,
            _ => Lapse::Ended,
        })
    }

    /// Applies `order.cancelled` or `order.completed` (`to`) at `version` to the copy, unless the
    /// copy is paid and the order is being cancelled: that money must go back first
    /// ([`Copied::PaidButCancelled`]).
    pub async fn apply_end(
        &self,
        order_id: &str,
        to: &str,
        version: i64,
    ) -> Result<Copied, ApiError> {
        // A paid copy is never overwritten by a cancellation: that needs the refund first.
        let condition = if to == status::COMPLETE {
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
            .expression_attribute_values(":to", dynamo::s(to))
            .expression_attribute_values(":version", dynamo::n(version));
        if to != status::COMPLETE {
            request = request.expression_attribute_values(":complete", dynamo::s(status::COMPLETE));
        }
        let updated = request.send().await;
        match updated {
            Ok(_) => Ok(Copied::Applied),
            Err(err) if dynamo::is_condition_failure(&err) => {
                Ok(match self.order(order_id).await? {
                    None => Copied::NotCopied,
                    Some(copy) if copy.version >= version => Copied::Stale,
                    Some(copy) => match copy.paid_by {
                        Some(stripe_id) if copy.status == status::COMPLETE => {
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

    /// After the refund of `stripe_id`: the paid copy becomes cancelled at `version` and the
    /// payment is marked refunded, together. Whether it applied (false: the copy changed meanwhile).
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
            .expression_attribute_values(":cancelled", dynamo::s(status::CANCELLED))
            .expression_attribute_values(":complete", dynamo::s(status::COMPLETE))
            .expression_attribute_values(":stripe", dynamo::s(stripe_id))
            .expression_attribute_values(":version", dynamo::n(version))
            .build()
            .map_err(ApiError::internal)?;
        let payment = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(payment_key(stripe_id)))
            .update_expression("SET #status = :refunded")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":refunded", dynamo::s(REFUNDED))
            .build()
            .map_err(ApiError::internal)?;
        let items = vec![
            TransactWriteItem::builder().update(copy).build(),
            TransactWriteItem::builder().update(payment).build(),
        ];
        Ok(self.transact(items).await?.is_ok())
    }

    /// The payment recorded for a PaymentIntent, if any.
    pub async fn payment(&self, stripe_id: &str) -> Result<Option<PaymentRecord>, ApiError> {
        self.0.get(payment_key(stripe_id)).await
    }
}

/// How far ahead of an order's own `expiresAt` an expiry may come (clocks differ a little).
const CLOCK_SKEW_SECONDS: i64 = 5;

/// The status of a payment record that was refunded.
pub const REFUNDED: &str = "refunded";
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
