//! `GET /api/users/currentuser` and `POST /api/users/signout`.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use shared::session::Sessions;
use shared::testing::{self, json_body};
use support::TestApp;

fn current_user_request(header_name: header::HeaderName, value: &str) -> Request<Body> {
    Request::get("/api/users/currentuser")
        .header(header_name, value)
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn without_a_session_the_current_user_is_null() {
    let app = TestApp::spawn().await;
    let response = testing::send(
        &app.current_user,
        testing::empty_request("GET", "/api/users/currentuser"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await, json!({"currentUser": null}));
}

#[tokio::test]
async fn the_session_cookie_and_a_bearer_token_both_name_the_current_user() {
    let app = TestApp::spawn().await;
    let token = app.signed_up("ada@example.com", "correct horse").await;
    let claims = app.sessions.verify(&token).expect("valid");
    for request in [
        current_user_request(header::COOKIE, &format!("session={token}")),
        current_user_request(header::AUTHORIZATION, &format!("Bearer {token}")),
    ] {
        let response = testing::send(&app.current_user, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            json_body(response).await,
            json!({"currentUser": {"id": claims.id, "email": "ada@example.com", "iat": claims.iat, "exp": claims.exp}})
        );
    }
}

#[tokio::test]
async fn a_forged_or_garbled_token_is_no_session_and_no_error() {
    let app = TestApp::spawn().await;
    let forger = Sessions::new(b"not-the-key", 3600, false);
    let forged = forger
        .issue(&forger.claims_for("u1", "eve@example.com"))
        .expect("token");
    for cookie in [
        format!("session={forged}"),
        "session=garbage".to_owned(),
        "session=".to_owned(),
    ] {
        let response = testing::send(
            &app.current_user,
            current_user_request(header::COOKIE, &cookie),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json_body(response).await, json!({"currentUser": null}));
    }
}

#[tokio::test]
async fn sign_out_clears_the_session_cookie() {
    let app = TestApp::spawn().await;
    let response = testing::send(
        &app.sign_out,
        testing::empty_request("POST", "/api/users/signout"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::SET_COOKIE],
        "session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    );
    assert_eq!(json_body(response).await, json!({}));
}
