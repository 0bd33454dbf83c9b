//! Sign-in under a password-guessing attack: its memory stays within its Knative limit however many
//! guesses arrive at once, and guesses at one account are limited whoever makes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use e2e::Stack;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `resources.limits.memory` of `knative/base/services/sign-in.yaml`.
const KNATIVE_LIMIT_KB: u64 = 64 * 1024;

/// A `/proc/<pid>/status` figure in KB (`VmRSS`: all resident memory, what the cgroup limit counts).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Samples the process's resident memory every few milliseconds until told to stop; keeps the peak.
fn sample_peak(pid: u32) -> (Arc<AtomicBool>, Arc<AtomicU64>) {
    let (stop, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let (stopping, peaking) = (Arc::clone(&stop), Arc::clone(&peak));
    std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            peaking.fetch_max(status_kb(pid, "VmRSS"), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (stop, peak)
}

async fn sign_in(
    http: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    http.post(url)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap_or_else(|err| panic!("sign in as {email}: {err:?}"))
}

/// Status, `Retry-After` and body of an answer.
async fn answer(response: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().expect("ascii").to_owned());
    (
        status,
        retry_after,
        response.json().await.expect("JSON body"),
    )
}

#[tokio::test]
async fn two_hundred_concurrent_wrong_sign_ins_keep_sign_in_within_its_memory_limit() {
    let stack = Stack::start(&[]).await;
    let pid = stack.pid_of("sign-in").expect("sign-in runs");
    let url = stack
        .function_url("sign-in", "/api/users/signin")
        .expect("sign-in's port");
    let http = reqwest::Client::new();
    // Straight to the function: NGINX's per-address rate would refuse most of the burst, and an
    // attacker with many addresses gets past it anyway.
    let before = status_kb(pid, "VmRSS");
    let (stop, peak) = sample_peak(pid);

    // 200 different addresses, so that the per-account limit refuses none of them and every guess
    // costs a full Argon2id hash (an unknown email is hashed against a decoy, like a known one).
    let guesses = (0..200).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let email = format!("guess-{i}@example.com");
            answer(sign_in(&http, &url, &email, "not the password").await).await
        })
    });
    let answers = futures::future::join_all(guesses).await;
    stop.store(true, Ordering::Relaxed);
    let after = status_kb(pid, "VmRSS");
    let peak = peak.load(Ordering::Relaxed).max(after);

    // Each guess is checked in its turn, or, when the queue is full or its turn would come after the
    // request deadline (a loaded machine), refused with 503 and `Retry-After`: never anything else.
    let (mut checked, mut refused) = (0, 0);
    for answer in answers {
        match answer.expect("guess task") {
            (StatusCode::BAD_REQUEST, None, body) => {
                assert_eq!(
                    body,
                    json!({"errors": [{"message": "Invalid credentials"}]})
                );
                checked += 1;
            }
            (StatusCode::SERVICE_UNAVAILABLE, Some(_), body) => {
                assert_eq!(
                    body,
                    json!({"errors": [{"message": "Service unavailable, please retry"}]})
                );
                refused += 1;
            }
            other => panic!("a guess got {other:?}"),
        }
    }
    assert!(checked >= 20, "only {checked} of 200 guesses were checked");
    eprintln!(
        "sign-in VmRSS: {before} KB before, {peak} KB at the peak, {after} KB after 200 concurrent \
         wrong sign-ins ({checked} checked, {refused} refused with 503; limit {KNATIVE_LIMIT_KB} KB)"
    );
    assert!(
        peak < KNATIVE_LIMIT_KB,
        "sign-in peaked at {peak} KB resident, over its Knative limit of {KNATIVE_LIMIT_KB} KB"
    );
    assert!(stack.stop().await, "the stack stops cleanly");
}

#[tokio::test]
async fn after_ten_wrong_guesses_even_the_right_password_waits_and_an_unknown_email_is_treated_alike()
 {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let url = stack.url("/api/users/signin");
    stack.sign_up(&http, "owner@example.com").await;

    // The same story for an account and for an address nobody registered.
    let mut locked_answers = Vec::new();
    for email in ["owner@example.com", "nobody@example.com"] {
        for guess in 0..10 {
            let (status, _, body) =
                answer(sign_in(&http, &url, email, &format!("guess {guess}")).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "guess {guess} on {email}");
            assert_eq!(
                body,
                json!({"errors": [{"message": "Invalid credentials"}]})
            );
        }
        // "long enough" is the owner's password (Stack::sign_up).
        let locked = answer(sign_in(&http, &url, email, "long enough").await).await;
        assert_eq!(
            locked.0,
            StatusCode::TOO_MANY_REQUESTS,
            "{email}: {locked:?}"
        );
        locked_answers.push(locked);
    }
    assert_eq!(
        locked_answers[0], locked_answers[1],
        "a locked account and an unknown address look the same"
    );
    assert_eq!(
        locked_answers[0],
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("1".to_owned()),
            json!({"errors": [{"message": "Too many requests"}]})
        )
    );

    // The first lock is a second: then the owner gets in, and that clears the count.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let signed_in = sign_in(&http, &url, "owner@example.com", "long enough").await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    for guess in 0..9 {
        let wrong = sign_in(&http, &url, "owner@example.com", "wrong").await;
        assert_eq!(
            wrong.status(),
            StatusCode::BAD_REQUEST,
            "guess {guess} after a success is counted from zero"
        );
    }
    assert!(stack.stop().await, "the stack stops cleanly");
}
