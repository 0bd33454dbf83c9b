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

/// What a test run without the local dependencies is told to do instead.
pub const HOW_TO_RUN: &str = "integration tests run against DynamoDB Local, NATS and localstripe \
     started by `devstack deps`: run `make test`, or one crate with \
     `cargo build -p devstack && target/debug/devstack deps -- cargo test -p <crate> [filter]`";

/// A variable `devstack deps` sets for the tests it runs (`AWS_ENDPOINT_URL_DYNAMODB`, `NATS_URL`,
/// `STRIPE_API_BASE`, …). Panics saying how to run the tests when it is not set: plain `cargo test`
/// outside `devstack deps` would otherwise fail somewhere deep in a client.
pub fn dependency(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => panic!("{name} is not set: {HOW_TO_RUN}"),
    }
}

/// Tables of one test.
pub struct TestTables {
    pub client: Client,
    pub prefix: TablePrefix,
    specs: Vec<TableSpec>,
}

impl TestTables {
    /// Creates the tables under a fresh prefix. Panics with advice when DynamoDB Local is not
    /// configured or not there: these tests need it, and `devstack deps` starts it.
    pub async fn create(specs: &[TableSpec]) -> Self {
        let endpoint = dependency("AWS_ENDPOINT_URL_DYNAMODB");
        let client = dynamo::client().await;
        let prefix = TablePrefix(format!("t{}-", uuid::Uuid::new_v4().simple()));
        if let Err(err) = dynamo::ensure_tables(&client, &prefix, specs).await {
            panic!(
                "cannot create test tables on DynamoDB Local at {endpoint} ({err}); {HOW_TO_RUN}"
            );
        }
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
        clean_up(async move {
            let client = dynamo::client().await;
            let _ = dynamo::delete_tables(&client, &prefix, &specs).await;
        });
    }
}

/// An isolated piece of JetStream for one test: its own stream capturing its own subject prefix, so
/// that events published by the code under test can be read back, and no other test sees them.
pub struct TestEvents {
    pub settings: crate::publisher::NatsSettings,
    pub stream: String,
    jetstream: async_nats::jetstream::Context,
}

impl TestEvents {
    /// Creates the stream on the NATS server at `NATS_URL` (`devstack deps` starts one).
    pub async fn create() -> Self {
        let url = dependency("NATS_URL");
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let settings = crate::publisher::NatsSettings {
            url: url.clone(),
            subject_prefix: format!("t{tag}."),
        };
        let client = async_nats::connect(url.as_str())
            .await
            .unwrap_or_else(|err| panic!("cannot connect to NATS at {url} ({err}); {HOW_TO_RUN}"));
        let jetstream = async_nats::jetstream::new(client);
        let stream = format!("T{tag}");
        jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: stream.clone(),
                subjects: vec![format!("t{tag}.>")],
                storage: async_nats::jetstream::stream::StorageType::Memory,
                duplicate_window: std::time::Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .expect("create the test stream");
        Self {
            settings,
            stream,
            jetstream,
        }
    }

    pub async fn publisher(&self) -> crate::publisher::Publisher {
        crate::publisher::Publisher::connect(self.settings.clone())
            .await
            .expect("publisher")
    }

    pub fn jetstream(&self) -> &async_nats::jetstream::Context {
        &self.jetstream
    }

    /// Every message stored on a subject (without the test's prefix), in order.
    pub async fn messages(
        &self,
        subject: &str,
    ) -> Vec<async_nats::jetstream::message::StreamMessage> {
        let subject = self.settings.subject(subject);
        let mut stream = self
            .jetstream
            .get_stream(&self.stream)
            .await
            .expect("test stream");
        let info = stream.info().await.expect("stream info");
        let mut found = Vec::new();
        for sequence in info.state.first_sequence..=info.state.last_sequence {
            if let Ok(message) = stream.get_raw_message(sequence).await
                && message.subject.as_str() == subject
            {
                found.push(message);
            }
        }
        found
    }

    /// The events stored on a type's subject.
    pub async fn events(&self, kind: &str) -> Vec<crate::events::CloudEvent> {
        self.messages(kind)
            .await
            .iter()
            .map(|m| crate::events::CloudEvent::from_structured(&m.payload).expect("a CloudEvent"))
            .collect()
    }
}

impl Drop for TestEvents {
    fn drop(&mut self) {
        let url = self.settings.url.clone();
        let stream = self.stream.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(url.as_str()).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&stream)
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// What a context's integration test stands on: its tables, its own piece of JetStream, an outbox
/// publishing there, and sessions to sign test users in with.
pub struct TestStore {
    pub tables: TestTables,
    pub events: TestEvents,
    pub outbox: crate::outbox::Outbox,
    pub sessions: crate::session::Sessions,
}

impl TestStore {
    pub async fn create(specs: &[TableSpec], outbox: &TableSpec) -> Self {
        let tables = TestTables::create(specs).await;
        let events = TestEvents::create().await;
        let outbox = crate::outbox::Outbox::new(
            tables.client.clone(),
            tables.prefix.table(outbox),
            events.publisher().await,
        );
        Self {
            tables,
            events,
            outbox,
            sessions: crate::session::Sessions::new(b"integration-test-key", 3600, false),
        }
    }

    pub fn client(&self) -> Client {
        self.tables.client.clone()
    }

    pub fn prefix(&self) -> &TablePrefix {
        &self.tables.prefix
    }

    /// A new user: their id and `Authorization` header value.
    pub fn user(&self, name: &str) -> (String, String) {
        let id = uuid::Uuid::now_v7().to_string();
        let bearer = bearer(&self.sessions, &id, &format!("{name}@example.com"));
        (id, bearer)
    }
}

/// A signed-in user's `Authorization` header value.
pub fn bearer(sessions: &crate::session::Sessions, id: &str, email: &str) -> String {
    let token = sessions
        .issue(&sessions.claims_for(id, email))
        .expect("token");
    format!("Bearer {token}")
}

/// A JSON request with a bearer token.
pub fn authed_json(
    method: &str,
    uri: &str,
    bearer: &str,
    body: &serde_json::Value,
) -> Request<Body> {
    let mut request = json_request(method, uri, body);
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, bearer.parse().expect("header"));
    request
}

/// A request without a body, with a bearer token.
pub fn authed_empty(method: &str, uri: &str, bearer: &str) -> Request<Body> {
    let mut request = empty_request(method, uri);
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, bearer.parse().expect("header"));
    request
}

/// A CloudEvent posted in binary mode, as the bridge and Knative deliver it.
pub fn event_request(event: &crate::events::CloudEvent) -> Request<Body> {
    let mut builder = Request::builder().method("POST").uri("/");
    for (name, value) in event.binary_headers() {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::from(serde_json::to_vec(&event.data).expect("data")))
        .expect("event request")
}

/// Runs a clean-up from `Drop`, which cannot await and may run while the test's runtime shuts
/// down: on a thread and a runtime of its own, with connections of its own.
fn clean_up(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let cleanup = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(work);
        }
    });
    let _ = cleanup.join();
}

/// Delivers an event to a handler's router as the bridge would; returns the status it answered.
pub async fn deliver(router: Router, event: &crate::events::CloudEvent) -> u16 {
    send(&crate::routing::finish(router), event_request(event))
        .await
        .status()
        .as_u16()
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
    client_at("http://127.0.0.1:9").await
}

/// A client configured like the real one but pointed at a port that accepts connections and never
/// answers: what a frozen DynamoDB (a stopped process, a hung host) looks like to a function. The
/// listener must live as long as the client is used.
pub async fn stalled_client() -> (Client, std::net::TcpListener) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a silent port");
    let port = listener.local_addr().expect("its address").port();
    (
        client_at(&format!("http://127.0.0.1:{port}")).await,
        listener,
    )
}

async fn client_at(endpoint: &str) -> Client {
    let base = dynamo::sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&base)
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// What a function binary prints on stderr when it refuses to start in an environment of only
/// `PATH`, a `PORT` that is not a port, and `vars`: one line per problem with its settings. Panics
/// if the binary starts anyway (it would otherwise serve until the test times out).
pub fn complaints(binary: &str, vars: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", "eighty")
        .envs(vars.iter().copied())
        .output()
        .expect("run the function binary");
    assert!(!output.status.success(), "{binary} must not start");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that, with `vars` set, `binary` complains of exactly the `expected` problems: one line
/// each, and each line naming one of them.
pub fn assert_complains_of(binary: &str, vars: &[(&str, &str)], expected: &[&str]) {
    let stderr = complaints(binary, vars);
    assert_eq!(stderr.lines().count(), expected.len(), "{binary}: {stderr}");
    for problem in expected {
        assert!(stderr.contains(problem), "{binary}: {stderr}");
    }
}
