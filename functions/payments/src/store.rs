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

    pub async fn exists(&self, key: String) -> Result<bool, ApiError> {
        let item: Option<serde_json::Value> = self.0.get(key).await?;
        Ok(item.is_some())
    }

    /// Claims the one payment attempt an order may have at a time, while it is payable.
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
                "#status = :created AND (attribute_not_exists(attemptUntil) OR attemptUntil < :now)",
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

    /// Marks the order copy paid, if it still awaits payment.
    pub fn mark_paid(&self, order_id: &str) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(order_key(order_id)))
            .update_expression("SET #status = :complete REMOVE attemptUntil")
            .condition_expression("#status = :created")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":complete", dynamo::s(status::COMPLETE))
            .expression_attribute_values(":created", dynamo::s(status::CREATED))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

pub fn payment_key(stripe_id: &str) -> String {
    format!("pi#{stripe_id}")
}

pub fn stripe_event_key(id: &str) -> String {
    format!("stripe-event#{id}")
}
