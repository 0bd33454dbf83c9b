//! The per-account limit on sign-in attempts.
//!
//! NGINX limits attempts per client address; this limits them per account, whoever makes them. Each
//! email (lower-cased, whether or not it has an account, so that the limit says nothing about which
//! addresses are registered) has at most one item `signin#<email>` in the users table: the attempts
//! since the last successful sign-in, when the latest was, and until when the account is locked.
//!
//! An attempt is counted *before* its password is checked, by a conditional write on the item as it
//! was read: of two simultaneous attempts exactly one is counted first, the other is decided again
//! on what that one wrote. So a burst of guesses cannot slip past the limit between a check and a
//! count, and a guess is never checked uncounted. A successful sign-in deletes the item.
//!
//! The first [`FREE_ATTEMPTS`] attempts go through. The last of them, and every later one, locks the
//! account for a delay that doubles each time, from 1 s to at most 5 minutes; while locked, every
//! attempt is refused unchecked (even with the right password, or guessing would go on) and is not
//! counted. A stranger can therefore keep an account locked only in stretches of at most 5 minutes,
//! and gets one guess per stretch; the owner waits at most that long. A streak with no attempt for
//! [`FORGET_AFTER_MS`] is forgotten.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde::{Deserialize, Serialize};
use shared::dynamo::{self, PK, aws_sdk_dynamodb};
use shared::error::ApiError;

use crate::credentials::Email;

/// Attempts that are never delayed.
pub const FREE_ATTEMPTS: u32 = 10;
/// The lock after the [`FREE_ATTEMPTS`]th attempt; each later attempt doubles it.
pub const FIRST_LOCK_MS: i64 = 1_000;
/// The longest lock: how long a stranger can keep the owner out at a time.
pub const LONGEST_LOCK_MS: i64 = 5 * 60 * 1_000;
/// A streak with no attempt for this long starts again from zero.
pub const FORGET_AFTER_MS: i64 = 15 * 60 * 1_000;
/// Conditional writes one attempt may lose to simultaneous attempts on the same account before it
/// is refused: that many at once on one account is itself an attack.
const COUNT_TRIES: usize = 8;

/// An account's attempts since its last successful sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    pub attempts: u32,
    /// Unix milliseconds of the latest counted attempt.
    pub last_attempt_ms: i64,
    /// Unix milliseconds before which every attempt is refused; 0 when not locked.
    pub locked_until_ms: i64,
}

/// What to do with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refuse it unchecked; the account is locked for this many more seconds (at least 1).
    Refuse { retry_after_secs: u64 },
    /// Count it, leaving the streak like this, and check the password.
    Count(Streak),
}

/// The rule, on the streak as stored (`None`: no item).
pub fn decide(current: Option<&Streak>, now_ms: i64) -> Decision {
    if let Some(streak) = current
        && streak.locked_until_ms > now_ms
    {
        let wait_ms = streak.locked_until_ms - now_ms;
        return Decision::Refuse {
            retry_after_secs: u64::try_from((wait_ms + 999) / 1_000).unwrap_or(1).max(1),
        };
    }
    let before = current
        .filter(|streak| now_ms - streak.last_attempt_ms < FORGET_AFTER_MS)
        .map_or(0, |streak| streak.attempts);
    let attempts = before.saturating_add(1);
    let locked_until_ms = if attempts >= FREE_ATTEMPTS {
        now_ms + lock_ms(attempts - FREE_ATTEMPTS)
    } else {
        0
    };
    Decision::Count(Streak {
        attempts,
        last_attempt_ms: now_ms,
        locked_until_ms,
    })
}

/// 1 s, 2 s, 4 s … 5 min.
fn lock_ms(beyond_free: u32) -> i64 {
    FIRST_LOCK_MS
        .saturating_mul(1 << beyond_free.min(20))
        .min(LONGEST_LOCK_MS)
}

/// Whether an attempt may check its password.
#[derive(Debug, PartialEq, Eq)]
pub enum Counted {
    Yes,
    /// Too many attempts on this account: answer 429 with this `Retry-After`.
    Refused {
        retry_after_secs: u64,
    },
}

/// The item as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreakItem {
    pk: String,
    entity: String,
    attempts: u32,
    last_attempt_ms: i64,
    locked_until_ms: i64,
    /// Unix seconds after which the streak is forgotten anyway: for DynamoDB TTL, garbage collection
    /// only (the rule above does not depend on the item being gone).
    ttl: i64,
}

impl StreakItem {
    fn new(key: String, streak: Streak) -> Self {
        Self {
            pk: key,
            entity: "sign-in-attempts".to_owned(),
            attempts: streak.attempts,
            last_attempt_ms: streak.last_attempt_ms,
            locked_until_ms: streak.locked_until_ms,
            ttl: (streak.last_attempt_ms + FORGET_AFTER_MS) / 1_000 + 1,
        }
    }

    fn streak(&self) -> Streak {
        Streak {
            attempts: self.attempts,
            last_attempt_ms: self.last_attempt_ms,
            locked_until_ms: self.locked_until_ms,
        }
    }
}

fn key(email: &Email) -> String {
    format!("signin#{email}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The streaks, in the users table.
#[derive(Clone)]
pub struct Attempts {
    client: Client,
    table: String,
}

impl Attempts {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Counts one attempt on `email`, or refuses it while the account is locked.
    pub async fn count(&self, email: &Email) -> Result<Counted, ApiError> {
        let key = key(email);
        // The first write assumes there is no streak, which is the usual case for the owner (a
        // success deletes it); when there is one, the failed condition hands back the item as it is.
        let mut current: Option<Streak> = None;
        for _ in 0..COUNT_TRIES {
            let next = match decide(current.as_ref(), now_ms()) {
                Decision::Refuse { retry_after_secs } => {
                    return Ok(Counted::Refused { retry_after_secs });
                }
                Decision::Count(next) => next,
            };
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(dynamo::item_of(&StreakItem::new(key.clone(), next))?))
                .expression_attribute_names("#pk", PK)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let put = match current {
                None => put.condition_expression("attribute_not_exists(#pk)"),
                Some(read) => put
                    .condition_expression(
                        "attribute_exists(#pk) AND attempts = :attempts \
                         AND lastAttemptMs = :last AND lockedUntilMs = :until",
                    )
                    .expression_attribute_values(":attempts", dynamo::n(i64::from(read.attempts)))
                    .expression_attribute_values(":last", dynamo::n(read.last_attempt_ms))
                    .expression_attribute_values(":until", dynamo::n(read.locked_until_ms)),
            };
            match put.send().await {
                Ok(_) => return Ok(Counted::Yes),
                Err(err) if dynamo::is_condition_failure(&err) => {
                    let old = match err.as_service_error() {
                        Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                            failed.item().cloned()
                        }
                        _ => None,
                    };
                    current = match old {
                        Some(item) => Some(dynamo::parse_item::<StreakItem>(item)?.streak()),
                        // Deleted in between by a successful sign-in.
                        None => None,
                    };
                }
                Err(err) => return Err(dynamo::sdk_error(err)),
            }
        }
        Ok(Counted::Refused {
            retry_after_secs: 1,
        })
    }

    /// Forgets the streak: the owner signed in.
    pub async fn clear(&self, email: &Email) -> Result<(), ApiError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, dynamo::s(key(email)))
            .send()
            .await
            .map_err(dynamo::sdk_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn counted(decision: Decision) -> Streak {
        match decision {
            Decision::Count(streak) => streak,
            Decision::Refuse { .. } => panic!("expected the attempt to be counted"),
        }
    }

    #[test]
    fn the_first_attempts_are_counted_without_a_lock() {
        let mut streak = None;
        for attempt in 1..FREE_ATTEMPTS {
            let next = counted(decide(streak.as_ref(), NOW));
            assert_eq!(next.attempts, attempt);
            assert_eq!(next.locked_until_ms, 0);
            streak = Some(next);
        }
    }

    #[test]
    fn the_tenth_attempt_locks_for_a_second_and_each_later_one_doubles_it_up_to_five_minutes() {
        let mut streak = Streak {
            attempts: FREE_ATTEMPTS - 1,
            last_attempt_ms: NOW,
            locked_until_ms: 0,
        };
        let mut now = NOW;
        let mut locks = Vec::new();
        for _ in 0..12 {
            streak = counted(decide(Some(&streak), now));
            locks.push((streak.locked_until_ms - now) / 1_000);
            now = streak.locked_until_ms;
        }
        assert_eq!(locks, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn while_locked_every_attempt_is_refused_with_the_time_left() {
        let streak = Streak {
            attempts: 12,
            last_attempt_ms: NOW,
            locked_until_ms: NOW + 4_000,
        };
        assert_eq!(
            decide(Some(&streak), NOW + 1),
            Decision::Refuse {
                retry_after_secs: 4
            }
        );
        assert_eq!(
            decide(Some(&streak), NOW + 3_999),
            Decision::Refuse {
                retry_after_secs: 1
            }
        );
        let after = counted(decide(Some(&streak), NOW + 4_000));
        assert_eq!(after.attempts, 13);
        assert_eq!(after.locked_until_ms, NOW + 4_000 + 8_000);
    }

    #[test]
    fn a_streak_left_alone_for_fifteen_minutes_is_forgotten() {
        let streak = Streak {
            attempts: 30,
            last_attempt_ms: NOW,
            locked_until_ms: NOW + LONGEST_LOCK_MS,
        };
        let later = counted(decide(Some(&streak), NOW + FORGET_AFTER_MS));
        assert_eq!(later.attempts, 1);
        assert_eq!(later.locked_until_ms, 0);
        let sooner = counted(decide(Some(&streak), NOW + FORGET_AFTER_MS - 1));
        assert_eq!(sooner.attempts, 31);
    }

    #[test]
    fn the_item_lives_until_its_streak_is_forgotten() {
        let streak = counted(decide(None, NOW));
        let item = StreakItem::new("signin#a@b.co".into(), streak);
        assert_eq!(item.streak(), streak);
        assert!(item.ttl * 1_000 >= NOW + FORGET_AFTER_MS);
    }
}
