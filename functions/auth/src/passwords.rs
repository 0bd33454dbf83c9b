//! Argon2id password hashes.
//!
//! Hashing is deliberately slow (tens of milliseconds, 19 MiB each), so it runs on the blocking pool,
//! and a semaphore bounds how many run at once: a burst of sign-ups queues instead of exhausting memory.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use shared::error::ApiError;
use tokio::sync::Semaphore;

/// A salt for the decoy hash computed when the email is unknown; its value does not matter.
const DECOY_SALT: &[u8; 16] = b"ticketing-decoy!";

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            permits: Arc::new(Semaphore::new(cores * 2)),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)
    }

    /// A PHC string (`$argon2id$v=19$…`) with a fresh random salt.
    pub async fn hash(&self, password: Vec<u8>) -> Result<String, ApiError> {
        self.run(move || {
            Argon2::default()
                .hash_password(&password)
                .map(|hash| hash.to_string())
        })
        .await?
        .map_err(|err| ApiError::internal(err.to_string()))
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown email) it does the same
    /// work against a decoy and answers false, so that the two cases take about the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.run(move || match stored {
            Some(stored) => PasswordHash::new(&stored).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            }),
            None => {
                let mut out = [0u8; 32];
                let _ =
                    Argon2::default().hash_password_into(password.as_bytes(), DECOY_SALT, &mut out);
                false
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let passwords = Passwords::new();
        let hash = passwords
            .hash(b"correct horse".to_vec())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"));
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
}
