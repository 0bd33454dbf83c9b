//! The orders table: orders (`order#<id>`, indexed by buyer), listing replicas (`ticket#<id>`),
//! drops' queue entries ([`queue`]) and idempotency records (`idempotency#<user>#<key>`). The only place in this context that speaks
//! DynamoDB: each operation says what happened as an enum, never as a refused write's position.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use contract::OrderStatus;
use contract::events::TicketData;
use shared::dynamo::{self, PK, Table, TablePrefix, TableSpec, Writes};
use shared::error::ApiError;
use shared::events::CloudEvent;
use shared::events::types;
use shared::idempotency::Keys;
use shared::paging::{self, IndexQuery, Listed, Page};

use shared::outbox::Outbox;

use crate::order::{self, OrderItem, buyer_partition};
use crate::replica::{self, TicketReplica};

mod queue;

pub use queue::{Admitted, JOIN_GROUP_MAX, Joined, PlacedAdmitted};

pub const TABLE: TableSpec = TableSpec {
    name: "orders",
    sort_key: false,
    index: true,
};

/// How often a state change is tried again on a newer version of the order.
const ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct Orders(Table);

/// The writes of this context's transactions, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// The replica's count: the hold (conditioned on what is left) or the release.
    Replica,
    /// The order itself: its creation or its status change.
    Order,
    Outbox,
    /// The `Idempotency-Key`'s answer (conditioned on this request's claim).
    Answer,
}

/// What placing an order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The tickets are held and the order exists.
    Held,
    /// Fewer than the order's quantity are left: nothing was written.
    SoldOut,
    /// The request's `Idempotency-Key` claim is no longer its own (an earlier attempt committed, or
    /// the claim lapsed and a retry took it over): nothing was written; the key's answer is the
    /// answer.
    KeyTaken,
}

/// One order of a group commit ([`Orders::place_group`]): the order, its event's outbox record, and
/// the `Idempotency-Key`'s answer when the request has one.
#[derive(Debug, Clone)]
pub struct Placement {
    pub order: OrderItem,
    pub event: TransactWriteItem,
    pub answer: Option<TransactWriteItem>,
}

/// What one group transaction came to.
enum Grouped {
    Placed,
    /// The summed quantity is more than is left.
    TooFew,
    /// Refused for another reason: place them one by one.
    Refused,
}

/// The most orders a group transaction carries: one write for the listing and up to three per
/// order (the order, its event, its answer) stay within DynamoDB's 100 writes.
pub const GROUP_MAX: usize = 33;

/// The placements that fit in `left` tickets, in arrival order: each is taken if it still fits.
fn earliest_that_fit(group: &[Placement], left: i64) -> Vec<usize> {
    let mut taken = 0;
    let mut chosen = Vec::new();
    for (n, one) in group.iter().enumerate() {
        let quantity = one.order.quantity.get();
        if taken + quantity <= left {
            taken += quantity;
            chosen.push(n);
        }
    }
    chosen
}

/// The same outage for every member of a group.
fn unavailable(members: usize, err: &ApiError) -> Vec<Result<Placed, ApiError>> {
    (0..members)
        .map(|_| Err(ApiError::unavailable(err.to_string())))
        .collect()
}

/// What ending an order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Ended,
    /// The order is no longer at the version or status it was read at: decide again.
    Moved,
}

/// What a status change on the payment's progress did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    Tracked,
    /// The order moved on since it was read.
    Moved,
}

/// What a listing event did to the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    Applied,
    /// This version or a later one is already here: a duplicate.
    AlreadyApplied,
    /// Its predecessor has not arrived yet.
    Early,
}

impl Orders {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    /// The table on a client from the environment (no network call yet).
    pub async fn connect(prefix: &TablePrefix) -> Self {
        Self::new(dynamo::client().await, prefix)
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderItem>, ApiError> {
        self.0.get(order::key(id)).await
    }

    pub async fn replica(&self, ticket_id: &str) -> Result<Option<TicketReplica>, ApiError> {
        self.0.get(replica::key(ticket_id)).await
    }

    /// Places an order: the hold on the listing's replica (only if enough are left: this
    /// condition, not any read before it, is what keeps a ticket from being held twice), the
    /// order, its event, and the `Idempotency-Key`'s answer when there is one, in one transaction.
    pub async fn place(
        &self,
        order: &OrderItem,
        event: TransactWriteItem,
        answer: Option<TransactWriteItem>,
    ) -> Result<Placed, ApiError> {
        let mut writes = Writes::new();
        writes
            .add(Write::Replica, self.hold(order)?)
            .add(Write::Order, self.insert(order)?)
            .add(Write::Outbox, event);
        if let Some(answer) = answer {
            writes.add(Write::Answer, answer);
        }
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Placed::Held),
            Err(refused) if refused.failed(Write::Answer) => Ok(Placed::KeyTaken),
            Err(refused) if refused.failed(Write::Replica) => Ok(Placed::SoldOut),
            Err(refused) => Err(ApiError::internal(format!(
                "order transaction refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Places several orders for one listing (a group commit, [`crate::group_commit`]): one
    /// transaction takes their summed quantity from the replica, on the condition that that many
    /// are left, and writes every order, event and answer. When the sum does not fit, the earliest
    /// that fit (in arrival order) are placed together and the rest are sold out. Any other refusal
    /// (an `Idempotency-Key` claim lost) places each on its own, so that each gets its own outcome.
    /// One result per placement, in order.
    pub async fn place_group(&self, group: &[Placement]) -> Vec<Result<Placed, ApiError>> {
        if let [one] = group {
            return vec![
                self.place(&one.order, one.event.clone(), one.answer.clone())
                    .await,
            ];
        }
        let mut chosen: Vec<usize> = (0..group.len()).collect();
        for _ in 0..ATTEMPTS {
            if chosen.is_empty() {
                return group.iter().map(|_| Ok(Placed::SoldOut)).collect();
            }
            match self.commit_group(group, &chosen).await {
                Ok(Grouped::Placed) => {
                    return (0..group.len())
                        .map(|n| {
                            Ok(if chosen.contains(&n) {
                                Placed::Held
                            } else {
                                Placed::SoldOut
                            })
                        })
                        .collect();
                }
                Ok(Grouped::TooFew) => match self.left(group).await {
                    Ok(left) => chosen = earliest_that_fit(group, left),
                    Err(err) => return unavailable(group.len(), &err),
                },
                Ok(Grouped::Refused) => break,
                Err(err) => return unavailable(group.len(), &err),
            }
        }
        let mut placed = Vec::with_capacity(group.len());
        for one in group {
            placed.push(
                self.place(&one.order, one.event.clone(), one.answer.clone())
                    .await,
            );
        }
        placed
    }

    /// One transaction for the `chosen` placements of `group`.
    async fn commit_group(
        &self,
        group: &[Placement],
        chosen: &[usize],
    ) -> Result<Grouped, ApiError> {
        let members: Vec<&Placement> = chosen.iter().map(|&n| &group[n]).collect();
        let ticket = members[0].order.ticket.id.as_str();
        let total: i64 = members.iter().map(|one| one.order.quantity.get()).sum();
        let mut writes = Writes::new();
        writes.add(Write::Replica, self.adjust(ticket, -total, true)?);
        for one in &members {
            writes
                .add(Write::Order, self.insert(&one.order)?)
                .add(Write::Outbox, one.event.clone());
            if let Some(answer) = &one.answer {
                writes.add(Write::Answer, answer.clone());
            }
        }
        Ok(match writes.commit(self.0.client()).await? {
            Ok(()) => Grouped::Placed,
            Err(refused) if refused.failed(Write::Replica) && !refused.failed(Write::Answer) => {
                Grouped::TooFew
            }
            Err(_) => Grouped::Refused,
        })
    }

    /// How many tickets of the group's listing are left now.
    async fn left(&self, group: &[Placement]) -> Result<i64, ApiError> {
        let ticket = group[0].order.ticket.id.as_str();
        Ok(self
            .replica(ticket)
            .await?
            .map_or(0, |replica| replica.available))
    }

    /// The hold's write: takes the order's quantity from the replica only if that many are left.
    pub(crate) fn hold(&self, order: &OrderItem) -> Result<TransactWriteItem, ApiError> {
        self.adjust(order.ticket.id.as_str(), -order.quantity.get(), true)
    }

    /// Gives an order's tickets back to the replica.
    fn release(&self, order: &OrderItem) -> Result<TransactWriteItem, ApiError> {
        self.adjust(order.ticket.id.as_str(), order.quantity.get(), false)
    }

    /// Counts a paid drop order's tickets as sold: they can no longer come back to its queue.
    fn sell(&self, order: &OrderItem) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(replica::key(order.ticket.id.as_str())))
            .update_expression("SET sold = if_not_exists(sold, :zero) + :quantity")
            .expression_attribute_values(":zero", dynamo::n(0))
            .expression_attribute_values(":quantity", dynamo::n(order.quantity.get()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
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
            .table_name(self.0.table())
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

    /// The put of a new order.
    pub(crate) fn insert(&self, order: &OrderItem) -> Result<TransactWriteItem, ApiError> {
        self.0.insert(order)
    }

    /// Ends an open order as it was read: its new status (only from that version, and only while
    /// open), the replica's tickets back when cancelled, and its event, in one transaction.
    pub async fn end(
        &self,
        order: &OrderItem,
        ending: Ending,
        event: TransactWriteItem,
    ) -> Result<Ended, ApiError> {
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(order::key(order.id.as_str())))
            .update_expression("SET #status = :to, version = :next")
            .condition_expression(
                "version = :version AND (#status = :created OR #status = :awaiting)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(ending.status().as_str()))
            .expression_attribute_values(":next", dynamo::n(order.version + 1))
            .expression_attribute_values(":version", dynamo::n(order.version))
            .expression_attribute_values(":created", dynamo::s(OrderStatus::Created.as_str()))
            .expression_attribute_values(
                ":awaiting",
                dynamo::s(OrderStatus::AwaitingPayment.as_str()),
            )
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes.add(
            Write::Order,
            TransactWriteItem::builder().update(update).build(),
        );
        if ending == Ending::Cancel {
            writes.add(Write::Replica, self.release(order)?);
        }
        if ending == Ending::Complete && order.admitted {
            writes.add(Write::Replica, self.sell(order)?);
        }
        writes.add(Write::Outbox, event);
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Ended::Ended),
            Err(refused) if refused.failed(Write::Order) => Ok(Ended::Moved),
            Err(refused) => Err(ApiError::internal(format!(
                "order end refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Moves an order to `to` if it is still at the version it was read at. `pending` is the
    /// PaymentIntent being authenticated, kept while `awaiting:payment`.
    pub async fn track(
        &self,
        order: &OrderItem,
        to: OrderStatus,
        pending: Option<&str>,
    ) -> Result<Tracked, ApiError> {
        let mut request = self
            .0
            .client()
            .update_item()
            .table_name(self.0.table())
            .key(PK, dynamo::s(order::key(order.id.as_str())));
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
            .expression_attribute_values(":to", dynamo::s(to.as_str()))
            .expression_attribute_values(":next", dynamo::n(order.version + 1))
            .expression_attribute_values(":version", dynamo::n(order.version))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(Tracked::Tracked),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(Tracked::Moved),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// Applies `ticket.created` (the replica, once) or `ticket.updated` (on top of the version
    /// before it only).
    pub async fn replicate(&self, kind: &str, ticket: &TicketData) -> Result<Replicated, ApiError> {
        let client = self.0.client();
        let written = if kind == types::TICKET_CREATED {
            let replica = TicketReplica {
                pk: replica::key(ticket.id.as_str()),
                entity: "replica".to_owned(),
                id: ticket.id.to_string(),
                title: ticket.title.clone(),
                price: ticket.price.get(),
                quantity: ticket.quantity.get(),
                user_id: ticket.user_id.to_string(),
                version: ticket.version,
                reserved: 0,
                available: ticket.quantity.get(),
                on_sale_at: ticket.on_sale_at.clone(),
                queue_seed: ticket.queue_seed.clone(),
                sold: 0,
                admitted_entries: 0,
            };
            client
                .put_item()
                .table_name(self.0.table())
                .set_item(Some(dynamo::item_of(&replica)?))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .send()
                .await
                .map(|_| ())
                .map_err(condition_or_error)
        } else {
            // A drop's on-sale time and seed follow the listing; a listing that stops being a
            // drop loses them.
            let mut set =
                "SET title = :title, price = :price, quantity = :quantity, userId = :user, \
                 available = :quantity - reserved, version = :version"
                    .to_owned();
            let mut remove = Vec::new();
            let mut drop_values = Vec::new();
            for (attribute, value) in [
                ("onSaleAt", &ticket.on_sale_at),
                ("queueSeed", &ticket.queue_seed),
            ] {
                match value {
                    Some(value) => {
                        set.push_str(&format!(", {attribute} = :{attribute}"));
                        drop_values.push((format!(":{attribute}"), dynamo::s(value.clone())));
                    }
                    None => remove.push(attribute),
                }
            }
            if !remove.is_empty() {
                set.push_str(&format!(" REMOVE {}", remove.join(", ")));
            }
            client
                .update_item()
                .table_name(self.0.table())
                .key(PK, dynamo::s(replica::key(ticket.id.as_str())))
                .update_expression(set)
                .set_expression_attribute_values(Some(drop_values.into_iter().collect()))
                .condition_expression("version = :previous")
                .expression_attribute_values(":title", AttributeValue::S(ticket.title.clone()))
                .expression_attribute_values(":price", dynamo::n(ticket.price.get()))
                .expression_attribute_values(":quantity", dynamo::n(ticket.quantity.get()))
                .expression_attribute_values(":user", dynamo::s(ticket.user_id.as_str()))
                .expression_attribute_values(":version", dynamo::n(ticket.version))
                .expression_attribute_values(":previous", dynamo::n(ticket.version - 1))
                .send()
                .await
                .map(|_| ())
                .map_err(condition_or_error)
        };
        match written {
            Ok(()) => Ok(Replicated::Applied),
            Err(Some(err)) => Err(err),
            Err(None) => match self.replica(ticket.id.as_str()).await? {
                Some(current) if current.version >= ticket.version => {
                    Ok(Replicated::AlreadyApplied)
                }
                _ => Ok(Replicated::Early),
            },
        }
    }

    /// A buyer's orders, newest first.
    pub async fn list_for(&self, user_id: &str, page: &Page) -> Result<Listed, ApiError> {
        let query = IndexQuery {
            table: self.0.table(),
            partition: buyer_partition(user_id),
            key_prefix: "order#",
            newest_first: true,
            filter: None,
        };
        paging::list(self.0.client(), &query, page).await
    }

    /// The `Idempotency-Key` records, kept in this table: claimed before the work, and answered
    /// in its transaction ([`Orders::place`]).
    pub fn keys(&self) -> Keys<'_> {
        Keys::new(&self.0)
    }
}

/// `None` for a failed condition, else the error.
fn condition_or_error<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Option<ApiError>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if dynamo::is_condition_failure(&err) {
        None
    } else {
        Some(dynamo::sdk_error(err))
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

impl Ending {
    fn status(self) -> OrderStatus {
        match self {
            Self::Cancel => OrderStatus::Cancelled,
            Self::Complete => OrderStatus::Complete,
        }
    }

    fn event_type(self) -> &'static str {
        match self {
            Self::Cancel => types::ORDER_CANCELLED,
            Self::Complete => types::ORDER_COMPLETED,
        }
    }
}

/// Ends an open order: its new status, the replica's tickets back when cancelled, and the event, in
/// one transaction. An order that is no longer open is returned as it is, for the caller to judge.
pub async fn end(
    orders: &Orders,
    outbox: &Outbox,
    function: &str,
    mut order: OrderItem,
    ending: Ending,
) -> Result<OrderItem, ApiError> {
    for _ in 0..ATTEMPTS {
        if !order.is_open() {
            return Ok(order);
        }
        let event = CloudEvent::of(
            function,
            ending.event_type(),
            order.id.as_str(),
            &order.ended_data(order.version + 1),
        )?;
        let record = outbox.record(&event)?;
        match orders.end(&order, ending, record).await? {
            Ended::Ended => {
                outbox.publish(&[event]).await;
                order.status = ending.status();
                order.version += 1;
                return Ok(order);
            }
            // The order moved on since it was read (a payment, another cancel): decide again.
            Ended::Moved => {
                order = orders
                    .order(order.id.as_str())
                    .await?
                    .ok_or(ApiError::NotFound)?;
            }
        }
    }
    Err(ApiError::Conflict(
        "Order was modified concurrently, please retry".to_owned(),
    ))
}
