//! A ticket drop while the processes under it die: `place-order` and NATS are killed with SIGKILL in
//! the middle of it, devstack restarts them as a cluster restarts a pod, and afterwards every
//! accepted order exists once, nothing is held twice, and every event was applied exactly once.

use std::time::Duration;

use e2e::Stack;
use e2e::crowd::{assert_drop_settled, bearers, buy};
use futures::StreamExt;

const TICKETS: usize = 60;
const BUYERS: usize = 240;
const IN_FLIGHT: usize = 40;

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid}");
}

#[tokio::test]
async fn a_drop_keeps_every_order_once_when_place_order_and_nats_are_killed() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let people = bearers(&stack, BUYERS + 1).await;
    let (seller, buyers) = people.split_first().expect("a seller");
    let ticket = stack
        .list_and_replicate(&http, seller, i64::try_from(TICKETS).expect("count"))
        .await;

    let place_order = stack.pid_of("place-order").expect("place-order runs");
    let nats = stack.pid_of("nats-server").expect("NATS runs");
    let drop = futures::stream::iter(buyers.iter().enumerate())
        .map(|(index, buyer)| {
            let (stack, http, ticket) = (&stack, &http, &ticket);
            async move {
                // The faults strike while the crowd is at the door.
                if index == BUYERS / 6 {
                    kill(place_order);
                }
                if index == BUYERS / 3 {
                    kill(nats);
                }
                (buyer, buy(stack, http, buyer, ticket).await)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;

    for (name, old) in [("place-order", place_order), ("nats-server", nats)] {
        stack
            .wait_for_restart(name, old, Duration::from_secs(30))
            .await;
    }
    assert_drop_settled(&stack, &http, &ticket, TICKETS, &drop).await;
    assert!(stack.stop().await);
}
