//! The one error type of the local API. Every refusal becomes an
//! `application/problem+json` answer with a message a person can act on.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::events::{DataError, EventError};
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Short machine-readable slug, becomes `urn:store-edge:problem:<slug>`.
    pub kind: &'static str,
    pub detail: String,
    /// Extra members of the problem object (e.g. `current_state`).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seconds for a `Retry-After` header (503 `overloaded`).
    pub retry_after_s: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            extra: None,
            retry_after_s: None,
        }
    }

    /// 503 while the store's write queue is full: nothing was recorded;
    /// `Retry-After` says when to try again and `"reason": "overloaded"`
    /// lets a tablet say "busy, try again in a moment".
    pub fn overloaded(detail: impl Into<String>, retry_after_s: u64) -> ApiError {
        let mut extra = serde_json::Map::new();
        extra.insert("reason".into(), "overloaded".into());
        ApiError {
            extra: Some(extra),
            retry_after_s: Some(retry_after_s),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail)
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-event", detail)
    }

    pub fn too_large(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// 422 for a clear payment card number in `field` (e.g. `data.comment`),
    /// with `"reason": "card_number"` so a tablet or kiosk can say "please
    /// don't enter card numbers". The number itself is never repeated.
    pub fn card_number(field: &str) -> ApiError {
        let detail = crate::events::DataError::CardNumber {
            field: field.to_owned(),
        }
        .to_string();
        let mut extra = serde_json::Map::new();
        extra.insert("reason".into(), "card_number".into());
        extra.insert("field".into(), field.into());
        ApiError {
            extra: Some(extra),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "card-number", detail)
        }
    }

    /// Refuses a clear card number in one of an action body's free-text
    /// fields (`(field name, text)` pairs), see [`ApiError::card_number`].
    pub fn screen_card_numbers(fields: &[(&str, &str)]) -> Result<(), ApiError> {
        match fields
            .iter()
            .find(|(_, text)| crate::scan::pan::contains_card_number(text))
        {
            Some((field, _)) => Err(ApiError::card_number(field)),
            None => Ok(()),
        }
    }

    /// Prefixes the detail, e.g. with the index of the failing event.
    pub fn context(mut self, prefix: &str) -> ApiError {
        self.detail = format!("{prefix}: {}", self.detail);
        self
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> ApiError {
        match e {
            EventError::ServiceOnly(_) => {
                Self::new(StatusCode::FORBIDDEN, "service-only-type", e.to_string())
            }
            EventError::Data(DataError::CardNumber { field }) => Self::card_number(&field),
            other => Self::unprocessable(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        // Not logged per request: a full queue is a flood of these, and the
        // writer warns about it once a minute.
        if let StoreError::Overloaded { retry_after_s } = e {
            return Self::overloaded(e.to_string(), retry_after_s);
        }
        // One feedback answer per order: named, so a kiosk can say "thanks,
        // we have your answer" and a script can tell which order it was.
        if let StoreError::FeedbackExists { order_id } = &e {
            let mut extra = serde_json::Map::new();
            extra.insert("order_id".into(), order_id.clone().into());
            return ApiError {
                extra: Some(extra),
                ..Self::new(StatusCode::CONFLICT, "feedback-exists", e.to_string())
            };
        }
        let status = match &e {
            StoreError::QuotaReached { .. } | StoreError::DiskFull => {
                StatusCode::INSUFFICIENT_STORAGE
            }
            StoreError::IdempotencyMismatch | StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::WriterStopped | StoreError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let kind = match &e {
            StoreError::QuotaReached { .. } => "quota-reached",
            StoreError::DiskFull => "disk-full",
            StoreError::IdempotencyMismatch => "idempotency-mismatch",
            StoreError::Conflict(_) => "conflict",
            StoreError::NotFound(_) => "not-found",
            StoreError::WriterStopped | StoreError::Busy(_) => "unavailable",
            _ => "storage-error",
        };
        if status.is_server_error() && status != StatusCode::INSUFFICIENT_STORAGE {
            let error = crate::telemetry::error_chain(&e);
            tracing::error!(%error, "request failed in the store");
        }
        Self::new(status, kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert(
            "type".into(),
            format!("urn:store-edge:problem:{}", self.kind).into(),
        );
        body.insert(
            "title".into(),
            self.status.canonical_reason().unwrap_or("Error").into(),
        );
        body.insert("status".into(), self.status.as_u16().into());
        // Last line of defence: a message that quotes what the caller sent (a
        // parser's "invalid type: integer `4111…`", a bad `time`) never
        // repeats a card number.
        body.insert(
            "detail".into(),
            crate::scan::pan::redact(&self.detail).into_owned().into(),
        );
        if let Some(extra) = self.extra {
            body.extend(extra);
        }
        let text = serde_json::Value::Object(body).to_string();
        let mut response = (self.status, text).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
