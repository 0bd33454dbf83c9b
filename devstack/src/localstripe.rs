//! Telling `localstripe` where to send webhooks, as one registers an endpoint in Stripe's dashboard.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Registers the stack's webhook endpoint (through NGINX) with its signing secret.
pub async fn register_webhook(stripe_port: u16, url: &str, secret: &str) -> Result<(), String> {
    let body = format!(r#"{{"url": "{url}", "secret": "{secret}"}}"#);
    let request = format!(
        "POST /_config/webhooks/ticketing HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", stripe_port))
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
