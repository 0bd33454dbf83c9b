//! How many DynamoDB calls one client (a function has one, and its outbox another) has under way
//! at most: the rest wait here, in the process, for their turn.
//!
//! A crowd makes a function start as many calls as it has requests, and a DynamoDB (Local above
//! all, but also one partition in AWS) answers fewer of them the more arrive at once: measured on
//! DynamoDB Local, one item's transactions ran at 732 a second with 8 in flight and at 208 with
//! 200, each a hundred times slower. Worse, every call queued there counts against its attempt's
//! deadline, so a call that waited too long is sent again while the first still takes DynamoDB's
//! time. Waiting here costs nothing, a call that runs out of time here never reached DynamoDB, and
//! each function keeps its own share of DynamoDB however busy the others are, so an order is not
//! queued behind a thousand reads of the waiting room.
//!
//! The wait is inside the call's attempt, so the SDK's deadlines ([`crate::dynamo::timeouts`])
//! still bound it: a DynamoDB that stalls still costs a request a few seconds and a 503.

use std::sync::Arc;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::{Builder, tls};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use tokio::sync::Semaphore;

/// The most DynamoDB calls one client has under way. DynamoDB Local's best single-order rate
/// (the bench's sweep) is at 8 to 32 in flight; a few functions busy at once stay in that range.
pub const DYNAMODB_CALLS: usize = 16;

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc: what the SDK builds when given
/// none), with each call waiting for one of its [`DYNAMODB_CALLS`] permits first. Each client has
/// its own: a test's deliberately stalled client does not hold up the real one beside it.
pub fn client() -> SharedHttpClient {
    let inner = Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    let permits = Arc::new(Semaphore::new(DYNAMODB_CALLS));
    http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Limited {
            inner: inner.http_connector(settings, components),
            permits: Arc::clone(&permits),
        })
    })
}

#[derive(Debug)]
struct Limited {
    inner: SharedHttpConnector,
    permits: Arc<Semaphore>,
}

impl HttpConnector for Limited {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let permits = Arc::clone(&self.permits);
        HttpConnectorFuture::new(async move {
            // Held until the answer's head arrives; DynamoDB's bodies are small.
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|closed| ConnectorError::other(closed.into(), None))?;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::DYNAMODB_CALLS;

    #[tokio::test]
    async fn a_client_has_no_more_dynamodb_calls_under_way_than_its_limit() {
        // A DynamoDB that accepts connections and never answers: each call holds its connection.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let config = aws_sdk_dynamodb::config::Builder::from(&crate::dynamo::sdk_config().await)
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let calls: Vec<_> = (0..DYNAMODB_CALLS * 3)
            .map(|n| {
                let request = client
                    .get_item()
                    .table_name("any")
                    .key("pk", crate::dynamo::s(n.to_string()));
                tokio::spawn(request.send())
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        listener.set_nonblocking(true).expect("non-blocking");
        let connected = std::iter::from_fn(|| listener.accept().ok()).count();
        calls.iter().for_each(tokio::task::JoinHandle::abort);
        assert_eq!(connected, DYNAMODB_CALLS);
    }
}
