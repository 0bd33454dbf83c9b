//! `POST /api/users/signin` against the real DynamoDB Local.

mod support;

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
