//! End-to-end test support: the real stack (`devstack up`, through [`devstack::stack`]) on free
//! loopback ports, driven over HTTP through NGINX.
//!
//! [`Stack`] is the launcher's stack with the test binaries beside this test, panicking with the
//! launcher's message where a test cannot go on, plus the HTTP steps the tests share.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use devstack::stack::project_dir;

pub mod browser;
mod purchases;

pub struct Stack(devstack::stack::Stack);

/// The directory of the binaries this test was built with (`target/debug`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> → target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf()
}

impl Deref for Stack {
    type Target = devstack::stack::Stack;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Stack {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Stack {
    /// Starts the whole stack with `extra_env`, and waits until it prints its URL.
    pub async fn start(extra_env: &[(&str, &str)]) -> Self {
        match devstack::stack::Stack::start(&bin_dir(), extra_env).await {
            Ok(stack) => Self(stack),
            Err(problem) => panic!("{problem}"),
        }
    }

    /// What a function started beside this stack needs in its environment, as devstack gives it.
    pub async fn function_env(&self) -> std::collections::BTreeMap<String, String> {
        self.0
            .function_env()
            .await
            .unwrap_or_else(|problem| panic!("{problem}"))
    }

    /// Stops the stack as Ctrl-C would; returns whether devstack exited successfully.
    pub async fn stop(self) -> bool {
        self.0.stop().await
    }

    /// Whether anything still listens on one of a stack's ports.
    pub fn any_port_in_use(ports: &[u16]) -> bool {
        devstack::stack::Stack::any_port_in_use(ports)
    }

    /// Sends `signal` (as `kill` takes it) to the named process; returns the pid it went to.
    pub fn signal_process(&self, name: &str, signal: &str) -> u32 {
        self.0
            .signal_process(name, signal)
            .unwrap_or_else(|problem| panic!("{problem}"))
    }

    /// Waits until devstack has started the named process again (a pid other than `old`); returns
    /// the new pid, or panics after `limit`.
    pub async fn wait_for_restart(&self, name: &str, old: u32, limit: Duration) -> u32 {
        self.0
            .wait_for_restart(name, old, limit)
            .await
            .unwrap_or_else(|problem| panic!("{problem}"))
    }

    /// Freezes or thaws the stack's NATS server (SIGSTOP / SIGCONT).
    pub fn signal_nats(&self, signal: &str) {
        self.0
            .signal_nats(signal)
            .unwrap_or_else(|problem| panic!("{problem}"));
    }

    /// Freezes or thaws the stack's DynamoDB Local (SIGSTOP / SIGCONT).
    pub fn signal_dynamodb(&self, signal: &str) {
        self.0
            .signal_dynamodb(signal)
            .unwrap_or_else(|problem| panic!("{problem}"));
    }
}

/// The `session` cookie's token in a response, if it sets one.
pub fn session_token(response: &reqwest::Response) -> Option<String> {
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)?
        .to_str()
        .ok()?;
    let value = cookie.strip_prefix("session=")?.split(';').next()?;
    (!value.is_empty()).then(|| value.to_owned())
}

impl Stack {
    /// Signs a new user up; returns the `Authorization` header value of their session.
    pub async fn sign_up(&self, http: &reqwest::Client, email: &str) -> String {
        let response = http
            .post(self.url("/api/users/signup"))
            .json(&serde_json::json!({"email": email, "password": "long enough"}))
            .send()
            .await
            .unwrap_or_else(|err| panic!("sign up {email}: {err:?}"));
        let status = response.status();
        let session = session_token(&response);
        if status != 201 {
            let body = response.text().await.unwrap_or_default();
            panic!("sign up {email}: {status} {body}");
        }
        format!("Bearer {}", session.expect("session"))
    }

    /// Polls `GET path` until `check` accepts the JSON body, or panics after `limit`.
    pub async fn wait_for(
        &self,
        http: &reqwest::Client,
        path: &str,
        limit: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = serde_json::Value::Null;
        while tokio::time::Instant::now() < deadline {
            if let Ok(response) = http.get(self.url(path)).send().await
                && let Ok(body) = response.json::<serde_json::Value>().await
            {
                if check(&body) {
                    return body;
                }
                last = body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never reached the expected state; last seen: {last}");
    }

    /// Lists tickets and waits until the orders context has its replica (the seller's own order
    /// attempt turns from 404 into "You cannot buy your own ticket"); returns the listing's id.
    pub async fn list_and_replicate(
        &self,
        http: &reqwest::Client,
        seller: &str,
        quantity: i64,
    ) -> String {
        let listed = http
            .post(self.url("/api/tickets"))
            .header("authorization", seller)
            .json(&serde_json::json!({"title": "Drop", "price": 20, "quantity": quantity}))
            .send()
            .await
            .expect("list");
        assert_eq!(listed.status(), 201);
        let body: serde_json::Value = listed.json().await.expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        for _ in 0..300 {
            let attempt = self.order(http, seller, &id).await;
            if attempt.status() == 400 {
                return id;
            }
            assert_eq!(
                attempt.status(),
                404,
                "before replication the listing is unknown to orders"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the listing never reached the orders context");
    }

    /// Orders one ticket of a listing.
    pub async fn order(
        &self,
        http: &reqwest::Client,
        bearer: &str,
        ticket: &str,
    ) -> reqwest::Response {
        http.post(self.url("/api/orders"))
            .header("authorization", bearer)
            .json(&serde_json::json!({"ticketId": ticket}))
            .send()
            .await
            .expect("order")
    }

    /// An order as its buyer sees it.
    pub async fn show_order(
        &self,
        http: &reqwest::Client,
        bearer: &str,
        id: &str,
    ) -> serde_json::Value {
        http.get(self.url(&format!("/api/orders/{id}")))
            .header("authorization", bearer)
            .send()
            .await
            .expect("show order")
            .json()
            .await
            .expect("order JSON")
    }
}

/// A crowd of buyers, as the drop tests send it: sessions signed with the stack's own key, and
/// orders placed as a careful client places them.
pub mod crowd {
    use std::time::Duration;

    use reqwest::header::AUTHORIZATION;
    use serde_json::{Value, json};
    use shared::session::Sessions;

    use crate::Stack;

    /// Sessions signed with the stack's own key, as sign-in would give them.
    pub async fn bearers(stack: &Stack, count: usize) -> Vec<String> {
        let key = stack
            .function_env()
            .await
            .remove("JWT_KEY")
            .expect("JWT_KEY");
        let sessions = Sessions::new(key.as_bytes(), 3_600, false);
        (0..count)
            .map(|_| {
                let id = uuid::Uuid::now_v7().to_string();
                let token = sessions
                    .issue(&sessions.claims_for(&id, &format!("{id}@example.com")))
                    .expect("token");
                format!("Bearer {token}")
            })
            .collect()
    }

    /// What one buyer's order attempt came to: the final status (0: none within two minutes)
    /// and, for a 201, the order.
    pub struct Outcome {
        pub status: u16,
        pub order: Option<Value>,
    }

    /// Orders one ticket as a careful client does: the same `Idempotency-Key` on every try, and a
    /// retry after a dropped connection, a 5xx, or a 409 (the first try still in flight), until an
    /// answer that is final.
    pub async fn buy(stack: &Stack, http: &reqwest::Client, bearer: &str, ticket: &str) -> Outcome {
        let key = uuid::Uuid::now_v7().to_string();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let sent = http
                .post(stack.url("/api/orders"))
                .header(AUTHORIZATION, bearer)
                .header("Idempotency-Key", &key)
                .json(&json!({ "ticketId": ticket }))
                .send()
                .await;
            if let Ok(response) = sent {
                let status = response.status().as_u16();
                if status == 201 || (status < 500 && status != 409) {
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    return Outcome {
                        status,
                        order: (status == 201).then_some(body),
                    };
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Outcome {
                    status: 0,
                    order: None,
                };
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The invariants a drop of `tickets` tickets must leave, whatever failed during it: every
    /// buyer got a final answer; exactly `tickets` orders were accepted and the rest refused; every
    /// 201 names an order that exists, and no buyer holds two; every order's `order.created` reached
    /// tickets once (a second hold would take `available` below zero, a lost one would leave it
    /// above). Then the events published afterwards flow too: cancelling some gives back exactly
    /// those tickets on both sides, so exactly that many new buyers get in.
    pub async fn assert_drop_settled(
        stack: &Stack,
        http: &reqwest::Client,
        ticket: &str,
        tickets: usize,
        outcomes: &[(&String, Outcome)],
    ) {
        let unanswered = outcomes.iter().filter(|(_, o)| o.status == 0).count();
        assert_eq!(unanswered, 0, "every buyer got a final answer");
        let winners: Vec<(&String, &Value)> = outcomes
            .iter()
            .filter_map(|(buyer, outcome)| outcome.order.as_ref().map(|order| (*buyer, order)))
            .collect();
        let refused = outcomes.iter().filter(|(_, o)| o.status == 400).count();
        assert_eq!(
            (winners.len(), refused),
            (tickets, outcomes.len() - tickets),
            "exactly the tickets there were are sold, the rest are refused"
        );
        for (buyer, order) in &winners {
            let id = order["id"].as_str().expect("id");
            let (status, shown) =
                get_json(http, &stack.url(&format!("/api/orders/{id}")), buyer).await;
            assert_eq!((status, &shown["status"]), (200, &json!("created")));
            let (_, mine) = get_json(http, &stack.url("/api/orders"), buyer).await;
            assert_eq!(
                mine.as_array().map(Vec::len),
                Some(1),
                "one order per buyer"
            );
        }

        let listing = format!("/api/tickets/{ticket}");
        stack
            .wait_for(http, &listing, Duration::from_secs(90), |t| {
                t["available"] == 0
            })
            .await;

        let released = 5;
        for (buyer, order) in winners.iter().take(released) {
            let id = order["id"].as_str().expect("id");
            let cancelled = http
                .delete(stack.url(&format!("/api/orders/{id}")))
                .header(AUTHORIZATION, buyer.as_str())
                .send()
                .await
                .expect("cancel");
            assert_eq!(cancelled.status(), 204);
        }
        stack
            .wait_for(http, &listing, Duration::from_secs(60), |t| {
                t["available"] == released
            })
            .await;
        let latecomers = bearers(stack, released + 1).await;
        let mut statuses = Vec::new();
        for latecomer in &latecomers {
            statuses.push(stack.order(http, latecomer, ticket).await.status().as_u16());
        }
        let mut expected = vec![201; released];
        expected.push(400);
        assert_eq!(statuses, expected);
        stack
            .wait_for(http, &listing, Duration::from_secs(60), |t| {
                t["available"] == 0
            })
            .await;
    }

    /// `GET url` as `bearer`: the status and the JSON body (null if none).
    pub async fn get_json(http: &reqwest::Client, url: &str, bearer: &str) -> (u16, Value) {
        let response = http
            .get(url)
            .header(AUTHORIZATION, bearer)
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}
