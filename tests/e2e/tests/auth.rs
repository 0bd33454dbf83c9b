//! The auth functions behind NGINX, as a browser or script would use them.

use e2e::{Stack, session_token};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

#[tokio::test]
async fn sign_up_current_user_sign_out_and_sign_in_keep_the_contract_through_nginx() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let credentials = json!({"email": "Ada@Example.com", "password": "correct horse"});

    let signed_up = http
        .post(stack.url("/api/users/signup"))
        .json(&credentials)
        .send()
        .await
        .expect("sign up");
    assert_eq!(signed_up.status(), StatusCode::CREATED);
    let cookie = signed_up.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.starts_with("session=")
            && cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400"),
        "{cookie}"
    );
    let token = session_token(&signed_up).expect("session token");
    let user = body(signed_up).await;
    assert_eq!(user["email"], "ada@example.com");

    let current = http
        .get(stack.url("/api/users/currentuser"))
        .header(COOKIE, format!("session={token}"))
        .send()
        .await
        .expect("current user");
    assert_eq!(current.status(), StatusCode::OK);
    let current = body(current).await;
    assert_eq!(current["currentUser"]["id"], user["id"]);
    assert_eq!(current["currentUser"]["email"], "ada@example.com");
    assert!(current["currentUser"]["exp"].as_i64() > current["currentUser"]["iat"].as_i64());

    let signed_out = http
        .post(stack.url("/api/users/signout"))
        .send()
        .await
        .expect("sign out");
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert_eq!(
        signed_out.headers()[SET_COOKIE],
        "session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    );
    assert_eq!(body(signed_out).await, json!({}));

    let anonymous = http
        .get(stack.url("/api/users/currentuser"))
        .send()
        .await
        .expect("current user");
    assert_eq!(body(anonymous).await, json!({"currentUser": null}));

    let signed_in = http
        .post(stack.url("/api/users/signin"))
        .json(&credentials)
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), StatusCode::OK);
    let token = session_token(&signed_in).expect("session token");
    assert_eq!(body(signed_in).await, user);
    let bearer = http
        .get(stack.url("/api/users/currentuser"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("current user");
    assert_eq!(body(bearer).await["currentUser"]["id"], user["id"]);

    assert!(stack.stop().await, "devstack exits cleanly on Ctrl-C");
}

#[tokio::test]
async fn thirty_simultaneous_sign_ups_with_one_email_through_nginx_give_one_account() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let url = stack.url("/api/users/signup");
    let attempts = (0..30).map(|_| {
        http.post(&url)
            .json(&json!({"email": "race@example.com", "password": "correct horse"}))
            .send()
    });
    let mut statuses = Vec::new();
    for response in futures::future::join_all(attempts).await {
        let response = response.expect("response");
        let status = response.status();
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(
                body(response).await,
                json!({"errors": [{"message": "Email in use"}]})
            );
        }
        statuses.push(status);
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((created, refused), (1, 29), "{statuses:?}");
    assert!(stack.stop().await);
}

#[tokio::test]
async fn bad_input_of_every_kind_gets_the_contract_error_body_and_never_a_5xx() {
    let stack = Stack::start(&[]).await;
    let http = reqwest::Client::new();
    let signup = stack.url("/api/users/signup");
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            http.post(&signup)
                .header(CONTENT_TYPE, "application/json")
                .body("{\"email\":"),
            StatusCode::BAD_REQUEST,
            "Malformed JSON body",
        ),
        (
            "wrong content type",
            http.post(&signup)
                .header(CONTENT_TYPE, "text/plain")
                .body("hello"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ),
        (
            "100 KB body",
            http.post(&signup)
                .header(CONTENT_TYPE, "application/json")
                .body("x".repeat(100 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large",
        ),
        (
            "unknown route",
            http.get(stack.url("/api/nothing/here")),
            StatusCode::NOT_FOUND,
            "Not Found",
        ),
        (
            "wrong method",
            http.get(&signup),
            StatusCode::NOT_FOUND,
            "Not Found",
        ),
        (
            "health is not public",
            http.get(stack.url("/healthz")),
            StatusCode::NOT_FOUND,
            "Not Found",
        ),
    ];
    for (case, request, status, message) in cases {
        let response = request.send().await.expect(case);
        assert_eq!(response.status(), status, "{case}");
        assert_eq!(
            body(response).await,
            json!({"errors": [{"message": message}]}),
            "{case}"
        );
    }
    assert!(stack.stop().await);
}

#[tokio::test]
async fn ctrl_c_stops_everything_the_stack_started() {
    let stack = Stack::start(&[]).await;
    let ports = stack.ports.clone();
    assert!(
        Stack::any_port_in_use(&ports),
        "the stack listens while it runs"
    );
    assert!(stack.stop().await, "devstack exits cleanly on Ctrl-C");
    assert!(
        !Stack::any_port_in_use(&ports),
        "nothing listens after Ctrl-C"
    );
}

#[tokio::test]
async fn an_environment_override_given_to_the_stack_reaches_the_functions() {
    let stack = Stack::start(&[("SESSION_TTL_SECONDS", "60")]).await;
    let response = reqwest::Client::new()
        .post(stack.url("/api/users/signup"))
        .json(&json!({"email": "short@example.com", "password": "correct horse"}))
        .send()
        .await
        .expect("sign up");
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.ends_with("; Max-Age=60"), "{cookie}");
    assert!(stack.stop().await);
}
