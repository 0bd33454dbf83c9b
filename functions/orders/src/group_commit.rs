//! Group commit: the holds that arrive for one listing while a transaction for it is in flight wait,
//! and are committed together by the next one, in arrival order.
//!
//! DynamoDB applies transactions on one item one at a time, and cancels the ones that collide
//! (`TransactionConflict`); under a drop, most of the work was retries. One transaction that holds
//! 25 orders spends the listing item's turn once for all of them. Lanes are per listing, so orders
//! for different listings never wait for each other. This is only about speed: the condition on
//! the listing's `available` in DynamoDB still decides every order, across instances.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// Requests waiting for one listing. A lane exists while its worker runs.
struct Lane<T, R> {
    waiting: VecDeque<(T, oneshot::Sender<R>)>,
}

/// Lanes of requests by key (the listing), each committed in batches of at most `max`.
pub struct GroupCommit<T, R> {
    lanes: Mutex<HashMap<String, Lane<T, R>>>,
    max: usize,
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    pub fn new(max: usize) -> Self {
        Self {
            lanes: Mutex::new(HashMap::new()),
            max: max.max(1),
        }
    }

    /// Queues `item` on `key`'s lane and waits for its result. The first request of an idle lane
    /// starts a worker that calls `commit` with the lane's waiting requests (oldest first, at most
    /// `max`) until the lane is empty; `commit` returns one result per item, in the same order.
    /// `None` if the worker gave no result for it (it failed to run).
    pub async fn submit<C, Fut>(self: &Arc<Self>, key: &str, item: T, commit: C) -> Option<R>
    where
        C: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (reply, result) = oneshot::channel();
        let start = {
            let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            match lanes.get_mut(key) {
                // A worker is on this lane: it takes this request in its next batch.
                Some(lane) => {
                    lane.waiting.push_back((item, reply));
                    false
                }
                None => {
                    lanes.insert(
                        key.to_owned(),
                        Lane {
                            waiting: VecDeque::from([(item, reply)]),
                        },
                    );
                    true
                }
            }
        };
        if start {
            let lanes = Arc::clone(self);
            let key = key.to_owned();
            // Its own task: the request that started it may be answered (or dropped) while the
            // lane still has others to commit.
            tokio::spawn(async move { lanes.work(&key, commit).await });
        }
        result.await.ok()
    }

    /// Commits the lane's batches until it is empty, then removes it (in the same critical
    /// section as the last check, so a request either joins a batch or starts a new worker).
    async fn work<C, Fut>(&self, key: &str, commit: C)
    where
        C: Fn(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<R>>,
    {
        loop {
            let batch: Vec<(T, oneshot::Sender<R>)> = {
                let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(lane) = lanes.get_mut(key) else {
                    return;
                };
                if lane.waiting.is_empty() {
                    lanes.remove(key);
                    return;
                }
                let take = lane.waiting.len().min(self.max);
                lane.waiting.drain(..take).collect()
            };
            let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
            let results = commit(items).await;
            for (reply, result) in replies.into_iter().zip(results) {
                // The requester may have gone (client disconnect): its result is dropped.
                let _ = reply.send(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::sync::Notify;

    #[tokio::test]
    async fn requests_arriving_during_a_commit_are_committed_together_in_arrival_order() {
        let lanes = Arc::new(GroupCommit::<u32, u32>::new(25));
        let batches = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let release = Arc::new(Notify::new());
        let commit = {
            let batches = Arc::clone(&batches);
            let release = Arc::clone(&release);
            move |items: Vec<u32>| {
                let batches = Arc::clone(&batches);
                let release = Arc::clone(&release);
                async move {
                    let first = batches.lock().expect("lock").is_empty();
                    batches.lock().expect("lock").push(items.clone());
                    if first {
                        // The first commit is slow: the others queue behind it meanwhile.
                        release.notified().await;
                    }
                    items.iter().map(|n| n * 10).collect()
                }
            }
        };
        let first = tokio::spawn({
            let lanes = Arc::clone(&lanes);
            let commit = commit.clone();
            async move { lanes.submit("hot", 0, commit).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut rest = Vec::new();
        for n in 1..=5 {
            let lanes = Arc::clone(&lanes);
            let commit = commit.clone();
            rest.push(tokio::spawn(
                async move { lanes.submit("hot", n, commit).await },
            ));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        release.notify_one();
        assert_eq!(first.await.expect("task"), Some(0));
        for (n, request) in (1..=5).zip(rest) {
            assert_eq!(request.await.expect("task"), Some(n * 10));
        }
        assert_eq!(
            *batches.lock().expect("lock"),
            vec![vec![0], vec![1, 2, 3, 4, 5]]
        );
    }

    #[tokio::test]
    async fn a_batch_never_exceeds_its_maximum() {
        let lanes = Arc::new(GroupCommit::<u32, u32>::new(2));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let commit = {
            let sizes = Arc::clone(&sizes);
            move |items: Vec<u32>| {
                let sizes = Arc::clone(&sizes);
                async move {
                    sizes.lock().expect("lock").push(items.len());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    items
                }
            }
        };
        let requests: Vec<_> = (0..7)
            .map(|n| {
                let lanes = Arc::clone(&lanes);
                let commit = commit.clone();
                tokio::spawn(async move { lanes.submit("hot", n, commit).await })
            })
            .collect();
        for (n, request) in (0..7).zip(requests) {
            assert_eq!(request.await.expect("task"), Some(n));
        }
        let sizes = sizes.lock().expect("lock");
        assert!(sizes.iter().all(|&size| size <= 2), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 7);
    }

    #[tokio::test]
    async fn another_listing_does_not_wait_for_a_busy_one() {
        let lanes = Arc::new(GroupCommit::<u32, u32>::new(25));
        let stuck = Arc::new(Notify::new());
        let slow = {
            let stuck = Arc::clone(&stuck);
            move |items: Vec<u32>| {
                let stuck = Arc::clone(&stuck);
                async move {
                    stuck.notified().await;
                    items
                }
            }
        };
        let busy = tokio::spawn({
            let lanes = Arc::clone(&lanes);
            async move { lanes.submit("hot", 1, slow).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let other = tokio::time::timeout(
            Duration::from_secs(1),
            lanes.submit("quiet", 2, |items: Vec<u32>| async move { items }),
        )
        .await;
        assert_eq!(other.expect("not held up"), Some(2));
        stuck.notify_one();
        assert_eq!(busy.await.expect("task"), Some(1));
    }
}
