//! Readiness checks over loopback.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
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
