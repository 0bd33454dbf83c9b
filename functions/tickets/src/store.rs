//! The tickets table: listings (`ticket#<id>`), the holds orders placed on them (`hold#<order id>`,
//! one per order, whose state machine makes the order events idempotent), and idempotency records.
//! The only place in this context that speaks DynamoDB: each operation says what happened as an
//! enum, never as a refused write's position.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use contract::passes::{PassId, PassStatus};
use contract::{Cents, HoldState, OrderId, Quantity, TicketId, UserId};
use serde::{Deserialize, Serialize};
use shared::dynamo::{self, PK, Table, TablePrefix, TableSpec, Writes};
use shared::error::ApiError;
use shared::idempotency::Keys;
use shared::paging::{self, IndexQuery, Listed, Page};

use time::OffsetDateTime;

use crate::listing::{LISTED, TicketItem, key};

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
    /// The one-live-resale-listing-per-pass guard (`resale#<pass id>`).
    Guard,
    Hold,
    Outbox,
    /// The `Idempotency-Key`'s answer (conditioned on this request's claim).
    Answer,
    /// The pass a resale listing offers (conditioned on its holder and validity).
    Pass,
}

/// A pass as this context knows it, from the passes context's events: who holds it, what it was
/// bought at, and whether it is still valid. The resale route decides on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassCopy {
    pub pk: String,
    pub entity: String,
    pub id: PassId,
    /// The holder.
    pub user_id: UserId,
    /// The listing it was bought from.
    pub ticket_id: TicketId,
    /// What the holder paid (cents); unknown for passes announced before prices were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Cents>,
    pub status: PassStatus,
}

pub fn pass_key(id: &PassId) -> String {
    format!("pass#{id}")
}

/// The guard of a pass's one live resale listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResaleGuard {
    pub pk: String,
    pub entity: String,
    pub ticket_id: TicketId,
}

/// What listing a pass for resale did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resale {
    Listed,
    /// The pass already has a live resale listing: this one.
    AlreadyListed(TicketId),
    /// The pass is no longer the caller's, or no longer valid: decide again.
    PassMoved,
}

/// What marking a pass used did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The pass is marked (now or before).
    Marked,
    /// No copy of the pass yet: its `pass.issued` is still on its way.
    Unknown,
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

/// What withdrawing a listing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawn {
    Withdrawn,
    /// The listing changed since it was read (a hold arrived, an update or another withdrawal
    /// won): decide again.
    Moved,
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

/// The guard that lets a pass have one live resale listing at a time.
pub fn resale_guard_key(pass: &PassId) -> String {
    format!("resale#{pass}")
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

    /// Changes a listing's terms to `revised`'s, with its event: only on top of the version it was
    /// read at, while nothing is held, and not below what is sold. A change of a drop's on-sale
    /// time also needs sales not to have started (`now` is before the stored time: times are
    /// stored so that their text sorts as they do).
    pub async fn revise(
        &self,
        current: &TicketItem,
        revised: &TicketItem,
        now: OffsetDateTime,
        event: TransactWriteItem,
    ) -> Result<Revised, ApiError> {
        let mut set = vec![
            "title = :title",
            "price = :price",
            "quantity = :quantity",
            "available = :quantity - sold",
            "version = :next",
        ];
        let mut remove = Vec::new();
        let mut values = vec![
            (":title", dynamo::s(revised.title.clone())),
            (":price", dynamo::n(revised.price.get())),
            (":quantity", dynamo::n(revised.quantity.get())),
            (":version", dynamo::n(current.version)),
            (":next", dynamo::n(current.version + 1)),
            (":zero", dynamo::n(0)),
        ];
        let optional = [
            ("venue", ":venue", &revised.venue),
            ("startsAt", ":startsAt", &revised.starts_at),
            ("onSaleAt", ":onSaleAt", &revised.on_sale_at),
            ("queueSeed", ":queueSeed", &revised.queue_seed),
        ];
        let mut assignments = Vec::new();
        for (attribute, placeholder, value) in optional {
            match value {
                Some(value) => {
                    assignments.push(format!("{attribute} = {placeholder}"));
                    values.push((placeholder, dynamo::s(value.clone())));
                }
                None => remove.push(attribute),
            }
        }
        set.extend(assignments.iter().map(String::as_str));
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut condition = "version = :version AND held = :zero AND sold <= :quantity".to_owned();
        if current.on_sale_at.is_none() && revised.on_sale_at.is_some() {
            // Only a listing that has sold nothing yet can become a drop.
            condition.push_str(" AND sold = :zero");
        }
        // The on-sale time, and a drop's quantity downwards (its admissions hold tickets in the
        // orders context), change only before sales start.
        if revised.on_sale_at != current.on_sale_at || revised.quantity < current.quantity {
            condition.push_str(" AND (attribute_not_exists(onSaleAt) OR onSaleAt > :now)");
            // Whole seconds, as the stored times: "…:00Z" must not sort after "…:00.5Z".
            let now = now.replace_nanosecond(0).unwrap_or(now);
            values.push((":now", dynamo::s(shared::time::rfc3339(now))));
        }
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(key(current.id.as_str())))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(
                values
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect(),
            ))
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

    /// Takes a listing off sale, as `withdrawn` (its quantity cut to what is sold), with its event:
    /// only on top of the version it was read at, while nothing is held, and once. A resale
    /// listing frees its pass's guard in the same step, so the pass may be listed again.
    pub async fn withdraw(
        &self,
        current: &TicketItem,
        withdrawn: &TicketItem,
        event: TransactWriteItem,
    ) -> Result<Withdrawn, ApiError> {
        let at = withdrawn
            .withdrawn_at
            .clone()
            .ok_or_else(|| ApiError::internal("a withdrawal without its time"))?;
        // Whole seconds, as the stored times: "…:00Z" must not sort after "…:00.5Z".
        let now = shared::time::now();
        let now = shared::time::rfc3339(now.replace_nanosecond(0).unwrap_or(now));
        let update = Update::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(key(current.id.as_str())))
            .update_expression(
                "SET quantity = :quantity, available = :zero, version = :next, withdrawnAt = :at",
            )
            // Not a drop on sale: its admissions hold tickets in the orders context.
            .condition_expression(
                "version = :version AND held = :zero AND sold = :quantity \
                 AND attribute_not_exists(withdrawnAt) \
                 AND (attribute_not_exists(onSaleAt) OR onSaleAt > :now)",
            )
            .expression_attribute_values(":quantity", dynamo::n(withdrawn.quantity.get()))
            .expression_attribute_values(":zero", dynamo::n(0))
            .expression_attribute_values(":version", dynamo::n(current.version))
            .expression_attribute_values(":next", dynamo::n(withdrawn.version))
            .expression_attribute_values(":at", dynamo::s(at))
            .expression_attribute_values(":now", dynamo::s(now))
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes
            .add(
                Write::Listing,
                TransactWriteItem::builder().update(update).build(),
            )
            .add(Write::Outbox, event);
        if let Some(freed) = self.guard_freed(current)? {
            writes.add(Write::Guard, freed);
        }
        match writes.commit(self.0.client()).await? {
            Ok(()) => Ok(Withdrawn::Withdrawn),
            Err(refused) if refused.failed(Write::Listing) => Ok(Withdrawn::Moved),
            Err(refused) => Err(ApiError::internal(format!(
                "a withdrawal was refused: {:?}",
                refused.failures()
            ))),
        }
    }

    pub async fn pass(&self, id: &PassId) -> Result<Option<PassCopy>, ApiError> {
        self.0.get(pass_key(id)).await
    }

    /// Copies a pass issued, once.
    pub async fn copy_pass(&self, copy: &PassCopy) -> Result<(), ApiError> {
        self.0.put_once(copy).await.map(|_| ())
    }

    /// Marks a pass checked in or revoked: it can no longer be resold. Only a valid pass moves, so
    /// a duplicate changes nothing.
    pub async fn mark_pass(&self, id: &PassId, status: PassStatus) -> Result<Marked, ApiError> {
        let update = self
            .0
            .client()
            .update_item()
            .table_name(self.0.table())
            .key(PK, dynamo::s(pass_key(id)))
            .update_expression("SET #status = :to")
            .condition_expression("#status = :valid")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", dynamo::s(status.as_str()))
            .expression_attribute_values(":valid", dynamo::s(PassStatus::Valid.as_str()))
            .send()
            .await;
        match update {
            Ok(_) => Ok(Marked::Marked),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(match self.pass(id).await? {
                Some(_) => Marked::Marked,
                None => Marked::Unknown,
            }),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// The live resale listing of a pass, if it has one.
    pub async fn resale_guard(&self, pass: &PassId) -> Result<Option<ResaleGuard>, ApiError> {
        self.0.get(resale_guard_key(pass)).await
    }

    /// Lists a pass for resale, with its event: the listing, the pass's guard (none yet: one live
    /// resale listing per pass, however often the request is retried), and a check that the pass
    /// is still the seller's and valid, in one transaction.
    pub async fn list_resale(
        &self,
        ticket: &TicketItem,
        pass: &PassCopy,
        event: TransactWriteItem,
    ) -> Result<Resale, ApiError> {
        let guard = ResaleGuard {
            pk: resale_guard_key(&pass.id),
            entity: "resale".to_owned(),
            ticket_id: ticket.id.clone(),
        };
        let guard = Put::builder()
            .table_name(self.0.table())
            .set_item(Some(dynamo::item_of(&guard)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(ApiError::internal)?;
        let check = ConditionCheck::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(pass_key(&pass.id)))
            .condition_expression("#status = :valid AND userId = :holder")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":valid", dynamo::s(PassStatus::Valid.as_str()))
            .expression_attribute_values(":holder", dynamo::s(pass.user_id.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        let mut writes = Writes::new();
        writes
            .add(Write::Listing, self.0.insert(ticket)?)
            .add(
                Write::Guard,
                TransactWriteItem::builder().put(guard).build(),
            )
            .add(
                Write::Pass,
                TransactWriteItem::builder().condition_check(check).build(),
            )
            .add(Write::Outbox, event);
        let refused = match writes.commit(self.0.client()).await? {
            Ok(()) => return Ok(Resale::Listed),
            Err(refused) => refused,
        };
        if refused.failed(Write::Guard) {
            let old = refused
                .old(Write::Guard)
                .cloned()
                .ok_or_else(|| ApiError::internal("a refused guard came back without its item"))?;
            let old: ResaleGuard = dynamo::parse_item(old)?;
            return Ok(Resale::AlreadyListed(old.ticket_id));
        }
        if refused.failed(Write::Pass) {
            return Ok(Resale::PassMoved);
        }
        Err(ApiError::internal(format!(
            "a resale listing was refused: {:?}",
            refused.failures()
        )))
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

    /// A listing, and whether its pass was used while a buyer held it ([`Tickets::mark_pass_used`]).
    pub async fn listing_and_mark(
        &self,
        id: &TicketId,
    ) -> Result<Option<(TicketItem, bool)>, ApiError> {
        let found = self
            .0
            .client()
            .get_item()
            .table_name(self.0.table())
            .key(PK, dynamo::s(key(id.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        let Some(item) = found.item else {
            return Ok(None);
        };
        let used = item.contains_key(PASS_USED_AT);
        Ok(Some((dynamo::parse_item(item)?, used)))
    }

    /// Records on a resale listing that its pass was used (checked in or revoked) while a buyer
    /// holds it, so that the release of its last hold withdraws it ([`Tickets::release`]): the
    /// mark is durable where a retried event is not. Only while something is held (otherwise the
    /// listing can be withdrawn at once) and before it is withdrawn.
    pub async fn mark_pass_used(&self, id: &TicketId, at: &str) -> Result<PassUsed, ApiError> {
        let update = self
            .0
            .client()
            .update_item()
            .table_name(self.0.table())
            .key(PK, dynamo::s(key(id.as_str())))
            .update_expression("SET #used = if_not_exists(#used, :at)")
            .condition_expression("held > :zero AND attribute_not_exists(withdrawnAt)")
            .expression_attribute_names("#used", PASS_USED_AT)
            .expression_attribute_values(":at", dynamo::s(at))
            .expression_attribute_values(":zero", dynamo::n(0))
            .send()
            .await;
        match update {
            Ok(_) => Ok(PassUsed::Marked),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(PassUsed::Moved),
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    /// Releases an order's hold (`held → released`) and the listing's counts with it, in one
    /// transaction. With a withdrawal (the listing as read, as withdrawn, and the event), the
    /// release of the last hold on a listing whose pass was used: the listing is withdrawn in that
    /// same transaction, as [`Tickets::withdraw`] writes it (quantity cut to what is sold,
    /// `withdrawnAt`, the pass's guard freed), on top of the version read. Without, the release is
    /// refused when it would be that last hold (or there is no listing): the caller reads the
    /// listing and decides again.
    pub async fn release(
        &self,
        order_id: &OrderId,
        ticket_id: &TicketId,
        quantity: Quantity,
        withdrawal: Option<(&TicketItem, &TicketItem, TransactWriteItem)>,
    ) -> Result<Released, ApiError> {
        let table = self.0.table();
        let hold = Update::builder()
            .table_name(table)
            .key(PK, dynamo::s(hold_key(order_id)))
            .update_expression("SET #state = :to")
            .condition_expression("#state = :from")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":to", dynamo::s(HoldState::Released.as_str()))
            .expression_attribute_values(":from", dynamo::s(HoldState::Held.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        let listing = Update::builder()
            .table_name(table)
            .key(PK, dynamo::s(key(ticket_id.as_str())))
            .expression_attribute_names("#used", PASS_USED_AT)
            .expression_attribute_values(":q", dynamo::n(quantity.get()));
        let mut writes = Writes::new();
        writes.add(
            Write::Hold,
            TransactWriteItem::builder().update(hold).build(),
        );
        let withdrawing = withdrawal.is_some();
        let listing = match withdrawal {
            None => listing
                .update_expression("SET held = held - :q, available = available + :q")
                .condition_expression(
                    "attribute_exists(#pk) AND (attribute_not_exists(#used) \
                     OR attribute_exists(withdrawnAt) OR held > :q)",
                )
                .expression_attribute_names("#pk", PK),
            Some((current, withdrawn, event)) => {
                let at = withdrawn
                    .withdrawn_at
                    .clone()
                    .ok_or_else(|| ApiError::internal("a withdrawal without its time"))?;
                writes.add(Write::Outbox, event);
                if let Some(guard) = self.guard_freed(current)? {
                    writes.add(Write::Guard, guard);
                }
                listing
                    .update_expression(
                        "SET held = held - :q, quantity = :quantity, available = :zero, \
                         version = :next, withdrawnAt = :at",
                    )
                    .condition_expression(
                        "version = :version AND held = :q AND sold = :quantity \
                         AND attribute_exists(#used) AND attribute_not_exists(withdrawnAt)",
                    )
                    .expression_attribute_values(":quantity", dynamo::n(withdrawn.quantity.get()))
                    .expression_attribute_values(":zero", dynamo::n(0))
                    .expression_attribute_values(":version", dynamo::n(current.version))
                    .expression_attribute_values(":next", dynamo::n(withdrawn.version))
                    .expression_attribute_values(":at", dynamo::s(at))
            }
        };
        writes.add(
            Write::Listing,
            TransactWriteItem::builder()
                .update(listing.build().map_err(ApiError::internal)?)
                .build(),
        );
        match writes.commit(self.0.client()).await? {
            Ok(()) if withdrawing => Ok(Released::Withdrawn),
            Ok(()) => Ok(Released::Released),
            Err(refused) if refused.failed(Write::Hold) => Ok(Released::HoldMoved),
            Err(refused) if refused.failed(Write::Listing) => Ok(Released::ListingMoved),
            Err(refused) => Err(ApiError::internal(format!(
                "a release was refused: {:?}",
                refused.failures()
            ))),
        }
    }

    /// The write that frees a resale listing's pass guard as the listing goes off sale, so the
    /// pass may be listed again; none for a listing that resells nothing.
    fn guard_freed(&self, listing: &TicketItem) -> Result<Option<TransactWriteItem>, ApiError> {
        let Some(pass) = &listing.resale_of else {
            return Ok(None);
        };
        let delete = Delete::builder()
            .table_name(self.0.table())
            .key(PK, dynamo::s(resale_guard_key(pass)))
            .condition_expression("attribute_not_exists(#pk) OR ticketId = :ticket")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":ticket", dynamo::s(listing.id.as_str()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(Some(TransactWriteItem::builder().delete(delete).build()))
    }
}

/// The attribute that marks a listing whose pass was used while held.
const PASS_USED_AT: &str = "passUsedAt";

/// What marking a held resale listing's pass used did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassUsed {
    Marked,
    /// Nothing is held any more, or the listing is withdrawn: decide again.
    Moved,
}

/// What releasing a hold did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    Released,
    /// Released, and the listing withdrawn with it.
    Withdrawn,
    /// The hold is not held (a duplicate, early, or sold): nothing was written.
    HoldMoved,
    /// The listing changed since it was read (its pass was marked used, or another hold ended):
    /// nothing was written; decide again.
    ListingMoved,
}
