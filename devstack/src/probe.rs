//! Readiness checks over loopback.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Fails if something already listens on the port: a process of ours would fail to bind it, while
/// readiness checks would find the other one (another stack's NGINX) and take it for ours.
pub fn ensure_free(port: u16, what: &str) -> Result<(), String> {
    std::net::TcpListener::bind(loopback(port))
        .map(drop)
        .map_err(|e| {
            format!(
                "port {port} ({what}) is not free ({e}); is another stack running? Set other ports"
            )
        })
}

/// Something accepts connections on the port.
pub async fn port_open(port: u16) -> bool {
    TcpStream::connect(loopback(port)).await.is_ok()
}

/// The function on the port answers `GET /healthz` with 200.
pub async fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(loopback(port)).await else {
        return false;
    };
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.ends_with(b" 200")
}

/// Waits until something accepts connections on the port, for at most `limit`.
pub async fn wait_for_port(port: u16, limit: std::time::Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + limit;
    while !port_open(port).await {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("nothing listens on port {port} after {limit:?}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
