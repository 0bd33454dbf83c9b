//! Where a waiting buyer stands in a drop's line, without counting the line on every read.
//!
//! Counting the entries ahead of a place reads every one of them: at place 20,000 that is about
//! 5 MB per read, and a crowd reads every few seconds. Each instance instead keeps every listing's
//! line as it last read it: the sorted places (index sort keys) of the entries that waited in it.
//! A position is then the distance, in that list, from the first entry still waiting to the
//! buyer's place, and a read costs at most one key read (the head of the line, shared by the
//! instance's readers for [`crate::recent::FRESH`]) besides the buyer's entry.
//!
//! This is exact because of how a line changes once admissions start ([`admitting_from`]):
//! entries leave it only from its front (an advance admits, or finds sold out, a prefix of the
//! head: `queue::plan`), and entries join only at its back (`~` and a time-ordered id). So the
//! list only ever needs what joined since it was read, a query for places after the last one it
//! holds. A place is written a moment after it is made, so a join can land just behind one
//! already read: every second the list also reads again, in the background, the last
//! [`STRAGGLERS`] of joins.
//! Before admissions start, pre-sale places land anywhere (their order is the seed's) and none
//! leaves: the list is read whole in the background at most once a [`REREAD`] per
//! [`WHOLE_READ_PLACES`] places (a whole read of a long line is DynamoDB's heaviest call here), what
//! it finds is added, and a buyer's own place is added as soon as it is known, so what a pre-sale
//! position misses is a few seconds of other instances' joins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use shared::error::ApiError;

use crate::queue::{InLine, QueueEntry, admitting_from};
use crate::recent::Recent;
use crate::store::Orders;

/// How stale a listing's list may get before it is read again (whole before admissions start,
/// the joins of the last [`STRAGGLERS`] after).
const REREAD: Duration = Duration::from_secs(1);

/// A pre-sale line is read whole at most once a [`REREAD`] per this many places in it: DynamoDB
/// Local took 0.8 s to return the 20,000 places of one line (keys only, measured alone), so a read
/// every second from each instance would take most of its time during a big drop's pre-sale.
const WHOLE_READ_PLACES: usize = 2_000;

/// How far back the periodic read looks for joins that landed behind places already read.
const STRAGGLERS: Duration = Duration::from_secs(1);

/// A listing's list unread for this long is forgotten: its drop is over, or read elsewhere.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// Each listing's line as this instance last read it, and the head of each line as read a moment
/// ago ([`crate::recent`]).
#[derive(Default)]
pub struct Positions {
    lines: Mutex<HashMap<String, Listed>>,
    heads: Recent<Option<String>>,
}

struct Listed {
    line: Arc<tokio::sync::Mutex<Line>>,
    used_at: Instant,
    /// Buyers' entries last read waiting, and when that read ended ([`Positions::still_waiting`]).
    waiting: HashMap<String, (QueueEntry, Instant)>,
}

#[derive(Default)]
struct Line {
    /// The places read, and added since, in line order.
    places: Vec<String>,
    /// The entries read waiting, by buyer, and when the read that found each ended
    /// ([`Positions::still_waiting`]).
    entries: HashMap<String, (InLine, Instant)>,
    /// Read whole once admissions had started: from then on the line only grows at its back.
    settled: bool,
    /// When it was last read whole or for stragglers.
    read_at: Option<Instant>,
    /// When the last read for stragglers was made, as Unix milliseconds: the next one reaches back
    /// [`STRAGGLERS`] before it.
    read_at_ms: i64,
    /// A read is under way in the background.
    rereading: bool,
}

impl Line {
    fn index(&self, place: &str) -> usize {
        self.places.partition_point(|p| p.as_str() < place)
    }

    fn holds(&self, place: &str) -> bool {
        self.places
            .get(self.index(place))
            .is_some_and(|p| p == place)
    }

    fn is_beyond(&self, place: &str) -> bool {
        self.places.last().is_none_or(|last| place > last.as_str())
    }

    /// Adds the entries of a read that ended at `read` (in line order, as a query returns them):
    /// the places it lacks, and each buyer's entry.
    fn merge(&mut self, read: Vec<InLine>, at: Instant) {
        for entry in read {
            self.add_place(&entry.place);
            self.entries.insert(entry.user_id.clone(), (entry, at));
        }
    }

    /// Replaces everything with a read of the whole line that ended at `read`.
    fn replace(&mut self, read: Vec<InLine>, at: Instant) {
        self.places = read.iter().map(|entry| entry.place.clone()).collect();
        self.entries = read
            .into_iter()
            .map(|entry| (entry.user_id.clone(), (entry, at)))
            .collect();
    }

    /// Adds a place it lacks.
    fn add_place(&mut self, place: &str) {
        if self.is_beyond(place) {
            self.places.push(place.to_owned());
        } else if !self.holds(place) {
            let at = self.index(place);
            self.places.insert(at, place.to_owned());
        }
    }

    fn is_stale(&self) -> bool {
        let every = if self.settled {
            REREAD
        } else {
            let per = u32::try_from(self.places.len() / WHOLE_READ_PLACES).unwrap_or(u32::MAX);
            REREAD * per.max(1)
        };
        self.read_at.is_none_or(|at| at.elapsed() >= every)
    }
}

impl Listed {
    fn new() -> Self {
        Self {
            line: Arc::default(),
            used_at: Instant::now(),
            waiting: HashMap::new(),
        }
    }
}

impl Positions {
    /// How many entries wait ahead of the waiting entry at `place` in the line of the listing
    /// `ticket_id`, selling from `on_sale` (Unix seconds), at `now`.
    pub async fn ahead(
        &self,
        orders: &Orders,
        ticket_id: &str,
        on_sale: i64,
        place: &str,
        now: i64,
    ) -> Result<i64, ApiError> {
        let listed = self.listed(ticket_id);
        if now < admitting_from(on_sale) {
            let mut line = listed.lock().await;
            if line.read_at.is_none() || line.settled {
                let read = orders.line_places(ticket_id, None).await?;
                line.replace(read, Instant::now());
                line.settled = false;
                line.read_at = Some(Instant::now());
            } else if line.is_stale() && !line.rereading {
                // Read again in the background: a join or read does not wait for the whole
                // line. Nothing leaves a line before admissions start, so what it finds is added.
                line.rereading = true;
                tokio::spawn(reread(
                    orders.clone(),
                    ticket_id.to_owned(),
                    None,
                    listed.clone(),
                ));
            }
            line.add_place(place);
            return Ok(count(line.index(place)));
        }
        // Read before the list is locked, so that readers do not queue behind each other's head
        // reads; the head only moves back if the list is behind, which the reads below repair.
        let (head, _) = self.head(orders, ticket_id).await?;
        let mut line = listed.lock().await;
        if !line.settled {
            let read = orders.line_places(ticket_id, None).await?;
            line.replace(read, Instant::now());
            line.settled = true;
            line.read_at = Some(Instant::now());
            line.read_at_ms = shared::time::unix_now_ms();
        } else if line.is_stale() && !line.rereading {
            line.rereading = true;
            let since = late_place_before(line.read_at_ms - millis(STRAGGLERS));
            tokio::spawn(reread(
                orders.clone(),
                ticket_id.to_owned(),
                Some(since),
                listed.clone(),
            ));
        }
        // A buyer (or head) that joined since the list was read: the joins since its last place.
        // Concurrent readers wait here for one read instead of making one each.
        if line.is_beyond(place) || head.as_deref().is_some_and(|head| line.is_beyond(head)) {
            let last = line.places.last().cloned();
            let joined = orders.line_places(ticket_id, last.as_deref()).await?;
            line.merge(joined, Instant::now());
        }
        // Its put may not be in the index yet: it is where its place says.
        line.add_place(place);
        let first = head.map_or_else(|| line.index(place), |head| line.index(&head));
        Ok(count(line.index(place).saturating_sub(first)))
    }

    /// The head of the listing's line moved (this instance let entries in).
    pub fn forget_head(&self, ticket_id: &str) {
        self.heads.forget(ticket_id);
    }

    /// The place of the first entry waiting in the listing's line, as read a moment ago (read now
    /// if that is older), and when that read began.
    async fn head(
        &self,
        orders: &Orders,
        ticket_id: &str,
    ) -> Result<(Option<String>, Instant), ApiError> {
        self.heads
            .read(ticket_id, || orders.line_head(ticket_id))
            .await
    }

    /// Remembers a buyer's entry, read (or written) waiting before `read`.
    pub fn remember(&self, ticket_id: &str, entry: &QueueEntry, read: Instant) {
        let mut lists = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let listed = lists
            .entry(ticket_id.to_owned())
            .or_insert_with(Listed::new);
        // Only what a waiting entry's answer shows: about 200 bytes a buyer.
        let entry = QueueEntry {
            pk: String::new(),
            entity: String::new(),
            gsi1pk: None,
            gsi1sk: None,
            ..entry.clone()
        };
        listed.waiting.insert(entry.user_id.clone(), (entry, read));
    }

    /// The buyer's entry as last read here, or as a read of the line found it, if it is certainly
    /// still waiting, without reading it: a crowd far back in line reads every few seconds, and
    /// its entries do not change. So a buyer's first read on an instance that read the line
    /// (pre-sale buyers all read at once when admissions start) costs no read of its own either.
    ///
    /// A waiting entry changes only when it leaves the line, and entries leave a line only from its
    /// front (`queue::plan`; a join does not replace an entry that waits). So if the head of the
    /// line, read after the entry was seen waiting, is not past the entry's place, the entry still
    /// waits. Before admissions start (with a second to spare for another instance's clock) nothing
    /// leaves at all. One case is not covered: a pre-sale join whose put lands after admissions
    /// began can become the head ahead of an entry already admitted, which is then shown waiting
    /// until that join is admitted too, at the next advance.
    pub async fn still_waiting(
        &self,
        orders: &Orders,
        ticket_id: &str,
        user_id: &str,
        on_sale: i64,
        now: i64,
    ) -> Result<Option<QueueEntry>, ApiError> {
        let remembered = {
            let lists = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            lists
                .get(ticket_id)
                .and_then(|listed| listed.waiting.get(user_id).cloned())
        };
        let remembered = match remembered {
            Some(remembered) => Some(remembered),
            // Found waiting by a read of the line, if this instance read it.
            None => self
                .listed(ticket_id)
                .lock()
                .await
                .entries
                .get(user_id)
                .map(|(entry, seen)| (entry.entry(ticket_id), *seen)),
        };
        let Some((entry, seen)) = remembered else {
            return Ok(None);
        };
        if now + 1 < admitting_from(on_sale) {
            return Ok(Some(entry));
        }
        let (head, read) = self.head(orders, ticket_id).await?;
        if read >= seen && head.is_some_and(|head| head <= entry.place) {
            return Ok(Some(entry));
        }
        let line = {
            let mut lists = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            lists.get_mut(ticket_id).map(|listed| {
                listed.waiting.remove(user_id);
                Arc::clone(&listed.line)
            })
        };
        if let Some(line) = line {
            line.lock().await.entries.remove(user_id);
        }
        Ok(None)
    }

    /// The listing's list, made empty if new; lists unused for [`FORGET_AFTER`] are dropped.
    fn listed(&self, ticket_id: &str) -> Arc<tokio::sync::Mutex<Line>> {
        let mut lists = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lists.retain(|_, listed| listed.used_at.elapsed() < FORGET_AFTER);
        let listed = lists
            .entry(ticket_id.to_owned())
            .or_insert_with(Listed::new);
        listed.used_at = Instant::now();
        Arc::clone(&listed.line)
    }
}

/// Reads in the background a line's places after `after` (whole for `None`) and adds what it
/// finds to the list: nobody waits for it. Adding is right whatever happened meanwhile: what is
/// found waiting was waiting, and the list keeps the places that left ahead of the head anyway.
async fn reread(
    orders: Orders,
    ticket_id: String,
    after: Option<String>,
    line: Arc<tokio::sync::Mutex<Line>>,
) {
    let started_ms = shared::time::unix_now_ms();
    let read = orders.line_places(&ticket_id, after.as_deref()).await;
    let mut line = line.lock().await;
    line.rereading = false;
    match read {
        Ok(places) => {
            line.merge(places, Instant::now());
            line.read_at = Some(Instant::now());
            line.read_at_ms = started_ms;
        }
        // The list stays as it was; the next read tries again.
        Err(err) => tracing::warn!(ticket = ticket_id, error = %err, "line not read"),
    }
}

/// A place that sorts before every post-sale place made from `unix_ms` on: `~` and the time
/// prefix of a UUIDv7 (48 bits of milliseconds) with the rest zero.
fn late_place_before(unix_ms: i64) -> String {
    let ms = u64::try_from(unix_ms.max(0)).unwrap_or(0) & 0xffff_ffff_ffff;
    format!(
        "~{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::late_place;

    #[test]
    fn a_bound_made_a_second_ago_sorts_before_a_place_made_now_and_after_every_pre_sale_place() {
        let bound = late_place_before(shared::time::unix_now_ms() - 1_000);
        assert!(bound < late_place());
        assert!(bound > "f".repeat(64));
        assert!(late_place_before(shared::time::unix_now_ms() + 60_000) > late_place());
    }

    #[test]
    fn merging_keeps_places_in_line_order_once_each() {
        let in_line = |place: &str| InLine {
            place: place.to_owned(),
            user_id: format!("buyer {place}"),
            quantity: 1,
            joined_at: String::new(),
        };
        let mut line = Line::default();
        line.merge(vec![in_line("b"), in_line("d")], Instant::now());
        line.merge(["a", "c", "d", "e"].map(in_line).to_vec(), Instant::now());
        line.add_place("c");
        assert_eq!(line.places, ["a", "b", "c", "d", "e"]);
        assert_eq!(line.entries.len(), 5);
        assert_eq!(line.index("c"), 2);
        assert!(line.is_beyond("f"));
        assert!(!line.holds("bb"));
    }
}
