//! Telling `localstripe` where to send webhooks, as one registers an endpoint in Stripe's dashboard.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The stack's webhook endpoint (through NGINX) and its signing secret.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub stripe_port: u16,
    pub url: String,
    pub secret: String,
}

impl Webhook {
    /// Registers the endpoint; localstripe keeps it in memory only, so after each of its starts.
    pub async fn register(&self) -> Result<(), String> {
        tokio::time::timeout(Duration::from_secs(10), self.send())
            .await
            .map_err(|_| "localstripe did not answer the webhook registration in 10 s".to_owned())?
    }

    async fn send(&self) -> Result<(), String> {
        let body = serde_json::json!({"url": self.url, "secret": self.secret}).to_string();
        let request = format!(
            "POST /_config/webhooks/ticketing HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.stripe_port))
            .await
            .map_err(|e| format!("cannot reach localstripe: {e}"))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot register the webhook: {e}"))?;
        let mut head = [0u8; 12];
        stream
            .read_exact(&mut head)
            .await
            .map_err(|e| format!("no answer from localstripe: {e}"))?;
        if head.ends_with(b" 200") {
            Ok(())
        } else {
            Err(format!(
                "localstripe refused the webhook: {}",
                String::from_utf8_lossy(&head)
            ))
        }
    }
}
