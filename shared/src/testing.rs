//! Test support: isolated tables on the real DynamoDB Local, and small request helpers.
//!
//! Each [`TestTables`] has its own random prefix, so tests run in parallel on one DynamoDB Local, and
//! drops its tables when it goes out of scope (also when the test panics).

use aws_sdk_dynamodb::Client;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, header};
use tower::ServiceExt;

use crate::dynamo::{self, TablePrefix, TableSpec};

/// Tables of one test.
pub struct TestTables {
    pub client: Client,
    pub prefix: TablePrefix,
    specs: Vec<TableSpec>,
}

impl TestTables {
    /// Creates the tables under a fresh prefix. Panics with advice when DynamoDB Local is not
    /// configured: these tests need it, and `make test` starts it.
    pub async fn create(specs: &[TableSpec]) -> Self {
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
            "AWS_ENDPOINT_URL_DYNAMODB is not set: integration tests run against DynamoDB Local; use `make test`"
        );
        let client = dynamo::client().await;
        let prefix = TablePrefix(format!("t{}-", uuid::Uuid::new_v4().simple()));
        dynamo::ensure_tables(&client, &prefix, specs)
            .await
            .expect("create test tables on DynamoDB Local");
        Self {
            client,
            prefix,
            specs: specs.to_vec(),
        }
    }
}

impl Drop for TestTables {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let specs = std::mem::take(&mut self.specs);
        // Drop cannot await, and the test's runtime may be shutting down: use a runtime of our own,
        // and a client of its own too (the test client's pooled connections die with the test's
        // runtime, and a request on one would wait for its timeout).
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let client = dynamo::client().await;
                let _ = dynamo::delete_tables(&client, &prefix, &specs).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// A JSON request.
pub fn json_request(method: &str, uri: &str, body: &serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid request")
}

/// A request without a body.
pub fn empty_request(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("valid request")
}

/// Sends one request through the router, in process.
pub async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible")
}

/// The response's body as JSON (`Value::Null` for an empty body).
pub async fn json_body(response: Response<Body>) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("read body");
    if bytes.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&bytes).expect("JSON body")
}

/// A client configured like the real one but pointed at a port where nothing listens: for the
/// "DynamoDB is unreachable" path, which the real DynamoDB Local cannot be made to produce on demand.
pub async fn unreachable_client() -> Client {
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let config = aws_sdk_dynamodb::config::Builder::from(&base)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    Client::from_conf(config)
}
