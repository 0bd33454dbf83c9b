//! The orders table: orders (`order#<id>`, indexed by buyer), listing replicas (`ticket#<id>`), and
//! idempotency records (`idempotency#<user>#<key>`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use shared::dynamo::{self, PK, Table, TablePrefix, TableSpec};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::paging::{self, IndexQuery, Listed, Page};

use crate::OrderState;
use crate::order::{self, OrderItem, buyer_partition, status};
use crate::replica::{self, TicketReplica};

pub const TABLE: TableSpec = TableSpec {
    name: "orders",
    sort_key: false,
    index: true,
};

/// How often a state change is tried again on a newer version of the order.
const ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct Orders(Table);

impl std::ops::Deref for Orders {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.0
    }
}

impl Orders {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderItem>, ApiError> {
        self.get(order::key(id)).await
    }

    pub async fn replica(&self, ticket_id: &str) -> Result<Option<TicketReplica>, ApiError> {
        self.get(replica::key(ticket_id)).await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: String,
    ) -> Result<Option<T>, ApiError> {
        let found = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PK, dynamo::s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        found.item.map(dynamo::parse_item).transpose()
    }

    /// The hold: takes `quantity` from the replica only if that many are left. This condition, not
    /// any read before it, is what keeps a ticket from being held twice.
    pub fn hold(&self, ticket_id: &str, quantity: i64) -> Result<TransactWriteItem, ApiError> {
        self.adjust(ticket_id, -quantity, true)
    }

    /// Gives held tickets back to the replica.
    pub fn release(&self, ticket_id: &str, quantity: i64) -> Result<TransactWriteItem, ApiError> {
        self.adjust(ticket_id, quantity, false)
    }

    /// Moves `delta` tickets into (`+`) or out of (`-`) the replica's availability; `guarded` takes
    /// them only while enough are left.
    fn adjust(
        &self,
        ticket_id: &str,
        delta: i64,
        guarded: bool,
    ) -> Result<TransactWriteItem, ApiError> {
        let mut update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(replica::key(ticket_id)))
            .update_expression("SET available = available + :delta, reserved = reserved - :delta")
            .expression_attribute_values(":delta", dynamo::n(delta));
        if guarded {
            update = update
                .condition_expression("available >= :quantity")
                .expression_attribute_values(":quantity", dynamo::n(-delta));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(ApiError::internal)?)
            .build())
    }

    pub fn insert(&self, order: &OrderItem) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(dynamo::item_of(order)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Moves an open order to `to`, only from the version it was read at.
    pub fn transition(&self, order: &OrderItem, to: &str) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(order::key(&order.id)))
            .update_expression("SET #status = :to, version = :next")
            .condition_expression(
                "version = :version AND (#status = :created OR #status = :awaiting)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(to))
            .expression_attribute_values(":next", dynamo::n(order.version + 1))
            .expression_attribute_values(":version", dynamo::n(order.version))
            .expression_attribute_values(":created", dynamo::s(status::CREATED))
            .expression_attribute_values(":awaiting", dynamo::s(status::AWAITING_PAYMENT))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Moves an order to `to` if it is still at the version it was read at; whether it did.
    /// `pending` is the PaymentIntent being authenticated, kept while `awaiting:payment`.
    pub async fn set_status(
        &self,
        order: &OrderItem,
        to: &str,
        pending: Option<&str>,
    ) -> Result<bool, ApiError> {
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PK, dynamo::s(order::key(&order.id)));
        request = match pending {
            Some(stripe_id) => request
                .update_expression("SET #status = :to, version = :next, pendingStripeId = :pending")
                .expression_attribute_values(":pending", dynamo::s(stripe_id)),
            None => request
                .update_expression("SET #status = :to, version = :next REMOVE pendingStripeId"),
        };
        let updated = request
            .condition_expression("version = :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(to))
            .expression_attribute_values(":next", dynamo::n(order.version + 1))
            .expression_attribute_values(":version", dynamo::n(order.version))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(false),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// A buyer's orders, newest first.
    pub async fn list_for(&self, user_id: &str, page: &Page) -> Result<Listed, ApiError> {
        let query = IndexQuery {
            table: self.table(),
            partition: buyer_partition(user_id),
            key_prefix: "order#",
            newest_first: true,
            filter: None,
        };
        paging::list(self.client(), &query, page).await
    }
}

/// How an open order ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// By the buyer, by expiry: the hold is released.
    Cancel,
    /// Paid: the hold becomes a sale.
    Complete,
}

/// Ends an open order: its new status, the replica's tickets back when cancelled, and the event, in
/// one transaction. An order that is no longer open is returned as it is, for the caller to judge.
pub async fn end(
    state: &OrderState,
    function: &str,
    mut order: OrderItem,
    ending: Ending,
) -> Result<OrderItem, ApiError> {
    let (to, kind) = match ending {
        Ending::Cancel => (status::CANCELLED, types::ORDER_CANCELLED),
        Ending::Complete => (status::COMPLETE, types::ORDER_COMPLETED),
    };
    for _ in 0..ATTEMPTS {
        if !order.is_open() {
            return Ok(order);
        }
        let event = CloudEvent::new(
            function,
            kind,
            &order.id,
            &order.ended_data(order.version + 1),
        )?;
        let mut items = vec![state.orders.transition(&order, to)?];
        if ending == Ending::Cancel {
            items.push(state.orders.release(&order.ticket.id, order.quantity)?);
        }
        items.push(state.outbox.record(&event)?);
        if state.orders.transact(items).await?.is_ok() {
            state.outbox.publish(&[event]).await;
            order.status = to.to_owned();
            order.version += 1;
            return Ok(order);
        }
        // The order moved on since it was read (a payment, another cancel): decide again.
        order = state
            .orders
            .order(&order.id)
            .await?
            .ok_or(ApiError::NotFound)?;
    }
    Err(ApiError::Conflict(
        "Order was modified concurrently, please retry".to_owned(),
    ))
}
