//! The tickets table: listings (`ticket#<id>`), the holds orders placed on them (`hold#<order id>`,
//! one per order, whose state machine makes the order events idempotent), and idempotency records.
//! The only place in this context that speaks DynamoDB: each operation says what happened as an
//! enum, never as a refused write's position.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use contract::{HoldState, OrderId, Quantity, TicketId};
use serde::Deserialize;
use shared::dynamo::{self, PK, Table, TablePrefix, TableSpec, Writes};
use shared::error::ApiError;
use shared::idempotency::Keys;
use shared::paging::{self, IndexQuery, Listed, Page};

use crate::listing::{LISTED, TicketItem, TicketRequest, key};

pub const TABLE: TableSpec = TableSpec {
    name: "tickets",
    sort_key: false,
    index: true,
};

#[derive(Clone)]
pub struct Tickets(Table);

/// The writes of this context's transactions, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Listing,
    Hold,
    Outbox,
    /// The `Idempotency-Key`'s answer (conditioned on this request's claim).
    Answer,
}

/// What listing a new ticket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Listed,
    /// The request's `Idempotency-Key` claim is no longer its own (an earlier attempt of this very
    /// transaction committed, or the claim lapsed and a retry took it over): nothing was written;
    /// the key's answer is the answer.
    KeyTaken,
}

/// What revising a listing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revised {
    Revised,
    /// The listing changed since it was read (a hold arrived, another update won): decide again.
    Moved,
}

/// One step of a hold's life: the state it must be in (`None` for the step that creates it), the
/// state it moves to, and what it does to the listing's counts per ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<HoldState>,
    pub to: HoldState,
    pub held: i64,
    pub sold: i64,
}

/// What an order event did to a listing's hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepped {
    /// Counted.
    Applied,
    /// The hold is already where this step leads (or was created before): a duplicate.
    AlreadyApplied,
    /// No hold yet: the order's creation is still on its way.
    Early,
    /// The listing does not exist.
    NoListing,
    /// The hold is in another state this step cannot leave from.
    Contradicts(HoldState),
}

/// A hold item as stored.
#[derive(Debug, Deserialize)]
struct HoldItem {
    state: HoldState,
}

fn hold_key(order_id: &OrderId) -> String {
    format!("hold#{order_id}")
}

impl Tickets {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    /// The table on a client from the environment (no network call yet).
    pub async fn connect(prefix: &TablePrefix) -> Self {
        Self::new(dynamo::client().await, prefix)
    }

    pub async fn get(&self, id: &str) -> Result<Option<TicketItem>, ApiError> {
        self.0.get(key(id)).await
    }

    /// Lists a new ticket with its event, and the `Idempotency-Key`'s answer when there is one.
    pub async fn create(
        &self,
        ticket: &TicketItem,
        event: TransactWriteItem,
        answer: Option<TransactWriteItem>,
    ) -> Result<Created, ApiError> {
        let mut writes = Writes::new();
        writes
            .add(Write::Listing, self.0.insert(ticket)?)
            .add(Write::Outbox, event);
        if let Some(answer) = answer {
            writes.add(Write::Answer, answer);
        }
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Created::Listed),
            Err(refused) if refused.failed(Write::Answer) => Ok(Created::KeyTaken),
            // The listing's id is fresh and the outbox record new: nothing else can be refused.
            Err(refused) => Err(ApiError::internal(format!(
                "a fresh listing was refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Changes a listing's terms, with its event: only on top of the version it was read at, while
    /// nothing is held, and not below what is sold.
    pub async fn revise(
        &self,
        current: &TicketItem,
        request: &TicketRequest,
        event: TransactWriteItem,
    ) -> Result<Revised, ApiError> {
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(key(current.id.as_str())))
            .update_expression(
                "SET title = :title, price = :price, quantity = :quantity, \
                 available = :quantity - sold, version = :next",
            )
            .condition_expression("version = :version AND held = :zero AND sold <= :quantity")
            .expression_attribute_values(":title", dynamo::s(request.title.clone()))
            .expression_attribute_values(":price", dynamo::n(request.price.get()))
            .expression_attribute_values(":quantity", dynamo::n(request.quantity.get()))
            .expression_attribute_values(":version", dynamo::n(current.version))
            .expression_attribute_values(":next", dynamo::n(current.version + 1))
            .expression_attribute_values(":zero", dynamo::n(0))
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes
            .add(
                Write::Listing,
                TransactWriteItem::builder().update(update).build(),
            )
            .add(Write::Outbox, event);
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Revised::Revised),
            Err(refused) if refused.failed(Write::Listing) => Ok(Revised::Moved),
            Err(refused) => Err(ApiError::internal(format!(
                "a listing update was refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// Moves an order's hold one step and the listing's counts with it, in one transaction. The
    /// condition on the hold's state makes each event count once.
    pub async fn step(
        &self,
        transition: Transition,
        order_id: &OrderId,
        ticket_id: &TicketId,
        quantity: Quantity,
    ) -> Result<Stepped, ApiError> {
        let table = self.0.table();
        let hold = hold_key(order_id);
        let hold_write = match transition.from {
            None => {
                let put = Put::builder()
                    .table_name(table)
                    .item(PK, dynamo::s(hold.clone()))
                    .item("entity", dynamo::s("hold"))
                    .item("state", dynamo::s(transition.to.as_str()))
                    .item("ticketId", dynamo::s(ticket_id.as_str()))
                    .item("quantity", dynamo::n(quantity.get()))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK)
                    .build()
                    .map_err(ApiError::internal)?;
                TransactWriteItem::builder().put(put).build()
            }
            Some(from) => {
                let update = Update::builder()
                    .table_name(table)
                    .key(PK, dynamo::s(hold.clone()))
                    .update_expression("SET #state = :to")
                    .condition_expression("#state = :from")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":to", dynamo::s(transition.to.as_str()))
                    .expression_attribute_values(":from", dynamo::s(from.as_str()))
                    .build()
                    .map_err(ApiError::internal)?;
                TransactWriteItem::builder().update(update).build()
            }
        };
        let held = transition.held * quantity.get();
        let sold = transition.sold * quantity.get();
        let counts = Update::builder()
            .table_name(table)
            .key(PK, dynamo::s(key(ticket_id.as_str())))
            .update_expression(
                "SET held = held + :held, sold = sold + :sold, available = available - :taken",
            )
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":held", dynamo::n(held))
            .expression_attribute_values(":sold", dynamo::n(sold))
            .expression_attribute_values(":taken", dynamo::n(held + sold))
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes.add(Write::Hold, hold_write).add(
            Write::Listing,
            TransactWriteItem::builder().update(counts).build(),
        );
        let Err(refused) = writes.commit(self.0.client()).await? else {
            return Ok(Stepped::Applied);
        };
        if refused.failed(Write::Listing) && !refused.failed(Write::Hold) {
            return Ok(Stepped::NoListing);
        }
        // The hold was not in the state the step needs: a duplicate, early, or impossible.
        let current: Option<HoldItem> = self.0.get(hold).await?;
        Ok(match current.map(|item| item.state) {
            Some(state) if state == transition.to => Stepped::AlreadyApplied,
            None => Stepped::Early,
            // Created twice is a duplicate too.
            Some(_) if transition.from.is_none() => Stepped::AlreadyApplied,
            Some(other) => Stepped::Contradicts(other),
        })
    }

    /// Listings with tickets left, oldest first.
    pub async fn list_available(&self, page: &Page) -> Result<Listed, ApiError> {
        let query = IndexQuery {
            table: self.0.table(),
            partition: LISTED.to_owned(),
            key_prefix: "ticket#",
            newest_first: false,
            filter: Some(("available > :zero", vec![(":zero", dynamo::n(0))])),
        };
        paging::list(self.0.client(), &query, page).await
    }

    /// The `Idempotency-Key` records, kept in this table: claimed before the work, and answered
    /// in its transaction ([`Tickets::create`]).
    pub fn keys(&self) -> Keys<'_> {
        Keys::new(&self.0)
    }
}
