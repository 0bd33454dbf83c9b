//! The same binary on AWS Lambda: `sign-up` run against a local Lambda Runtime API, fed an API
//! Gateway HTTP API (v2) event, answers it through `lambda_http`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shared::testing::TestTables;

/// A Lambda Runtime API serving one event, and keeping what the function answers.
#[derive(Clone, Default)]
struct RuntimeApi {
    event: Arc<Mutex<Option<Value>>>,
    response: Arc<Mutex<Option<Value>>>,
}

async fn next(State(api): State<RuntimeApi>) -> (HeaderMap, String) {
    loop {
        let event = api.event.lock().expect("lock").take();
        if let Some(event) = event {
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_static("request-1"),
            );
            headers.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_static("9999999999999"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:sign-up"),
            );
            return (headers, event.to_string());
        }
        // Nothing more to hand out: the function waits here, as on Lambda between invocations.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn respond(
    State(api): State<RuntimeApi>,
    Path(_id): Path<String>,
    body: String,
) -> &'static str {
    *api.response.lock().expect("lock") = serde_json::from_str(&body).ok();
    "{}"
}

fn sign_up_event(email: &str) -> Value {
    let body = json!({"email": email, "password": "long enough"}).to_string();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/users/signup",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "000000000000", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "POST", "path": "/api/users/signup", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "request-1", "routeKey": "$default", "stage": "$default",
            "time": "24/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

#[tokio::test]
async fn sign_up_answers_an_api_gateway_event_through_the_lambda_runtime_api() {
    let tables = TestTables::create(auth::TABLES).await;
    let api = RuntimeApi::default();
    *api.event.lock().expect("lock") = Some(sign_up_event("Lambda@Example.com"));
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut function = tokio::process::Command::new(env!("CARGO_BIN_EXE_sign-up"))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "sign-up")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("JWT_KEY", "lambda-test-key")
        .env("TABLE_PREFIX", &tables.prefix.0)
        .env_remove("PORT")
        .kill_on_drop(true)
        .spawn()
        .expect("start sign-up");

    let mut response = None;
    for _ in 0..200 {
        response = api.response.lock().expect("lock").take();
        if response.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = function.kill().await;
    let response = response.expect("the function answered the invocation");
    assert_eq!(response["statusCode"], 201, "{response}");
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body["email"], "lambda@example.com");
    let cookies = response["cookies"].as_array().cloned().unwrap_or_default();
    let set_cookie = response["headers"]["set-cookie"].clone();
    assert!(
        cookies
            .iter()
            .chain(std::iter::once(&set_cookie))
            .any(|c| c.as_str().is_some_and(|c| c.starts_with("session="))),
        "the session cookie is set: {response}"
    );
}

#[test]
fn on_lambda_a_missing_runtime_variable_is_a_clear_error_not_a_panic() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sign-up"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("JWT_KEY", "k")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AWS_LAMBDA_FUNCTION_NAME is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
