//! Request bodies: read whole, within a time and a size, before a handler
//! runs. Every route sits behind [`read_whole`] with its [`BodyLimit`]:
//! pairing and the staff log-in take at most [`SMALL_BODY_BYTES`], the rest
//! `events::MAX_BODY_BYTES`; a body must arrive within
//! [`BODY_READ_TIMEOUT`] (408), and more than [`OPEN_BODY_BYTES`] are read
//! only for a caller with a valid token (401 otherwise).
//!
//! Why: only the headers were timed, so a client on the store network could
//! send the headers of `POST /api/v1/tablets/pair` (or of any route, no
//! token needed) and then trickle or withhold the body, holding up to a
//! MiB of buffer per connection for ever (issue 10).
//!
//! Must never: buffer more than a route's limit, or more than
//! [`OPEN_BODY_BYTES`] for a caller it has not authenticated; echo a body.

use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::{ApiError, AppState};

/// Time a client has to send a request's whole body, counted from the end
/// of its headers (which have [`super::listener::HEADER_READ_TIMEOUT`]).
/// A till's 1 MiB batch needs 70 KB/s to make it; a tablet's log-in is a
/// hundred bytes.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest body of pairing and the staff log-in (a code or a PIN and a
/// name: under 200 bytes in practice).
pub const SMALL_BODY_BYTES: usize = 1024;

/// Bodies up to this size are read before the caller is known; a larger
/// one only once its token checked out. Every route that takes more than
/// this needs a token anyway.
pub const OPEN_BODY_BYTES: usize = 1024;

/// What [`read_whole`] allows on the routes it guards.
#[derive(Clone)]
pub struct BodyLimit {
    pub state: AppState,
    pub max_bytes: usize,
}

/// Middleware: reads the request body whole under the route's limit, then
/// hands the request on with the bytes it read. 413 as soon as the body
/// (by its `Content-Length`, or by what arrived) is over the limit, 408 when
/// it did not arrive within [`BODY_READ_TIMEOUT`], 401 before reading more
/// than [`OPEN_BODY_BYTES`] for a caller without a valid token. Refusals
/// close the connection (the rest of the body is never read).
pub async fn read_whole(State(limit): State<BodyLimit>, req: Request, next: Next) -> Response {
    let (mut parts, mut body) = req.into_parts();
    let max = limit.max_bytes;
    let declared = body.size_hint().lower();
    if declared > max as u64 {
        return refuse(too_large(max));
    }
    let mut authenticated = false;
    if declared > OPEN_BODY_BYTES as u64 {
        if let Err(e) = Caller::from_request_parts(&mut parts, &limit.state).await {
            return refuse(e);
        }
        authenticated = true;
    }
    // At most what a caller not yet known may send, until it is known.
    let mut bytes = Vec::with_capacity(
        usize::try_from(declared)
            .unwrap_or(max)
            .min(OPEN_BODY_BYTES),
    );
    let deadline = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        let frame = match tokio::time::timeout_at(deadline, frame).await {
            Err(_) => {
                super::listener::count_timeout(&limit.state.metrics, "body");
                return refuse(timed_out());
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                // The client went away or broke the framing; nobody may be
                // listening, but say what happened.
                return refuse(ApiError::bad_request(format!(
                    "cannot read the request body: {e}"
                )));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers: nothing we use
        };
        let total = bytes.len() + data.len();
        if total > max {
            return refuse(too_large(max));
        }
        if total > OPEN_BODY_BYTES && !authenticated {
            if let Err(e) = Caller::from_request_parts(&mut parts, &limit.state).await {
                return refuse(e);
            }
            authenticated = true;
        }
        bytes.extend_from_slice(&data);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(max: usize) -> ApiError {
    ApiError::too_large(format!(
        "the request body is larger than {max} bytes, the most this route takes; send less per request"
    ))
}

fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body-timeout",
        format!(
            "the request body did not arrive within {} s; send it at once after the headers",
            BODY_READ_TIMEOUT.as_secs()
        ),
    )
}

/// The refusal, with `Connection: close`: the rest of the body stays
/// unread, so the connection cannot carry another request.
fn refuse(e: ApiError) -> Response {
    let mut response = e.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
