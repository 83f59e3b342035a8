//! HTTP from the tests: clients, free loopback ports, server-sent events.

use std::time::{Duration, Instant};

use super::DEADLINE;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// An HTTP client (installs the process-wide rustls provider first, as the
/// binary's main does).
pub fn http() -> reqwest::Client {
    http_builder().build().expect("http client")
}

pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// Reads server-sent events until one named `name` arrives; returns its data.
pub async fn next_sse(
    resp: &mut reqwest::Response,
    buf: &mut String,
    name: &str,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = if e.trim() == name { name } else { "other" };
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if event == name {
                return serde_json::from_str(&data).expect("sse data is json");
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no `{name}` event on the stream"
        );
        match tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => panic!("stream ended"),
            Ok(Err(e)) => panic!("stream failed: {e}"),
            Err(_) => {}
        }
    }
}
