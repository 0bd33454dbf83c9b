//! A fresh, isolated auth context per test: its own tables on DynamoDB Local, each function's router
//! driven in-process.
#![allow(dead_code)] // each test file uses its own part of this

use auth::users::Users;
use auth::{AccountState, TABLES};
use axum::Router;
use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use serde_json::{Value, json};
use shared::session::Sessions;
use shared::testing::{self, TestTables};

pub const KEY: &[u8] = b"integration-test-key";

pub struct TestApp {
    pub tables: TestTables,
    pub sessions: Sessions,
    pub sign_up: Router,
    pub sign_in: Router,
    pub sign_out: Router,
    pub current_user: Router,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let tables = TestTables::create(TABLES).await;
        let sessions = Sessions::new(KEY, 3600, false);
        let state = AccountState::new(
            Users::new(tables.client.clone(), &tables.prefix),
            sessions.clone(),
        );
        let finish = shared::routing::finish;
        Self {
            sign_up: finish(auth::sign_up::router(state.clone())),
            sign_in: finish(auth::sign_in::router(state)),
            sign_out: finish(auth::sign_out::router(sessions.clone())),
            current_user: finish(auth::current_user::router(sessions.clone())),
            sessions,
            tables,
        }
    }

    pub async fn sign_up(&self, body: Value) -> Response<Body> {
        testing::send(
            &self.sign_up,
            testing::json_request("POST", "/api/users/signup", &body),
        )
        .await
    }

    pub async fn sign_in(&self, body: Value) -> Response<Body> {
        testing::send(
            &self.sign_in,
            testing::json_request("POST", "/api/users/signin", &body),
        )
        .await
    }

    /// Signs up and returns the session cookie's token.
    pub async fn signed_up(&self, email: &str, password: &str) -> String {
        let response = self
            .sign_up(json!({"email": email, "password": password}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        session_token(&response).expect("session cookie")
    }
}

/// The token of the `session` cookie a response sets.
pub fn session_token(response: &Response<Body>) -> Option<String> {
    let cookie = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    let value = cookie.strip_prefix("session=")?.split(';').next()?;
    (!value.is_empty()).then(|| value.to_owned())
}

/// The first error message of an error body.
pub async fn messages(response: Response<Body>) -> Vec<Value> {
    let body = testing::json_body(response).await;
    body["errors"].as_array().cloned().unwrap_or_default()
}
