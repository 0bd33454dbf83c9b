//! `POST /api/users/signin` against the real DynamoDB Local.

mod support;

use auth::attempts::{Counted, FREE_ATTEMPTS};
use auth::credentials::Email;
use auth::users::Users;
use axum::http::StatusCode;
use serde_json::json;
use shared::testing::json_body;
use support::{TestApp, messages, session_token};

#[tokio::test]
async fn the_right_password_signs_in_with_any_letter_case_of_the_email() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com", "correct horse").await;
    let response = app
        .sign_in(json!({"email": " ADA@Example.com", "password": "correct horse"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = session_token(&response).expect("session cookie");
    let body = json_body(response).await;
    assert_eq!(body["email"], "ada@example.com");
    let claims = app.sessions.verify(&token).expect("valid session");
    assert_eq!(body["id"], claims.id.as_str());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com", "correct horse").await;
    let wrong = app
        .sign_in(json!({"email": "ada@example.com", "password": "wrong horse"}))
        .await;
    let unknown = app
        .sign_in(json!({"email": "bob@example.com", "password": "correct horse"}))
        .await;
    for response in [wrong, unknown] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(session_token(&response).is_none());
        assert_eq!(
            messages(response).await,
            vec![json!({"message": "Invalid credentials"})]
        );
    }
}

#[tokio::test]
async fn an_invalid_email_and_an_empty_password_are_both_reported() {
    let app = TestApp::spawn().await;
    let response = app.sign_in(json!({"email": "nope", "password": ""})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        messages(response).await,
        vec![
            json!({"message": "Email must be valid", "field": "email"}),
            json!({"message": "You must supply a password", "field": "password"}),
        ]
    );
}

#[tokio::test]
async fn a_password_of_the_wrong_type_is_no_password() {
    let app = TestApp::spawn().await;
    let response = app
        .sign_in(json!({"email": "ada@example.com", "password": 12345678}))
        .await;
    assert_eq!(
        messages(response).await,
        vec![json!({"message": "You must supply a password", "field": "password"})]
    );
}

/// The status, `Retry-After` and error messages of a sign-in answer.
async fn outcome(
    response: axum::http::Response<axum::body::Body>,
) -> (StatusCode, Option<String>, Vec<serde_json::Value>) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().expect("ascii").to_owned());
    (status, retry_after, messages(response).await)
}

fn invalid_credentials() -> Vec<serde_json::Value> {
    vec![json!({"message": "Invalid credentials"})]
}

#[tokio::test]
async fn ten_wrong_passwords_lock_the_account_for_a_second_even_against_the_right_one() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com", "correct horse").await;
    for guess in 0..FREE_ATTEMPTS {
        let wrong = app
            .sign_in(json!({"email": "ada@example.com", "password": format!("guess {guess}")}))
            .await;
        assert_eq!(
            outcome(wrong).await,
            (StatusCode::BAD_REQUEST, None, invalid_credentials()),
            "guess {guess}"
        );
    }
    let right = app
        .sign_in(json!({"email": "ADA@example.com", "password": "correct horse"}))
        .await;
    assert!(session_token(&right).is_none());
    assert_eq!(
        outcome(right).await,
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("1".to_owned()),
            vec![json!({"message": "Too many requests"})]
        )
    );

    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let right = app
        .sign_in(json!({"email": "ada@example.com", "password": "correct horse"}))
        .await;
    assert_eq!(right.status(), StatusCode::OK, "the lock was a second");
    // The success cleared the count: nine more wrong guesses are all checked. Without the reset the
    // account would be locked again after the first (the 12th attempt of the streak).
    for guess in 0..FREE_ATTEMPTS - 1 {
        let wrong = app
            .sign_in(json!({"email": "ada@example.com", "password": "wrong"}))
            .await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST, "guess {guess}");
    }
}

#[tokio::test]
async fn an_unknown_email_is_limited_exactly_like_an_account() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com", "correct horse").await;
    let mut locked = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..FREE_ATTEMPTS {
            let wrong = app
                .sign_in(json!({"email": email, "password": "wrong horse"}))
                .await;
            assert_eq!(
                outcome(wrong).await,
                (StatusCode::BAD_REQUEST, None, invalid_credentials())
            );
        }
        let next = app
            .sign_in(json!({"email": email, "password": "correct horse"}))
            .await;
        locked.push(outcome(next).await);
    }
    assert_eq!(locked[0].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked[0], locked[1]);
}

/// How many attempts the limit may let through in `elapsed`: ten, then one more each time a lock
/// (1 s, 2 s, 4 s …) ran out.
fn allowed_within(elapsed: std::time::Duration) -> u32 {
    let (mut allowed, mut lock, mut at) = (FREE_ATTEMPTS, 1.0, 0.0);
    while at + lock <= elapsed.as_secs_f64() {
        (allowed, at, lock) = (allowed + 1, at + lock, lock * 2.0);
    }
    allowed
}

#[tokio::test]
async fn simultaneous_counts_on_one_account_never_pass_the_limit() {
    // Straight at the counter, as many instances of sign-in would race on it: only DynamoDB's
    // condition keeps them in line.
    let app = TestApp::spawn().await;
    let attempts = Users::new(app.tables.client.clone(), &app.tables.prefix).attempts();
    let email = Email::parse("ada@example.com").expect("valid");
    let started = std::time::Instant::now();
    let counts = futures::future::join_all((0..60).map(|_| attempts.count(&email))).await;
    let elapsed = started.elapsed();
    let counted = counts
        .into_iter()
        .filter(|count| *count.as_ref().expect("no DynamoDB error") == Counted::Yes)
        .count();
    let allowed = allowed_within(elapsed) as usize;
    assert!(
        (1..=allowed).contains(&counted),
        "{counted} of 60 simultaneous attempts were counted in {elapsed:?}; at most {allowed} may be"
    );
}

#[tokio::test]
async fn simultaneous_guesses_cannot_get_past_the_limit() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com", "correct horse").await;
    let started = std::time::Instant::now();
    let guesses = (0..40).map(|guess| {
        app.sign_in(json!({"email": "ada@example.com", "password": format!("guess {guess}")}))
    });
    let answers = futures::future::join_all(guesses).await;
    let elapsed = started.elapsed();
    let mut checked = 0;
    for answer in answers {
        match answer.status() {
            StatusCode::BAD_REQUEST => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("a guess got {other}"),
        }
    }
    let allowed = allowed_within(elapsed);
    assert!(
        (1..=allowed).contains(&checked),
        "{checked} of 40 simultaneous guesses were checked in {elapsed:?}; at most {allowed} may be"
    );
}
