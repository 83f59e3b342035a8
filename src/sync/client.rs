//! The HTTP calls to central (reqwest, rustls on ring): push a batch, read
//! a page of the order feed, read the pickup keys. The only network I/O of
//! sync. Notes central's `Date` header to estimate clock skew.
//!
//! Never follows a redirect: a batch (customer tokens, orders) goes only to
//! `central.url`; a 3xx comes back as an answer and counts as a failure.
//! Transport errors carry their whole `source()` chain, because the cause
//! (a certificate problem, a refused connection) is in the sources, and
//! never the URL or the token.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE, DATE, RETRY_AFTER};

use crate::telemetry::error_chain;

/// A raw answer: status, Retry-After, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// A transport failure: nothing was delivered.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connection(String),
}

#[derive(Clone)]
pub struct CentralClient {
    http: reqwest::Client,
    base: String,
    store_id: String,
    token: Arc<str>,
    timeout: Duration,
    /// Central's clock minus ours, in seconds, from the last `Date` header
    /// (i64::MIN until known).
    pub skew_s: Arc<AtomicI64>,
}

impl CentralClient {
    pub fn new(
        base: &str,
        store_id: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<CentralClient, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("store-edge/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(CentralClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            store_id: store_id.to_owned(),
            token: token.into(),
            timeout,
            skew_s: Arc::new(AtomicI64::new(i64::MIN)),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/stores/{}/{path}", self.base, self.store_id)
    }

    fn map_err(&self, e: reqwest::Error) -> TransportError {
        if e.is_timeout() {
            TransportError::Timeout(self.timeout)
        } else {
            // Without the URL: it is in the config, and errors go to logs.
            TransportError::Connection(error_chain(&e.without_url()))
        }
    }

    async fn finish(&self, resp: reqwest::Response) -> Result<Answer, TransportError> {
        self.note_date(resp.headers());
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Taken over, not copied, when the collected answer is one buffer
        // (central's answer to a full batch is ~0.3 MiB).
        let body = Vec::from(resp.bytes().await.map_err(|e| self.map_err(e))?);
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    fn note_date(&self, headers: &HeaderMap) {
        let Some(date) = headers.get(DATE).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        if let Ok(theirs) = time::PrimitiveDateTime::parse(date, &format) {
            let skew = theirs.assume_utc().unix_timestamp()
                - time::OffsetDateTime::now_utc().unix_timestamp();
            self.skew_s.store(skew, Ordering::Relaxed);
        }
    }

    /// `POST /v1/stores/{id}/events` with a gzip body and the batch's key.
    pub async fn push(
        &self,
        idempotency_key: &str,
        gz_body: bytes::Bytes,
    ) -> Result<Answer, TransportError> {
        let resp = self
            .http
            .post(self.url("events"))
            .bearer_auth(&*self.token)
            .header(CONTENT_TYPE, "application/cloudevents-batch+json")
            .header(CONTENT_ENCODING, "gzip")
            .header("Idempotency-Key", idempotency_key)
            .body(gz_body)
            .send()
            .await
            .map_err(|e| self.map_err(e))?;
        self.finish(resp).await
    }

    /// `GET /v1/stores/{id}/pickup-orders?cursor=&limit=`.
    pub async fn orders_page(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Answer, TransportError> {
        let mut req = self
            .http
            .get(self.url("pickup-orders"))
            .bearer_auth(&*self.token)
            .query(&[("limit", limit.to_string())]);
        if let Some(c) = cursor {
            req = req.query(&[("cursor", c)]);
        }
        let resp = req.send().await.map_err(|e| self.map_err(e))?;
        self.finish(resp).await
    }

    /// `GET /v1/stores/{id}/pickup-keys`.
    pub async fn pickup_keys(&self) -> Result<Answer, TransportError> {
        let resp = self
            .http
            .get(self.url("pickup-keys"))
            .bearer_auth(&*self.token)
            .send()
            .await
            .map_err(|e| self.map_err(e))?;
        self.finish(resp).await
    }

    /// Central's clock minus ours, if an answer carried a `Date`.
    pub fn clock_skew_s(&self) -> Option<i64> {
        let v = self.skew_s.load(Ordering::Relaxed);
        (v != i64::MIN).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_logged_error_names_the_cause_from_its_sources() {
        let e = Outer(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        ));
        assert_eq!(
            error_chain(&e),
            "error sending request: invalid peer certificate: UnknownIssuer"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_says_so_not_only_error_sending_request() {
        // A port that was free a moment ago: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let client = CentralClient::new(
            &format!("http://127.0.0.1:{port}"),
            "s1",
            "secret-token-for-tests",
            Duration::from_secs(10),
        )
        .unwrap();
        let Err(TransportError::Connection(text)) =
            client.push("key-0001", bytes::Bytes::new()).await
        else {
            panic!("expected a connection error");
        };
        assert!(text.contains("error sending request"), "{text}");
        assert!(
            text.to_lowercase().contains("connection refused"),
            "the root cause is in the text: {text}"
        );
        assert!(
            !text.contains("secret-token") && !text.contains(&port.to_string()),
            "{text}"
        );
    }
}
