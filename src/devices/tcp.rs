//! TCP transport: network scanners that send their scans as lines over a
//! connection we open to them. A refused or dropped connection is Offline;
//! the supervisor reconnects with backoff.
//!
//! Must never: listen for connections (that would let anyone on the store
//! network inject scans) or write to the scanner.

use std::time::Duration;

use tokio::net::TcpStream;

use super::link::ReadLink;
use super::DeviceError;

pub type TcpLink = ReadLink<TcpStream>;

/// How long one connection attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn open(address: &str) -> Result<TcpLink, DeviceError> {
    let what = format!("connecting to {address}");
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(DeviceError::from_io(&what, &e)),
        Err(_) => {
            return Err(DeviceError::NotPresent(format!(
                "{what}: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )))
        }
    };
    // Scans are tiny; nothing to batch. Failure to set it changes nothing we rely on.
    let _ = stream.set_nodelay(true);
    Ok(ReadLink::new(stream, "reading from network scanner"))
}
