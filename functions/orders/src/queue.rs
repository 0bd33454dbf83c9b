//! A drop's waiting room (`api.md`, "Drops and the waiting room"): one entry per buyer per listing,
//! admitted in a fair order at the pace capacity allows.
//!
//! - Joining is one conditional put of the buyer's own entry: no item that every join writes (the
//!   puts of joins that arrive together go in one transaction: [`Line::put_new`]). An
//!   entry that no longer stands (lapsed, admitted past its time, ordered and the order cancelled,
//!   sold out for less than is now left) is replaced at the back, conditioned on it as read.
//! - The line is the index partition `line#<ticket>`, sorted by each entry's `place`: for entries
//!   that joined before `onSaleAt`, the hex HMAC-SHA256 of the buyer id keyed with the drop's seed
//!   (a shuffle anyone can check once the seed is published); for later ones `~` and a time-ordered
//!   id, which sorts after every hex string, so they follow in the order they joined.
//! - Admission holds capacity: the entries let in and the replica's `available` move in one
//!   transaction, conditioned on the replica as it was read (its version, `available`, `sold`), so
//!   admitted entries never promise more than there is. An admitted entry leaves the line for the
//!   index partition `admitted#<ticket>`, sorted by when its admission ends.
//! - Admission is paced: no more than [`Admission::open_max`] admissions are open at once (counted
//!   in `admitted#<ticket>`), as every admitted buyer orders at once.
//! - Nothing runs on a clock: every join and read ([`advance`]) first lapses the admissions that ran
//!   out (their capacity back, one conditional transaction each) and then admits the next entries
//!   that fit, from [`ADMISSION_GRACE_SECONDS`] after `onSaleAt` on. Cancelled and expired orders
//!   advance their listing's queue as well.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRef;
use contract::drops::{QueueEntryBody, QueueState};
use contract::{OrderId, Quantity, TicketId};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shared::config::{Env, FromEnv};
use shared::dynamo::TablePrefix;
use shared::error::ApiError;
use shared::session::Sessions;

use crate::group_commit::GroupCommit;
use crate::positions::Positions;
use crate::recent::{self, Recent};
use crate::replica::TicketReplica;
use crate::store::{Admitted, JOIN_GROUP_MAX, Orders};

pub const NO_QUEUE: &str = "This listing has no queue";
pub const NOT_STARTED: &str = "Sales have not started";
pub const WAIT_YOUR_TURN: &str = "Wait for your turn in the queue";

/// The most entries one admission transaction lets in: with the replica's write, DynamoDB's limit
/// of 100 writes per transaction.
pub const ADMIT_MAX: usize = 99;

/// How many admission transactions one advance commits, one after another, from one read of the
/// replica and of the head of the line: at a drop's start thousands fit at once, and an advance
/// that let in 99 and stopped took three DynamoDB calls for each 99 (admissions lagged the sale by
/// about 25 s in the queued bench).
const ADMIT_BATCHES: usize = 5;

/// An advance begins no further admission transaction after this long: the request that runs it
/// waits for it.
const ADMIT_BATCHES_FOR: Duration = Duration::from_secs(2);

/// How many admissions that ran out one advance gives back (one transaction each).
const LAPSE_MAX: usize = 25;

/// How often an admission is tried again on a replica that moved since it was read.
const ATTEMPTS: usize = 3;

/// Seconds after `onSaleAt` before the first admission. A join in the last instant before
/// `onSaleAt` gets its fair place, but its put may reach the index (which DynamoDB updates
/// asynchronously) only after an advance read the head of the line: it would then be admitted after
/// entries the seed ranks below it. The grace lets those puts land first.
pub const ADMISSION_GRACE_SECONDS: i64 = 2;

/// When admissions of a drop selling from `on_sale` (Unix seconds) start.
pub fn admitting_from(on_sale: i64) -> i64 {
    on_sale + ADMISSION_GRACE_SECONDS
}

/// How a drop lets buyers in: `DROP_ADMISSION_SECONDS` (default 120), how long an admitted buyer
/// may order, and `DROP_ADMITTED_MAX` (default 50), how many admissions may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub window: Duration,
    /// The pace of the hold path (`api.md`: buyers are let in "at the pace the hold path
    /// sustains"). Every admitted buyer orders at once: letting 2,000 in at a drop's start sent
    /// 2,000 orders together, which waited in DynamoDB past their deadlines (the queued bench
    /// answered about 3,000 of them 503). An admission leaves the count when it is ordered or
    /// lapses, so an abandoned one holds its place for at most the window.
    pub open_max: usize,
}

impl Admission {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            ..Self::default()
        }
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(120),
            open_max: 50,
        }
    }
}

impl FromEnv for Admission {
    fn from_env(env: &mut Env) -> Self {
        let seconds: u64 = env.parsed_or("DROP_ADMISSION_SECONDS", 120);
        if seconds == 0 {
            env.invalid("DROP_ADMISSION_SECONDS", "must be at least 1 second");
        }
        let open_max: usize = env.parsed_or("DROP_ADMITTED_MAX", 50);
        if open_max == 0 {
            env.invalid("DROP_ADMITTED_MAX", "must be at least 1");
        }
        Self {
            window: Duration::from_secs(seconds),
            open_max,
        }
    }
}

pub fn key(ticket_id: &str, user_id: &str) -> String {
    format!("queue#{ticket_id}#{user_id}")
}

/// The index partition of a listing's line: its waiting entries in admission order.
pub fn line_partition(ticket_id: &str) -> String {
    format!("line#{ticket_id}")
}

/// The index partition of a listing's admitted entries, by the end of their admission.
pub fn admitted_partition(ticket_id: &str) -> String {
    format!("admitted#{ticket_id}")
}

/// The index sort key of an admission ending at `until` (Unix seconds): zero-padded so that text
/// order is time order.
pub fn admitted_sort_key(until: i64, user_id: &str) -> String {
    format!("{until:012}#{user_id}")
}

/// The place in line of a buyer who joins before `onSaleAt`: hex HMAC-SHA256 over the buyer id,
/// keyed with the drop's seed as the tickets context makes it: the 32 bytes that `queueSeed` writes
/// in hex (not the hex text). A seed that is not hex (none is made so) keys with its text.
pub fn fair_place(seed: &str, user_id: &str) -> String {
    let key = hex::decode(seed).unwrap_or_else(|_| seed.as_bytes().to_vec());
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The place in line of a buyer who joins from `onSaleAt` on: after every pre-sale entry (`~`
/// sorts after hex digits), in the order of joining (UUIDv7 is time-ordered).
pub fn late_place() -> String {
    format!("~{}", uuid::Uuid::now_v7())
}

/// A buyer's entry in a listing's queue, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntry {
    pub pk: String,
    pub entity: String,
    pub ticket_id: String,
    pub user_id: String,
    pub quantity: i64,
    pub state: QueueState,
    /// Where in line: the index sort key while waiting.
    pub place: String,
    pub joined_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_until_unix: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Only while waiting (the line) or admitted: the index holds nothing else of the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
}

impl QueueEntry {
    /// A new entry at the back of the line, or at its fair place before `onSaleAt`.
    pub fn new(ticket: &TicketReplica, on_sale: i64, user_id: &str, quantity: i64) -> Self {
        let now = shared::time::now();
        let place = if now.unix_timestamp() < on_sale {
            fair_place(ticket.queue_seed.as_deref().unwrap_or_default(), user_id)
        } else {
            late_place()
        };
        Self {
            pk: key(&ticket.id, user_id),
            entity: "queue-entry".to_owned(),
            ticket_id: ticket.id.clone(),
            user_id: user_id.to_owned(),
            quantity,
            state: QueueState::Waiting,
            place: place.clone(),
            joined_at: shared::time::rfc3339(now),
            admitted_until: None,
            admitted_until_unix: None,
            order_id: None,
            gsi1pk: Some(line_partition(&ticket.id)),
            gsi1sk: Some(place),
        }
    }

    /// Admitted, and the admission has not run out at `now`.
    pub fn is_admitted_at(&self, now: i64) -> bool {
        self.state == QueueState::Admitted && self.admitted_until_unix.is_some_and(|t| t >= now)
    }

    /// Queue entry JSON, as of `now`, given how many entries are `ahead` of a waiting one.
    pub fn body(&self, ticket: &TicketReplica, ahead: Option<i64>, now: i64) -> QueueEntryBody {
        let mut state = self.state;
        if state == QueueState::Waiting && self.quantity > ticket.unsold() {
            state = QueueState::SoldOut;
        }
        if state == QueueState::Admitted && !self.is_admitted_at(now) {
            // The next advance gives it back; it can no longer be used.
            state = QueueState::Lapsed;
        }
        let position = (state == QueueState::Waiting).then(|| ahead.unwrap_or(0) + 1);
        let estimated_wait_seconds = position.and_then(|position| estimate(ticket, position, now));
        QueueEntryBody {
            ticket_id: TicketId::new(self.ticket_id.clone()),
            quantity: Quantity(self.quantity),
            state,
            position,
            estimated_wait_seconds,
            joined_at: self.joined_at.clone(),
            on_sale_at: ticket.on_sale_at.clone().unwrap_or_default(),
            admitted_until: self.admitted_until.clone(),
            order_id: self.order_id.clone().map(OrderId::new),
        }
    }
}

/// A waiting entry as a read of its line gives it: its place, and what a waiting buyer's answer
/// shows besides ([`crate::positions`] answers from it without reading the entry).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InLine {
    #[serde(rename = "gsi1sk")]
    pub place: String,
    pub user_id: String,
    pub quantity: i64,
    pub joined_at: String,
}

impl InLine {
    /// The entry, waiting, as far as its answer goes (no keys).
    pub fn entry(&self, ticket_id: &str) -> QueueEntry {
        QueueEntry {
            pk: String::new(),
            entity: String::new(),
            ticket_id: ticket_id.to_owned(),
            user_id: self.user_id.clone(),
            quantity: self.quantity,
            state: QueueState::Waiting,
            place: self.place.clone(),
            joined_at: self.joined_at.clone(),
            admitted_until: None,
            admitted_until_unix: None,
            order_id: None,
            gsi1pk: None,
            gsi1sk: None,
        }
    }
}

/// Seconds until the entry at `position` is let in, at the pace the queue has kept since
/// `onSaleAt` (entries admitted over the seconds elapsed); before any admission, only the time
/// until `onSaleAt` is known.
pub fn estimate(ticket: &TicketReplica, position: i64, now: i64) -> Option<i64> {
    let on_sale = ticket.on_sale_unix()?;
    let until_sale = (on_sale - now).max(0);
    if ticket.admitted_entries <= 0 {
        return Some(until_sale);
    }
    let elapsed = (now - on_sale).max(1);
    // position / (admitted / elapsed), rounded up.
    let wait = (position * elapsed + ticket.admitted_entries - 1) / ticket.admitted_entries;
    Some(until_sale + wait)
}

/// What to do with the head of the line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Let in, in order: they fit in what is available.
    pub admit: Vec<usize>,
    /// Want more than could ever be available again: out of the line.
    pub sold_out: Vec<usize>,
}

/// The head entries (in line order) let in from `available`, at most `room` of them, in strict
/// order: an entry that does not fit yet stops the admissions, unless it wants more than `unsold`
/// (then it never will).
pub fn plan(head: &[QueueEntry], available: i64, unsold: i64, room: usize) -> Plan {
    let mut plan = Plan::default();
    let mut left = available;
    for (n, entry) in head.iter().enumerate() {
        if entry.quantity > unsold {
            plan.sold_out.push(n);
        } else if plan.admit.len() >= room {
            break;
        } else if entry.quantity <= left {
            left -= entry.quantity;
            plan.admit.push(n);
        } else {
            break;
        }
        if plan.admit.len() + plan.sold_out.len() >= ADMIT_MAX {
            break;
        }
    }
    plan
}

/// What this instance knows of each listing's queue advances: one advance per listing at a time,
/// so that a crowd of readers does not turn into a crowd of transactions on the replica; none
/// again for a reader within [`recent::FRESH`] of one that found nothing to do; and no query for
/// lapsed admissions before one can have run out.
#[derive(Debug, Default)]
pub struct Advancing(Mutex<HashMap<String, Progress>>);

#[derive(Debug, Default)]
struct Progress {
    running: bool,
    /// When an advance last ended finding nothing to let in, and why; `None` once one moved the
    /// queue.
    idle: Option<(Instant, Idle)>,
    /// No admission known to this instance runs out before this Unix second (see [`lapse_bound`]).
    lapses_from: i64,
}

/// Why an advance let nobody in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idle {
    /// Nothing was available, admissions had not started, or as many are open as may be: a join
    /// changes none of these.
    Closed,
    /// The line had nothing that fits: a join may bring something.
    Waiting,
}

/// Who asks for an advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Tickets came back: always worth a look.
    Returned,
    /// A new entry joined: worth a look unless nothing could be let in a moment ago.
    Joined,
    /// A buyer reads their entry: worth a look unless one found nothing to do a moment ago.
    Reader,
}

impl Caller {
    fn skips(self, idle: Idle) -> bool {
        match self {
            Self::Returned => false,
            Self::Joined => idle == Idle::Closed,
            Self::Reader => true,
        }
    }
}

impl Advancing {
    /// The listing's turn, unless an advance of it is under way, or one found nothing to do for
    /// `caller` a moment ago; it ends when the turn is dropped (also when the request is abandoned
    /// mid-way, past its deadline).
    fn start(self: &Arc<Self>, ticket_id: &str, caller: Caller) -> Option<Turn> {
        let mut listings = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let progress = listings.entry(ticket_id.to_owned()).or_default();
        let skip = progress
            .idle
            .is_some_and(|(at, idle)| at.elapsed() < recent::FRESH && caller.skips(idle));
        if progress.running || skip {
            return None;
        }
        progress.running = true;
        Some(Turn {
            advancing: Arc::clone(self),
            ticket_id: ticket_id.to_owned(),
        })
    }

    fn update<R>(&self, ticket_id: &str, f: impl FnOnce(&mut Progress) -> R) -> R {
        let mut listings = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(listings.entry(ticket_id.to_owned()).or_default())
    }
}

/// One listing's advance under way on this instance.
struct Turn {
    advancing: Arc<Advancing>,
    ticket_id: String,
}

impl Turn {
    fn lapses_from(&self) -> i64 {
        self.advancing
            .update(&self.ticket_id, |progress| progress.lapses_from)
    }

    fn set_lapses_from(&self, at: i64) {
        self.advancing
            .update(&self.ticket_id, |progress| progress.lapses_from = at);
    }

    fn ended(&self, idle: Option<Idle>) {
        let idle = idle.map(|idle| (Instant::now(), idle));
        self.advancing
            .update(&self.ticket_id, |progress| progress.idle = idle);
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.advancing
            .update(&self.ticket_id, |progress| progress.running = false);
    }
}

/// How long before the end of the admission window an admission may have been computed by an
/// advance still writing it when the admitted entries were read: the attempts of one transaction,
/// with room to spare.
const ADMISSION_IN_FLIGHT: i64 = 30;

/// The first Unix second at which an admission can have run out, given `first_end`, the earliest
/// end among the admissions read at `read_at` (`None`: none was left). An admission written since
/// ends a whole window after it was computed, which was at most [`ADMISSION_IN_FLIGHT`] before the
/// read. An admission lapses once its end is in the past (`queue::QueueEntry::is_admitted_at`).
pub fn lapse_bound(first_end: Option<i64>, read_at: i64, admission: Admission) -> i64 {
    let window = i64::try_from(admission.window.as_secs()).unwrap_or(i64::MAX);
    let written_since = read_at.saturating_add(window) - ADMISSION_IN_FLIGHT;
    first_end.map_or(written_since, |end| written_since.min(end + 1))
}

/// What the queue's routes need: the table, sessions, the admission window, and what this
/// instance knows of each queue (its advances, its line, its replica a moment ago).
#[derive(Clone)]
pub struct Line {
    pub orders: Orders,
    pub sessions: Sessions,
    pub admission: Admission,
    pub advancing: Arc<Advancing>,
    pub positions: Arc<Positions>,
    pub replicas: Arc<Recent<Option<TicketReplica>>>,
    /// New entries of one listing put together ([`Orders::put_new_all`]); `None` for a put whose
    /// transaction failed.
    pub joins: Arc<GroupCommit<QueueEntry, Option<bool>>>,
}

impl FromRef<Line> for Sessions {
    fn from_ref(state: &Line) -> Self {
        state.sessions.clone()
    }
}

impl Line {
    pub fn new(orders: Orders, sessions: Sessions, admission: Admission) -> Self {
        Self {
            orders,
            sessions,
            admission,
            advancing: Arc::default(),
            positions: Arc::default(),
            replicas: Arc::default(),
            joins: Arc::new(GroupCommit::new(JOIN_GROUP_MAX)),
        }
    }

    /// Puts a new entry where the buyer has none or a `lapsed` one, with the others that join the
    /// listing meanwhile on this instance (group commit, as for holds). Whether it was written.
    pub async fn put_new(&self, entry: &QueueEntry) -> Result<bool, ApiError> {
        let orders = self.orders.clone();
        let written = self
            .joins
            .submit(&entry.ticket_id, entry.clone(), move |entries| {
                let orders = orders.clone();
                async move {
                    match orders.put_new_all(&entries).await {
                        Ok(written) => written.into_iter().map(Some).collect(),
                        Err(err) => {
                            tracing::warn!(error = %err, joins = entries.len(), "joins not written");
                            vec![None; entries.len()]
                        }
                    }
                }
            })
            .await
            .flatten();
        written.ok_or_else(|| ApiError::unavailable("the join was not written"))
    }

    pub async fn app(
        (sessions, (prefix, admission)): (Sessions, (TablePrefix, Admission)),
    ) -> Self {
        Self::new(Orders::connect(&prefix).await, sessions, admission)
    }

    /// The listing's replica, as read less than [`recent::FRESH`] ago on this instance.
    pub async fn replica(&self, ticket_id: &str) -> Result<Option<TicketReplica>, ApiError> {
        let (ticket, _) = self
            .replicas
            .read(ticket_id, || self.orders.replica(ticket_id))
            .await?;
        if ticket.is_none() {
            // Not kept as unknown: its replica may be written any moment.
            self.replicas.forget(ticket_id);
        }
        Ok(ticket)
    }

    /// The buyer's entry as it is once the queue has moved on (404 when not in it). `known` is the
    /// listing and the entry as the caller just read or wrote them: read again only if the queue
    /// moved.
    pub async fn entry_body(
        &self,
        ticket_id: &str,
        user_id: &str,
        known: Option<(TicketReplica, QueueEntry)>,
    ) -> Result<QueueEntryBody, ApiError> {
        let now = shared::time::unix_now();
        // Before admissions start nothing is admitted nor lapses: a pre-sale join is a read and a
        // put.
        let before_sale = known
            .as_ref()
            .and_then(|(ticket, _)| ticket.on_sale_unix())
            .is_some_and(|on_sale| now < admitting_from(on_sale));
        let caller = if known.is_some() {
            Caller::Joined
        } else {
            Caller::Reader
        };
        // Taken before the advance reads the replica, to keep what it read.
        let reading = self.replicas.get(ticket_id).err();
        let advanced = if before_sale {
            Advanced::default()
        } else {
            let advanced = advance_as(
                &self.orders,
                &self.advancing,
                ticket_id,
                self.admission,
                caller,
            )
            .await;
            advanced.unwrap_or_else(|err| {
                // The entry can still be shown as it is; the next read advances.
                tracing::warn!(ticket = ticket_id, error = %err, "queue not advanced");
                Advanced::moved()
            })
        };
        if advanced.moved {
            self.replicas.forget(ticket_id);
            self.positions.forget_head(ticket_id);
        } else if let (Some(ticket), Some(reading)) = (&advanced.replica, reading) {
            self.replicas.keep(ticket_id, reading, Some(ticket.clone()));
        }
        let (ticket, entry) = match known {
            Some(known) if !advanced.moved => {
                self.positions.remember(ticket_id, &known.1, Instant::now());
                known
            }
            _ => {
                let ticket = self.replica(ticket_id).await?.ok_or(ApiError::NotFound)?;
                let remembered = match ticket.on_sale_unix() {
                    Some(on_sale) if !advanced.moved => {
                        self.positions
                            .still_waiting(&self.orders, ticket_id, user_id, on_sale, now)
                            .await?
                    }
                    _ => None,
                };
                let entry = match remembered {
                    Some(entry) => entry,
                    None => {
                        let entry = self.orders.entry(ticket_id, user_id).await?;
                        let entry = entry.ok_or(ApiError::NotFound)?;
                        if entry.state == QueueState::Waiting {
                            self.positions.remember(ticket_id, &entry, Instant::now());
                        }
                        entry
                    }
                };
                (ticket, entry)
            }
        };
        let ahead = match ticket.on_sale_unix() {
            Some(on_sale) if entry.state == QueueState::Waiting => Some(
                self.positions
                    .ahead(&self.orders, ticket_id, on_sale, &entry.place, now)
                    .await?,
            ),
            _ => None,
        };
        Ok(entry.body(&ticket, ahead, now))
    }
}

/// Moves a listing's queue on, unless this instance is already doing so: lapses admissions that ran
/// out, then lets in the next entries that fit. Whether anything moved (or might have: another
/// advance of this instance is under way).
pub async fn advance(
    orders: &Orders,
    advancing: &Arc<Advancing>,
    ticket_id: &str,
    admission: Admission,
) -> Result<bool, ApiError> {
    Ok(
        advance_as(orders, advancing, ticket_id, admission, Caller::Returned)
            .await?
            .moved,
    )
}

/// What an advance found.
#[derive(Debug, Default)]
pub struct Advanced {
    /// Entries were let in or lapsed, or another advance of this instance is under way: what was
    /// read before may be out of date.
    pub moved: bool,
    /// The listing's replica as the advance last read it, when nothing was written after.
    pub replica: Option<TicketReplica>,
    /// Why nobody was let in, when nothing moved.
    idle: Option<Idle>,
}

impl Advanced {
    fn still(replica: Option<TicketReplica>, moved: bool, idle: Idle) -> Self {
        Self {
            moved,
            replica,
            idle: (!moved).then_some(idle),
        }
    }

    fn moved() -> Self {
        Self {
            moved: true,
            ..Self::default()
        }
    }
}

/// [`advance`] for `caller`. A join or a read is answered from what it read if the listing's
/// advance is under way on this instance (the queue moves meanwhile; the next read shows it), or
/// if one found nothing to do for it within [`recent::FRESH`].
async fn advance_as(
    orders: &Orders,
    advancing: &Arc<Advancing>,
    ticket_id: &str,
    admission: Admission,
    caller: Caller,
) -> Result<Advanced, ApiError> {
    let Some(turn) = advancing.start(ticket_id, caller) else {
        return Ok(Advanced {
            moved: caller == Caller::Returned,
            ..Advanced::default()
        });
    };
    let advanced = advance_now(orders, &turn, ticket_id, admission).await?;
    turn.ended(advanced.idle);
    Ok(advanced)
}

async fn advance_now(
    orders: &Orders,
    turn: &Turn,
    ticket_id: &str,
    admission: Admission,
) -> Result<Advanced, ApiError> {
    let now = shared::time::unix_now();
    let mut moved = false;
    if now >= turn.lapses_from() {
        // The first admissions to end, one more than are lapsed at a time: the first that still
        // stands says when to look again.
        let first = orders.first_admissions(ticket_id, LAPSE_MAX + 1).await?;
        let lapsed = first
            .iter()
            .take_while(|entry| !entry.is_admitted_at(now))
            .count();
        let first_end = first
            .get(lapsed)
            .and_then(|entry| entry.admitted_until_unix);
        for entry in first.iter().take(lapsed.min(LAPSE_MAX)) {
            moved |= orders.lapse(entry, now).await?;
        }
        // Only once they are given back: an advance that failed half-way looks again.
        turn.set_lapses_from(if lapsed > LAPSE_MAX {
            now
        } else {
            lapse_bound(first_end, now, admission)
        });
    }
    for _ in 0..ATTEMPTS {
        let Some(ticket) = orders.replica(ticket_id).await? else {
            return Ok(Advanced::still(None, moved, Idle::Closed));
        };
        let admitting = ticket
            .on_sale_unix()
            .is_some_and(|on_sale| now >= admitting_from(on_sale));
        if !admitting || ticket.available <= 0 {
            return Ok(Advanced::still(Some(ticket), moved, Idle::Closed));
        }
        let open = orders
            .open_admissions(ticket_id, admission.open_max)
            .await?;
        let mut room = admission.open_max.saturating_sub(open);
        if room == 0 {
            return Ok(Advanced::still(Some(ticket), moved, Idle::Closed));
        }
        let head = orders
            .line(ticket_id, room.min(ADMIT_MAX * ADMIT_BATCHES))
            .await?;
        let started = Instant::now();
        let mut ticket = ticket;
        let mut from = 0;
        for batch in 0..ADMIT_BATCHES {
            let plan = plan(&head[from..], ticket.available, ticket.unsold(), room);
            if plan.admit.is_empty() && plan.sold_out.is_empty() {
                return Ok(if batch == 0 {
                    Advanced::still(Some(ticket), moved, Idle::Waiting)
                } else {
                    Advanced::moved()
                });
            }
            let admit: Vec<&QueueEntry> = plan.admit.iter().map(|&n| &head[from + n]).collect();
            let sold_out: Vec<&QueueEntry> =
                plan.sold_out.iter().map(|&n| &head[from + n]).collect();
            let until = shared::time::deadline_after(admission.window);
            match orders.admit(&ticket, &admit, &sold_out, until).await? {
                Admitted::Admitted => {
                    moved = true;
                    // The replica as the transaction left it (its condition is on `version`,
                    // `available` and `sold`; only `available` of those moved): the next batch
                    // needs no read of it, nor of the line.
                    let total: i64 = admit.iter().map(|entry| entry.quantity).sum();
                    ticket.available -= total;
                    ticket.reserved += total;
                    ticket.admitted_entries += count(admit.len());
                    from += plan.admit.len() + plan.sold_out.len();
                    room -= plan.admit.len();
                    if ticket.available <= 0 || room == 0 || started.elapsed() >= ADMIT_BATCHES_FOR
                    {
                        return Ok(Advanced::moved());
                    }
                }
                // Another instance admitted them, or the replica moved: look again.
                Admitted::Moved => {
                    moved = true;
                    break;
                }
            }
        }
        if from > 0 {
            return Ok(Advanced::moved());
        }
    }
    Ok(Advanced::moved())
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(quantity: i64) -> QueueEntry {
        QueueEntry {
            pk: String::new(),
            entity: "queue-entry".to_owned(),
            ticket_id: String::new(),
            user_id: String::new(),
            quantity,
            state: QueueState::Waiting,
            place: String::new(),
            joined_at: String::new(),
            admitted_until: None,
            admitted_until_unix: None,
            order_id: None,
            gsi1pk: None,
            gsi1sk: None,
        }
    }

    #[test]
    fn admissions_stop_at_the_first_entry_that_does_not_fit_yet() {
        let head = [entry(2), entry(3), entry(1)];
        assert_eq!(
            plan(&head, 4, 10, 10),
            Plan {
                admit: vec![0],
                sold_out: vec![]
            }
        );
    }

    #[test]
    fn admissions_stop_when_as_many_are_open_as_may_be() {
        let head = [entry(1), entry(1), entry(9), entry(1)];
        assert_eq!(
            plan(&head, 10, 5, 1),
            Plan {
                admit: vec![0],
                sold_out: vec![]
            }
        );
        assert_eq!(plan(&head, 10, 5, 0), Plan::default());
    }

    #[test]
    fn an_entry_wanting_more_than_could_ever_come_back_is_sold_out_and_skipped() {
        let head = [entry(5), entry(1)];
        assert_eq!(
            plan(&head, 2, 3, 10),
            Plan {
                admit: vec![1],
                sold_out: vec![0]
            }
        );
    }

    #[test]
    fn lapses_are_looked_for_again_when_the_first_admission_read_ends() {
        let window = Admission::new(Duration::from_secs(120));
        assert_eq!(lapse_bound(Some(1_000), 950, window), 1_001);
    }

    #[test]
    fn lapses_are_looked_for_again_in_time_for_an_admission_being_written_during_the_read() {
        let window = Admission::new(Duration::from_secs(120));
        let bound = lapse_bound(None, 900, window);
        assert_eq!(bound, 900 + 120 - ADMISSION_IN_FLIGHT);
        assert_eq!(lapse_bound(Some(2_000), 900, window), bound);
    }

    #[test]
    fn with_a_window_shorter_than_a_write_in_flight_every_advance_looks_for_lapses() {
        let window = Admission::new(Duration::from_secs(5));
        assert!(lapse_bound(Some(1_000), 900, window) <= 900);
    }

    #[test]
    fn late_places_sort_after_every_fair_place() {
        let fair = fair_place("00ff", "someone");
        assert_eq!(fair.len(), 64);
        assert!(fair.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(late_place() > "f".repeat(64));
    }
}
