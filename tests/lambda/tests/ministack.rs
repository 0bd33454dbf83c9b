//! Sign-up, sign-in and current-user as AWS Lambda functions: built by `cargo lambda build`,
//! deployed by `cargo lambda deploy` to ministack, behind an API Gateway HTTP API, with their table
//! in ministack's DynamoDB, and called over HTTP through the API.

use std::time::Instant;

use lambda::{FUNCTIONS, Ministack, TABLE_PREFIX, Tools};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use shared::dynamo::aws_sdk_dynamodb::types::AttributeValue;

const JWT_KEY: &str = "lambda-test-key";

/// The session cookie an answer sets, as `name=value` to send back.
fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response
        .headers()
        .get(SET_COOKIE)
        .expect("a Set-Cookie header")
        .to_str()
        .expect("an ASCII cookie");
    // Through API Gateway as through NGINX: the attributes the runtime sets survive the trip
    // (payload format 2.0 returns cookies apart from the headers).
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing in {set_cookie}"
        );
    }
    let pair = set_cookie.split(';').next().expect("a cookie");
    assert!(pair.starts_with("session="), "{set_cookie}");
    pair.to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_up_sign_in_and_current_user_on_lambda_behind_an_http_api() {
    let tools = Tools::find().expect("the Lambda tools");

    let started = Instant::now();
    let zips = tools.build().await.expect("cargo lambda build");
    eprintln!("lambda: cargo lambda build took {:?}", started.elapsed());

    let started = Instant::now();
    let ministack = Ministack::start(&tools).await.expect("ministack");
    ministack.provision().await.expect("tables");
    let mut routes = Vec::new();
    for (function, route) in FUNCTIONS {
        let arn = ministack
            .deploy(
                &tools,
                &zips,
                function,
                &[("JWT_KEY", JWT_KEY), ("TABLE_PREFIX", TABLE_PREFIX)],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", ministack.log_tail()));
        routes.push((*route, arn));
    }
    let routes: Vec<(&str, &str)> = routes.iter().map(|(r, a)| (*r, a.as_str())).collect();
    let api_id = ministack.http_api(&routes).await.expect("the HTTP API");
    let (base, http) = ministack.api_client(&api_id).expect("a client");
    let log_tail = || ministack.log_tail();

    // Sign-up: 201, the account, a session; the email is stored lower-cased.
    let signed_up = http
        .post(format!("{base}/api/users/signup"))
        .json(&json!({"email": "Ada@Example.com", "password": "correct horse"}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(signed_up.status(), StatusCode::CREATED, "{}", log_tail());
    let cookie = session_cookie(&signed_up);
    let account: Value = signed_up.json().await.expect("JSON");
    assert_eq!(account["email"], "ada@example.com");
    let id = account["id"].as_str().expect("an id").to_owned();

    // The account is in ministack's DynamoDB, in the table provisioning made.
    let item = ministack
        .dynamodb()
        .get_item()
        .table_name(format!("{TABLE_PREFIX}users"))
        .key("pk", AttributeValue::S("email#ada@example.com".to_owned()))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the user's item");
    assert_eq!(item.get("id"), Some(&AttributeValue::S(id.clone())));

    // The same email again: the conditional put refuses it.
    let again = http
        .post(format!("{base}/api/users/signup"))
        .json(&json!({"email": "ada@example.com", "password": "another one"}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let body: Value = again.json().await.expect("JSON");
    assert_eq!(body, json!({"errors": [{"message": "Email in use"}]}));

    // Current user: the session's user with the cookie, nobody without one.
    let current = http
        .get(format!("{base}/api/users/currentuser"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("current-user");
    assert_eq!(current.status(), StatusCode::OK, "{}", log_tail());
    let body: Value = current.json().await.expect("JSON");
    assert_eq!(body["currentUser"]["id"], id.as_str());
    assert_eq!(body["currentUser"]["email"], "ada@example.com");
    let anonymous: Value = http
        .get(format!("{base}/api/users/currentuser"))
        .send()
        .await
        .expect("current-user")
        .json()
        .await
        .expect("JSON");
    assert_eq!(anonymous, json!({"currentUser": null}));

    // Sign-in: a wrong password is refused, the right one gives a new session for the same user.
    let wrong = http
        .post(format!("{base}/api/users/signin"))
        .json(&json!({"email": "ada@example.com", "password": "wrong horse"}))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST, "{}", log_tail());
    let body: Value = wrong.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({"errors": [{"message": "Invalid credentials"}]})
    );
    let signed_in = http
        .post(format!("{base}/api/users/signin"))
        .json(&json!({"email": "ADA@example.com", "password": "correct horse"}))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(signed_in.status(), StatusCode::OK, "{}", log_tail());
    let cookie = session_cookie(&signed_in);
    let body: Value = signed_in.json().await.expect("JSON");
    assert_eq!(body["id"], id.as_str());
    let current: Value = http
        .get(format!("{base}/api/users/currentuser"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("current-user")
        .json()
        .await
        .expect("JSON");
    assert_eq!(current["currentUser"]["id"], id.as_str());

    // A route the API does not have is API Gateway's 404, not a function's.
    let unrouted = http
        .post(format!("{base}/api/users/signout"))
        .send()
        .await
        .expect("sign-out");
    assert_eq!(unrouted.status(), StatusCode::NOT_FOUND);

    // Each answer came from the function running as a Lambda (the runtime's Lambda mode, through
    // lambda_http), not from a server on a port: its log, in CloudWatch Logs, says so.
    for (function, _) in FUNCTIONS {
        let logs = ministack.function_logs(function).await.expect("the logs");
        assert!(
            logs.iter()
                .any(|line| line.contains("serving on AWS Lambda")),
            "{function} did not run in Lambda mode; its log: {logs:#?}"
        );
    }
    eprintln!(
        "lambda: ministack, deployment and calls took {:?}",
        started.elapsed()
    );
}
