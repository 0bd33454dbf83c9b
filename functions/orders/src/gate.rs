//! Queues one instance's holds on a listing instead of sending them to DynamoDB all at once.
//!
//! DynamoDB applies the transactions on one item one at a time; the others that arrive meanwhile are
//! cancelled (`TransactionConflict`) and retried after a backoff, so during a drop most of the work is
//! wasted and the unlucky wait through several backoffs. Letting a few holds per listing through at a
//! time and queueing the rest in arrival order keeps the item busy without the conflicts. This is
//! only about speed: the hold's condition in DynamoDB still decides every order, across instances.

use tokio::sync::{Semaphore, SemaphorePermit};

/// Holds of one listing sent to DynamoDB at once by one instance: enough to overlap the round trips.
const PER_LISTING: usize = 4;
/// Listings map onto this many queues by hash; two hot listings rarely share one.
const STRIPES: usize = 64;

pub struct HoldGates {
    stripes: Vec<Semaphore>,
}

impl Default for HoldGates {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Semaphore::new(PER_LISTING)).collect(),
        }
    }
}

fn stripe(ticket_id: &str) -> usize {
    let hash = ticket_id.bytes().fold(0usize, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(usize::from(byte))
    });
    hash % STRIPES
}

impl HoldGates {
    /// Waits for the listing's turn; the hold may be sent while the permit lives.
    pub async fn enter(&self, ticket_id: &str) -> Option<SemaphorePermit<'_>> {
        // The semaphores are never closed, so acquiring cannot fail; without a permit the hold
        // simply goes ahead unqueued.
        self.stripes[stripe(ticket_id)].acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listing_lets_only_a_few_holds_through_at_once_and_others_are_not_held_up() {
        let gates = HoldGates::default();
        let mut permits = Vec::new();
        for _ in 0..PER_LISTING {
            permits.push(gates.enter("hot").await);
        }
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), gates.enter("hot"));
        assert!(
            waiting.await.is_err(),
            "the next hold on the hot listing waits"
        );
        // A listing on another stripe goes straight through.
        let other = (0..100)
            .map(|n| format!("other-{n}"))
            .find(|id| stripe(id) != stripe("hot"))
            .expect("another stripe");
        assert!(gates.enter(&other).await.is_some());
        permits.pop();
        assert!(
            gates.enter("hot").await.is_some(),
            "a released slot lets the next one in"
        );
    }
}
