//! `POST /api/users/signup` against the real DynamoDB Local.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use shared::dynamo::aws_sdk_dynamodb::types::AttributeValue;
use shared::testing::{self, json_body};
use support::{TestApp, messages, session_token};

#[tokio::test]
async fn a_new_account_gets_201_its_id_and_email_and_a_session_cookie() {
    let app = TestApp::spawn().await;
    let response = app
        .sign_up(json!({"email": "ada@example.com", "password": "correct horse"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"),
        "{cookie}"
    );
    let token = session_token(&response).expect("token");
    let body = json_body(response).await;
    assert_eq!(body["email"], "ada@example.com");
    let claims = app
        .sessions
        .verify(&token)
        .expect("the cookie holds a valid session");
    assert_eq!(body["id"], claims.id.as_str());
    assert_eq!(claims.email, "ada@example.com");
    assert_eq!(claims.exp - claims.iat, 3600);
}

#[tokio::test]
async fn the_email_is_trimmed_and_lower_cased() {
    let app = TestApp::spawn().await;
    let response = app
        .sign_up(json!({"email": "  Ada@Example.COM ", "password": "correct horse"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json_body(response).await["email"], "ada@example.com");
}

#[tokio::test]
async fn the_password_is_stored_only_as_an_argon2id_hash() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com", "correct horse").await;
    let item = app
        .tables
        .client
        .get_item()
        .table_name(app.tables.prefix.table(&auth::users::TABLE))
        .key("pk", AttributeValue::S("email#ada@example.com".into()))
        .send()
        .await
        .expect("get item")
        .item
        .expect("the account is stored");
    let stored: Vec<String> = item
        .values()
        .filter_map(|v| v.as_s().ok().cloned())
        .collect();
    assert!(stored.iter().any(|v| v.starts_with("$argon2id$")));
    assert!(!stored.iter().any(|v| v.contains("correct horse")));
}

#[tokio::test]
async fn every_invalid_field_is_reported_in_order() {
    let app = TestApp::spawn().await;
    let response = app
        .sign_up(json!({"email": "nope", "password": "short"}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        messages(response).await,
        vec![
            json!({"message": "Email must be valid", "field": "email"}),
            json!({"message": "Password must be between 8 and 128 characters", "field": "password"}),
        ]
    );
}

#[tokio::test]
async fn missing_fields_and_fields_of_the_wrong_type_get_their_own_messages() {
    let app = TestApp::spawn().await;
    for body in [
        json!({}),
        json!({"email": 5, "password": true}),
        json!([1, 2]),
        json!(null),
    ] {
        let response = app.sign_up(body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let fields: Vec<_> = messages(response)
            .await
            .iter()
            .map(|e| e["field"].clone())
            .collect();
        assert_eq!(fields, vec![json!("email"), json!("password")], "{body}");
    }
}

#[tokio::test]
async fn a_password_of_129_characters_is_refused_and_128_accepted() {
    let app = TestApp::spawn().await;
    let too_long = app
        .sign_up(json!({"email": "a@b.co", "password": "x".repeat(129)}))
        .await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);
    let longest = app
        .sign_up(json!({"email": "a@b.co", "password": "x".repeat(128)}))
        .await;
    assert_eq!(longest.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_email_in_use_in_any_letter_case_is_refused() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com", "correct horse").await;
    let response = app
        .sign_up(json!({"email": "ADA@example.com", "password": "another one"}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        messages(response).await,
        vec![json!({"message": "Email in use"})]
    );
}

#[tokio::test]
async fn thirty_simultaneous_sign_ups_with_one_email_create_exactly_one_account() {
    let app = TestApp::spawn().await;
    let attempts = (0..30)
        .map(|_| app.sign_up(json!({"email": "race@example.com", "password": "correct horse"})));
    let responses = futures::future::join_all(attempts).await;
    let mut created = 0;
    let mut in_use = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => {
                assert_eq!(
                    messages(response).await,
                    vec![json!({"message": "Email in use"})]
                );
                in_use += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, in_use), (1, 29));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_malformed() {
    let app = TestApp::spawn().await;
    let request = Request::post("/api/users/signup")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"email\": "))
        .expect("request");
    let response = testing::send(&app.sign_up, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        messages(response).await,
        vec![json!({"message": "Malformed JSON body"})]
    );
}

#[tokio::test]
async fn a_body_of_another_content_type_gets_415() {
    let app = TestApp::spawn().await;
    let request = Request::post("/api/users/signup")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("email=a@b.co"))
        .expect("request");
    let response = testing::send(&app.sign_up, request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        messages(response).await,
        vec![json!({"message": "Content-Type must be application/json"})]
    );
}

#[tokio::test]
async fn a_100_kb_body_gets_413_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(100 * 1024);
    let body = json!({"email": "big@example.com", "password": "correct horse", "padding": padding});
    let response = app.sign_up(body).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        messages(response).await,
        vec![json!({"message": "Request body too large"})]
    );
    // The same body without the padding is accepted, so nothing of the first was stored.
    let retry = app
        .sign_up(json!({"email": "big@example.com", "password": "correct horse"}))
        .await;
    assert_eq!(retry.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_without_content_length_gets_413() {
    let app = TestApp::spawn().await;
    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
    let request = Request::post("/api/users/signup")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .expect("request");
    let response = testing::send(&app.sign_up, request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_a_json_404() {
    let app = TestApp::spawn().await;
    for (method, uri) in [
        ("GET", "/api/users/nope"),
        ("GET", "/api/users/signup"),
        ("DELETE", "/"),
    ] {
        let response = testing::send(&app.sign_up, testing::empty_request(method, uri)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(
            messages(response).await,
            vec![json!({"message": "Not Found"})]
        );
    }
}

#[tokio::test]
async fn health_is_reported_without_touching_the_database() {
    let app = TestApp::spawn().await;
    let response = testing::send(&app.sign_up, testing::empty_request("GET", "/healthz")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn an_unreachable_database_gets_503_with_retry_after() {
    let users = auth::users::Users::new(
        testing::unreachable_client().await,
        &shared::dynamo::TablePrefix("none-".into()),
    );
    let state = auth::AccountState::new(users, shared::session::Sessions::new(b"k", 60, false));
    let router = shared::routing::finish(auth::sign_up::router(state));
    let body = json!({"email": "ada@example.com", "password": "correct horse"});
    let response = testing::send(
        &router,
        testing::json_request("POST", "/api/users/signup", &body),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        messages(response).await,
        vec![json!({"message": "Service unavailable, please retry"})]
    );
}

/// The SDK tries a write again when an attempt times out (a loaded DynamoDB): if the first attempt
/// landed, the retry finds the account it just wrote, which must not be refused as its own
/// duplicate; another account for the same email still is.
#[tokio::test]
async fn a_sign_up_whose_first_write_landed_unseen_is_created_not_refused_as_taken() {
    use auth::credentials::Email;
    use auth::users::{Added, UserItem, Users};

    let app = TestApp::spawn().await;
    let users = Users::new(app.tables.client.clone(), &app.tables.prefix);
    let email = Email::parse("ada@example.com").expect("email");
    let user = UserItem::new(
        "first".to_owned(),
        &email,
        "hash".to_owned(),
        "now".to_owned(),
    );
    assert_eq!(users.add(&user).await.expect("add"), Added::Created);
    // The same write again, as a retry sends it.
    assert_eq!(users.add(&user).await.expect("retry"), Added::Created);
    let other = UserItem::new(
        "second".to_owned(),
        &email,
        "hash".to_owned(),
        "now".to_owned(),
    );
    assert_eq!(users.add(&other).await.expect("add"), Added::EmailTaken);
}
