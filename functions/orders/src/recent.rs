//! What an instance read of a listing a moment ago, so that a crowd reading one drop's queue does
//! not read the same item once per buyer.
//!
//! A queue read needs the buyer's own entry (read again unless the head of the line shows it
//! still waits: `Positions::still_waiting`) and things every reader of the listing shares: the
//! listing's replica and the head of its line. Those are kept for [`FRESH`]: at a few hundred reads a second on one instance, that turns
//! hundreds of reads of one item into four. What a buyer sees from them (a position, an estimate,
//! `sold-out` while waiting) is then at most that much older, well under the pace at which a
//! storefront reads again. Anything that decides (an admission, a hold) is a condition in DynamoDB
//! on the item as read, so a value a moment old can fail a condition but never break one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a value read is used for every reader of its listing on this instance.
pub const FRESH: Duration = Duration::from_millis(250);

/// A value kept for [`FRESH`] per listing.
///
/// A read that was under way when the listing was forgotten may have read it as it was before:
/// its value is not kept. So a reader asks for a [`Ticket`] before it reads, and keeps the value
/// with it.
pub struct Recent<T>(Mutex<HashMap<String, Kept<T>>>);

struct Kept<T> {
    /// The value, and when its read began.
    value: Option<(T, Instant)>,
    /// How many times the listing was forgotten.
    forgotten: u64,
    /// When it was last kept or forgotten.
    touched: Instant,
}

/// How long a listing neither kept nor forgotten stays in the map: longer than any read (each has
/// its deadline), so that a read that began before a forgetting still finds it.
const REMEMBERED: Duration = Duration::from_secs(60);

/// When a read began, for [`Recent::keep`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    forgotten: u64,
    at: Instant,
}

impl Ticket {
    /// When the read this ticket was given for began.
    pub fn began(self) -> Instant {
        self.at
    }
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<T: Clone> Recent<T> {
    /// The listing's value, if its read began less than [`FRESH`] ago; otherwise the ticket to
    /// keep it with once read.
    pub fn get(&self, ticket_id: &str) -> Result<T, Ticket> {
        self.get_read(ticket_id).map(|(value, _)| value)
    }

    /// [`Recent::get`], with when the value's read began.
    pub fn get_read(&self, ticket_id: &str) -> Result<(T, Instant), Ticket> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = Instant::now();
        match kept.get(ticket_id) {
            Some(Kept {
                value: Some((value, read)),
                ..
            }) if read.elapsed() < FRESH => Ok((value.clone(), *read)),
            Some(kept) => Err(Ticket {
                forgotten: kept.forgotten,
                at,
            }),
            None => Err(Ticket { forgotten: 0, at }),
        }
    }

    /// Keeps the listing's value as read after `ticket` was given, unless it was forgotten since.
    /// Listings untouched for [`REMEMBERED`] are dropped meanwhile.
    pub fn keep(&self, ticket_id: &str, ticket: Ticket, value: T) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|_, kept| kept.touched.elapsed() < REMEMBERED);
        let forgotten = kept.get(ticket_id).map_or(0, |kept| kept.forgotten);
        if forgotten == ticket.forgotten {
            kept.insert(
                ticket_id.to_owned(),
                Kept {
                    value: Some((value, ticket.at)),
                    forgotten,
                    touched: Instant::now(),
                },
            );
        }
    }

    /// Forgets the listing's value: it is known to have changed.
    pub fn forget(&self, ticket_id: &str) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = kept.entry(ticket_id.to_owned()).or_insert(Kept {
            value: None,
            forgotten: 0,
            touched: Instant::now(),
        });
        entry.value = None;
        entry.forgotten += 1;
        entry.touched = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_given_back_until_it_is_no_longer_fresh() {
        let recent = Recent::default();
        let ticket = recent.get("t").expect_err("nothing kept yet");
        recent.keep("t", ticket, 7);
        assert_eq!(recent.get("t").ok(), Some(7));
        assert!(recent.get("other").is_err());
        std::thread::sleep(FRESH + Duration::from_millis(20));
        assert!(recent.get("t").is_err());
    }

    #[test]
    fn a_value_read_while_it_was_forgotten_is_not_kept() {
        let recent = Recent::default();
        let before = recent.get("t").expect_err("nothing kept yet");
        recent.forget("t");
        recent.keep("t", before, 7);
        assert!(recent.get("t").is_err(), "read before it changed");
        let after = recent.get("t").expect_err("nothing kept");
        recent.keep("t", after, 8);
        assert_eq!(recent.get("t").ok(), Some(8));
        recent.forget("t");
        assert!(recent.get("t").is_err());
    }
}
