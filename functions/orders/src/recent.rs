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
//!
//! Readers that miss at the same moment share one read ([`Recent::read`]): under a crowd a read
//! can take longer than [`FRESH`], and without sharing every reader arriving meanwhile would read
//! too, which slows the next read further, until nothing is shared at all.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use shared::error::ApiError;
use tokio::sync::watch;

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
    /// The read under way that readers who miss wait for, if it began since the last forgetting.
    reading: Option<Reading<T>>,
}

/// A read under way: its outcome, once there is one (an error as [`Failed`]). Its sender is
/// dropped without an outcome if the reader was cancelled (its request ran out of time).
type Outcome<T> = Option<Result<(T, Instant), Failed>>;

/// A shared read's error, for each reader that waited for it: of the same kind (a dependency
/// unavailable or a bug), with the same cause.
#[derive(Debug, Clone)]
struct Failed {
    unavailable: bool,
    cause: String,
}

impl From<&ApiError> for Failed {
    fn from(err: &ApiError) -> Self {
        match err {
            ApiError::Internal(cause) => Self {
                unavailable: false,
                cause: cause.to_string(),
            },
            ApiError::Unavailable(cause) => Self {
                unavailable: true,
                cause: cause.to_string(),
            },
            other => Self {
                unavailable: true,
                cause: other.to_string(),
            },
        }
    }
}

impl From<Failed> for ApiError {
    fn from(failed: Failed) -> Self {
        if failed.unavailable {
            Self::unavailable(failed.cause)
        } else {
            Self::internal(failed.cause)
        }
    }
}

impl<T> Kept<T> {
    fn empty() -> Self {
        Self {
            value: None,
            forgotten: 0,
            touched: Instant::now(),
            reading: None,
        }
    }
}

/// What a reader who missed does: read and share, or wait for the read under way.
enum Share<T> {
    Lead(Ticket, watch::Sender<Outcome<T>>),
    Follow(watch::Receiver<Outcome<T>>),
}

struct Reading<T> {
    forgotten: u64,
    outcome: watch::Receiver<Outcome<T>>,
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

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<T: Clone> Recent<T> {
    /// The listing's value, if its read began less than [`FRESH`] ago; otherwise the ticket to
    /// keep it with once read.
    pub fn get(&self, ticket_id: &str) -> Result<T, Ticket> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = Instant::now();
        match kept.get(ticket_id) {
            Some(Kept {
                value: Some((value, read)),
                ..
            }) if read.elapsed() < FRESH => Ok(value.clone()),
            Some(kept) => Err(Ticket {
                forgotten: kept.forgotten,
                at,
            }),
            None => Err(Ticket { forgotten: 0, at }),
        }
    }

    /// The listing's value as kept, if its read began less than `age` ago: for a value whose
    /// reader knows it changes less often than [`FRESH`] allows for.
    pub fn kept_within(&self, ticket_id: &str, age: Duration) -> Option<T> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get(ticket_id)?
            .value
            .as_ref()
            .filter(|(_, read)| read.elapsed() < age)
            .map(|(value, _)| value.clone())
    }

    /// The listing's value and when its read began: as kept, if fresh; else from the read another
    /// reader has under way (one that began since the listing was last forgotten); else read with
    /// `read` (and kept, unless forgotten meanwhile) while the readers arriving meanwhile wait
    /// for it.
    pub async fn read<F, Fut>(&self, ticket_id: &str, read: F) -> Result<(T, Instant), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        loop {
            let mut under_way = match self.lead_or_follow(ticket_id) {
                Ok(kept) => return Ok(kept),
                Err(Share::Lead(ticket, sender)) => {
                    let outcome = read().await.map(|value| (value, ticket.at));
                    if let Ok((value, _)) = &outcome {
                        self.keep(ticket_id, ticket, value.clone());
                    }
                    // Nobody may be waiting: then there is no one to tell.
                    let _ = sender.send(Some(
                        outcome
                            .as_ref()
                            .map(|(value, at)| (value.clone(), *at))
                            .map_err(Failed::from),
                    ));
                    return outcome;
                }
                Err(Share::Follow(under_way)) => under_way,
            };
            let shared = under_way
                .wait_for(Option::is_some)
                .await
                .map(|outcome| outcome.clone());
            match shared {
                Ok(Some(Ok(value))) => return Ok(value),
                Ok(Some(Err(failed))) => return Err(failed.into()),
                Ok(None) => {
                    return Err(ApiError::internal("a shared read ended without its value"));
                }
                // The reader was cancelled: read anew, perhaps as the one reading.
                Err(_) => {}
            }
        }
    }

    /// The value if fresh; otherwise whether to read (with the ticket to keep it with, and the
    /// sender to share it by) or to wait for the read under way.
    fn lead_or_follow(&self, ticket_id: &str) -> Result<(T, Instant), Share<T>> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let listing = kept.entry(ticket_id.to_owned()).or_insert_with(Kept::empty);
        if let Some((value, read)) = &listing.value
            && read.elapsed() < FRESH
        {
            return Ok((value.clone(), *read));
        }
        let under_way = listing
            .reading
            .as_ref()
            .filter(|reading| reading.forgotten == listing.forgotten)
            .map(|reading| reading.outcome.clone())
            // A reader that was cancelled leaves no outcome: read anew.
            .filter(|outcome| outcome.has_changed().is_ok());
        if let Some(outcome) = under_way {
            return Err(Share::Follow(outcome));
        }
        let (sender, outcome) = watch::channel(None);
        listing.reading = Some(Reading {
            forgotten: listing.forgotten,
            outcome,
        });
        let ticket = Ticket {
            forgotten: listing.forgotten,
            at: Instant::now(),
        };
        Err(Share::Lead(ticket, sender))
    }

    /// Keeps the listing's value as read after `ticket` was given, unless it was forgotten since.
    /// Listings untouched for [`REMEMBERED`] are dropped meanwhile.
    pub fn keep(&self, ticket_id: &str, ticket: Ticket, value: T) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|_, kept| kept.touched.elapsed() < REMEMBERED);
        let listing = kept.entry(ticket_id.to_owned()).or_insert_with(Kept::empty);
        if listing.forgotten == ticket.forgotten {
            listing.value = Some((value, ticket.at));
            listing.touched = Instant::now();
        }
    }

    /// Forgets the listing's value: it is known to have changed.
    pub fn forget(&self, ticket_id: &str) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = kept.entry(ticket_id.to_owned()).or_insert_with(Kept::empty);
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

    /// A read that takes `pause`, counting how many times it ran.
    async fn counted(
        runs: &std::sync::atomic::AtomicUsize,
        pause: Duration,
    ) -> Result<u32, ApiError> {
        let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(pause).await;
        Ok(u32::try_from(run).expect("few runs"))
    }

    #[tokio::test]
    async fn readers_who_miss_at_once_share_one_read() {
        let recent = Recent::default();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let pause = Duration::from_millis(100);
        let reads = (0..20).map(|_| recent.read("t", || counted(&runs, pause)));
        let values: Vec<u32> = futures::future::join_all(reads)
            .await
            .into_iter()
            .map(|read| read.expect("read").0)
            .collect();
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(values, vec![0; 20]);
        // Kept, and read again once no longer fresh.
        assert_eq!(recent.get("t").ok(), Some(0));
        tokio::time::sleep(FRESH).await;
        assert_eq!(
            recent
                .read("t", || counted(&runs, pause))
                .await
                .expect("read")
                .0,
            1
        );
    }

    #[tokio::test]
    async fn a_reader_arriving_after_a_forgetting_does_not_wait_for_the_read_begun_before() {
        let recent = Recent::default();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let pause = Duration::from_millis(100);
        let before = recent.read("t", || counted(&runs, pause));
        let after = async {
            tokio::time::sleep(pause / 4).await;
            recent.forget("t");
            recent.read("t", || counted(&runs, pause)).await
        };
        let (before, after) = tokio::join!(before, after);
        assert_eq!(before.expect("read").0, 0);
        assert_eq!(after.expect("read").0, 1);
        assert_eq!(recent.get("t").ok(), Some(1), "only the read since is kept");
    }

    #[tokio::test]
    async fn a_reader_left_without_an_answer_by_a_cancelled_read_reads_itself() {
        let recent = Recent::default();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let pause = Duration::from_millis(100);
        let cancelled = tokio::time::timeout(pause / 2, recent.read("t", || counted(&runs, pause)));
        let waiting = async {
            tokio::time::sleep(pause / 4).await;
            recent.read("t", || counted(&runs, pause)).await
        };
        let (cancelled, waiting) = tokio::join!(cancelled, waiting);
        assert!(cancelled.is_err(), "ran out of time");
        assert_eq!(waiting.expect("read").0, 1);
    }
}
