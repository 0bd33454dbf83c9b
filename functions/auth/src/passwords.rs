//! Argon2id password hashes, computed by a fixed number of hashing workers, and the queue in front.
//!
//! One hash needs 19 MiB of working memory (the crate's defaults: 19 MiB, 2 passes) and tens of
//! milliseconds of one core. Allocating that memory per hash, on whichever blocking-pool thread ran
//! it, let glibc keep the freed buffers: 200 concurrent wrong sign-ins took the release sign-in from
//! 12 MB to 1.5 GB resident (2 GB after 200 more), against a Knative limit of 64 MiB. So a worker
//! thread owns one buffer for its whole life and reuses it for every hash: the buffers take
//! [`WORKERS`] × 19 MiB whatever the load, and no allocator behaviour is involved.
//!
//! The requests that hash take turns ([`Passwords::turn`]): at most [`TURNS_PER_WORKER`] per worker
//! do their work at once (their DynamoDB calls and their hash); the others wait in a bounded FIFO
//! queue, holding only their connection and their request (about 30 KB each, measured). When the queue is
//! full a request is answered 503 with `Retry-After` at once, instead of holding memory while it
//! waits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use shared::error::ApiError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Hashes that run at once, each with its own 19 MiB buffer. One keeps sign-in well inside its
/// 64 MiB limit, measured under 200 concurrent wrong sign-ins: 11 MB of binary and runtime (21 MB
/// for a debug build), 19 MiB of buffer, 7 MB for the waiting requests. A second worker would double
/// the hashes per second of an instance, but the release build then peaked at 56 MB (9 MB short of
/// the limit) and a debug build went over; more hashes per second come from more instances, which
/// Knative adds under load.
pub const WORKERS: usize = 1;

/// Requests doing their work at once, per worker: two, so that one request's DynamoDB calls overlap
/// another's hash.
pub const TURNS_PER_WORKER: usize = 2;

/// Requests that may wait for their turn: with a hash of about 40 ms, the last one waits 8 s, just
/// inside the 10 s request deadline (which answers 503 to whoever waits longer on a slower machine).
pub const MAX_QUEUED: usize = 200;

/// A salt for the decoy hash computed when the email is unknown; its value does not matter.
const DECOY_SALT: &[u8; 16] = b"ticketing-decoy!";

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane), which new hashes use.
const PARAMS: Params = Params::DEFAULT;

/// The memory one hash with [`PARAMS`] needs, in 1 KiB blocks.
const BLOCKS: usize = PARAMS.block_count();

/// A job for a worker: it gets the worker's buffer and answers through its own channel.
type Job = Box<dyn FnOnce(&mut [Block]) + Send>;

#[derive(Clone)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
    /// Requests admitted: taking their turn, or waiting for it.
    admitted: Arc<Semaphore>,
    /// Requests taking their turn.
    turns: Arc<Semaphore>,
    /// How many workers started; zero only if the system refused every thread.
    workers: usize,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

/// A request's turn: while it is held, the request may do its work and one hash. Dropping it (the
/// request ended, or was given up) lets the next one in.
pub struct Turn {
    jobs: mpsc::Sender<Job>,
    _admitted: OwnedSemaphorePermit,
    _turn: OwnedSemaphorePermit,
}

impl Passwords {
    /// [`WORKERS`] workers and a queue of [`MAX_QUEUED`].
    pub fn new() -> Self {
        Self::with_capacity(WORKERS, MAX_QUEUED)
    }

    /// `workers` hashing threads (at least one) and room for `queued` requests waiting for their
    /// turn. The threads end when the last clone of this value and its turns are dropped.
    pub fn with_capacity(workers: usize, queued: usize) -> Self {
        let turns = workers.max(1) * TURNS_PER_WORKER;
        // Room for every turn's job: sending one never waits for long.
        let (jobs, queue) = mpsc::channel::<Job>(turns);
        let queue = Arc::new(Mutex::new(queue));
        let started = (0..workers.max(1))
            .filter(|index| {
                let queue = Arc::clone(&queue);
                std::thread::Builder::new()
                    .name(format!("argon2-{index}"))
                    .spawn(move || work(&queue))
                    .inspect_err(|err| tracing::error!("cannot start a hashing worker: {err}"))
                    .is_ok()
            })
            .count();
        Self {
            jobs,
            admitted: Arc::new(Semaphore::new(turns + queued)),
            turns: Arc::new(Semaphore::new(turns)),
            workers: started,
        }
    }

    /// Waits for this request's turn (first come, first served), or answers 503 (`Retry-After: 1`)
    /// at once when too many are waiting already.
    pub async fn turn(&self) -> Result<Turn, ApiError> {
        if self.workers == 0 {
            return Err(ApiError::internal("no hashing worker could start"));
        }
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| ApiError::unavailable("too many requests are waiting to hash"))?;
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        Ok(Turn {
            jobs: self.jobs.clone(),
            _admitted: admitted,
            _turn: turn,
        })
    }

    /// A PHC string (`$argon2id$v=19$…`) with a fresh random salt, in a turn of its own.
    pub async fn hash(&self, password: Vec<u8>) -> Result<String, ApiError> {
        self.turn().await?.hash(password).await
    }

    /// Whether `password` matches `stored`, in a turn of its own; see [`Turn::verify`].
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.turn().await?.verify(password, stored).await
    }
}

impl Turn {
    /// A PHC string (`$argon2id$v=19$…`) with a fresh random salt.
    pub async fn hash(&self, password: Vec<u8>) -> Result<String, ApiError> {
        self.run(move |memory| hash_into(memory, &password))
            .await?
            .map_err(ApiError::internal)
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown email) it does the same
    /// work against a decoy and answers false, so that the two cases take about the same time. A
    /// stored hash that does not parse never matches.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.run(move |memory| match stored {
            Some(stored) => verify_into(memory, password.as_bytes(), &stored),
            None => {
                let mut out = [0u8; 32];
                Argon2::from(PARAMS)
                    .hash_password_into_with_memory(
                        password.as_bytes(),
                        DECOY_SALT,
                        &mut out,
                        &mut memory[..BLOCKS],
                    )
                    .map(|()| false)
                    .map_err(|err| err.to_string())
            }
        })
        .await?
        .map_err(ApiError::internal)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |memory: &mut [Block]| {
            // A request that went away (its client hung up, its deadline passed) is not worth a hash.
            if !reply.is_closed() {
                let _ = reply.send(work(memory));
            }
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::internal("the hashing workers stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("a hashing worker dropped its job"))
    }
}

/// A worker: takes jobs until every sender is gone. Its buffer is allocated at its first job, so an
/// instance that never hashes (or has not yet) stays small.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory: Option<Box<[Block]>> = None;
    loop {
        let job = jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(job) = job else { return };
        let memory = memory.get_or_insert_with(|| vec![Block::new(); BLOCKS].into_boxed_slice());
        // A panicking job must not take the worker with it: queued requests would wait forever.
        // (Release builds abort on panic anyway.) The job's reply channel is dropped, so its request
        // gets a 500.
        if catch_unwind(AssertUnwindSafe(|| job(memory))).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

/// Hashes `password` with [`PARAMS`] and a random salt, in the worker's memory.
fn hash_into(memory: &mut [Block], password: &[u8]) -> Result<String, String> {
    let salt = argon2::password_hash::try_generate_salt().map_err(|err| err.to_string())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::from(PARAMS)
        .hash_password_into_with_memory(password, &salt, &mut out, &mut memory[..BLOCKS])
        .map_err(|err| err.to_string())?;
    let hash = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&PARAMS).map_err(|err| err.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|err| err.to_string())?),
        hash: Some(Output::new(&out).map_err(|err| err.to_string())?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against a stored PHC string with the parameters the string names, in the
/// worker's memory. Only a stored hash that needs more memory than a worker has is an error (it was
/// not made by this code); anything unparsable simply does not match.
fn verify_into(memory: &mut [Block], password: &[u8], stored: &str) -> Result<bool, String> {
    let Ok(hash) = PasswordHash::new(stored) else {
        return Ok(false);
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Ok(false);
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        hash.version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&hash),
    ) else {
        return Ok(false);
    };
    let memory = memory.get_mut(..params.block_count()).ok_or_else(|| {
        format!(
            "a stored hash needs {} KiB, more than a worker's {BLOCKS} KiB",
            params.block_count()
        )
    })?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, memory)
        .map_err(|err| err.to_string())?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).is_ok_and(|computed| computed == *expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    use argon2::{PasswordHasher, PasswordVerifier};

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let passwords = Passwords::new();
        let hash = passwords
            .hash(b"correct horse".to_vec())
            .await
            .expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn hashes_are_interchangeable_with_the_crates_own() {
        let passwords = Passwords::new();
        let ours = passwords
            .hash(b"correct horse".to_vec())
            .await
            .expect("hash");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &PasswordHash::new(&ours).expect("PHC"))
                .is_ok(),
            "the crate verifies our hash"
        );
        let theirs = Argon2::default()
            .hash_password(b"correct horse")
            .expect("hash")
            .to_string();
        assert!(
            passwords
                .verify("correct horse".into(), Some(theirs))
                .await
                .expect("verify"),
            "we verify the crate's hash (what sign-up stored before)"
        );
    }

    #[tokio::test]
    async fn a_smaller_stored_hash_verifies_and_a_larger_one_is_an_error() {
        let passwords = Passwords::new();
        let with_m_cost = |m_cost| {
            Argon2::from(Params::new(m_cost, 1, 1, None).expect("params"))
                .hash_password(b"pw")
                .expect("hash")
                .to_string()
        };
        let small = with_m_cost(64);
        assert!(
            passwords
                .verify("pw".into(), Some(small))
                .await
                .expect("verify")
        );
        let large = with_m_cost(PARAMS.m_cost() + 8);
        assert!(passwords.verify("pw".into(), Some(large)).await.is_err());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let passwords = Passwords::new();
        assert!(
            !passwords
                .verify("anything".into(), None)
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_never_verifies() {
        let passwords = Passwords::new();
        assert!(
            !passwords
                .verify("x".into(), Some("not a hash".into()))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_503_at_once_and_has_room_again_when_a_turn_ends() {
        // One worker: two turns, and one more request may wait.
        let passwords = Passwords::with_capacity(1, 1);
        let first = passwords.turn().await.expect("a turn");
        let _second = passwords.turn().await.expect("a turn");
        let waiting = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.verify("x".into(), None).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the third waits for a turn");
        let refused = passwords.turn().await.err().expect("no room in the queue");
        assert_eq!(
            refused.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(!first.verify("x".into(), None).await.expect("verify"));
        drop(first);
        assert!(!waiting.await.expect("join").expect("its turn came"));
        passwords.turn().await.expect("room again");
    }

    #[tokio::test]
    async fn many_concurrent_hashes_all_finish_with_one_worker() {
        let passwords = Passwords::with_capacity(1, 16);
        let checks = (0..16).map(|i| passwords.verify(format!("guess {i}"), None));
        for verified in futures::future::join_all(checks).await {
            assert!(!verified.expect("queued, not refused"));
        }
    }
}
