//! Print jobs over HTTP (issue 12): post a job to a printer, read jobs,
//! a person's reprint or skip, and an order's pickup slip again.
//!
//! Roles: `pos`, `staff` and `admin` post and read; `staff` and `admin`
//! see every job, a `pos` token only the jobs it posted (another's is
//! 404); reprint and skip: `staff`, `admin` and the `pos` token that
//! posted the job. `kiosk` none. A job's body is at most
//! [`MAX_JOB_BODY_BYTES`] (more than 1 KiB only with a valid token, as
//! everywhere). Must never log or echo a job's content (customer names,
//! card numbers).

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{auth::Caller, ApiError, AppState};
use crate::printers::jobs::{JobError, Posted};
use crate::printing::queue::State as JobState;
use crate::store::print_jobs::JobRow;
use crate::store::tokens::Role;

/// The largest print-job body: a long receipt with a logo.
pub const MAX_JOB_BODY_BYTES: usize = 256 * 1024;

/// A print job as the API shows it (never its content).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job's id, as a string.
    pub id: String,
    pub printer_id: String,
    /// events.md's `document`: the template's name, `receipt` for a free document.
    pub document: String,
    /// queued, sending, printed, failed, uncertain or skipped.
    pub state: String,
    /// The queued pass is a person's reprint.
    pub reprint: bool,
    /// Times it was sent to the printer.
    pub attempts: i64,
    /// Times it printed.
    pub printed: i64,
    /// Why it failed or is uncertain.
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(crate::events::format_time)
        .unwrap_or_default()
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> JobView {
        JobView {
            id: r.id.to_string(),
            printer_id: r.printer_id,
            document: r.document_kind,
            state: r.state,
            reprint: r.reprint,
            attempts: r.attempts,
            printed: r.printed,
            reason: r.reason,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// A template job (the other form of the body is a document, `{"blocks": [...], "register"?: "till-1"}`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TemplateJob {
    /// pickup_slip, handover_confirmation, receipt or test.
    template: String,
    /// The template's data (unknown fields refused). A receipt's: `transaction_id`,
    /// `register_id`?, `time`?, `currency`? (EUR), `header`?: [text], `lines`: [{`name`,
    /// `quantity`?, `unit_price_minor`?, `total_minor`, `vat`?}], `vat`?: [{`label`, `rate`,
    /// `net_minor`, `vat_minor`, `gross_minor`}], `total_minor`, `payments`: [{`method`,
    /// `amount_minor`}], `change_minor`?, `footer`?: [text], `fiscal`?: FiscalBlock.
    #[schema(value_type = Object)]
    data: serde_json::Value,
    /// de or en [default: `[printing] language`].
    language: Option<String>,
}

/// A receipt's `fiscal` block: the till's signed-receipt data (KassenSichV /
/// TSE) printed verbatim — never re-worded, translated or screened for card
/// numbers — at the end of the receipt after a separator: each of `lines` as
/// one line (wrapped at the paper's width if longer), then `qr` as a QR code
/// (model 2, level M) when given.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FiscalBlock {
    /// e.g. "TSE-Seriennummer: …", "Signaturzähler: 4711", "Start: 2026-03-01T10:00:00".
    lines: Vec<String>,
    /// The QR payload of the signed receipt (DSFinV-K's `V0;…` string).
    qr: Option<String>,
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> ApiError {
        let detail = e.to_string();
        match e {
            JobError::UnknownPrinter(_) | JobError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
            }
            JobError::Invalid(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-job", detail)
            }
            JobError::CardNumber(crate::events::DataError::CardNumber { field }) => {
                ApiError::card_number(&field)
            }
            JobError::CardNumber(other) => ApiError::unprocessable(other.to_string()),
            JobError::Forbidden(_) => ApiError::forbidden(detail),
            JobError::NotAllowed(refused) => {
                let mut e = ApiError::new(StatusCode::CONFLICT, "illegal-transition", detail);
                if let serde_json::Value::Object(m) = json!({
                    "current_state": refused.state.as_str(),
                    "allowed": refused.allowed,
                }) {
                    e.extra = Some(m);
                }
                e
            }
            JobError::Store(s) => s.into(),
        }
    }
}

fn job_response(status: StatusCode, row: JobRow) -> Response {
    (status, Json(JobView::from(row))).into_response()
}

fn job_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no print job {id}"),
        )
    })
}

const READERS: &[Role] = &[Role::Pos, Role::Staff];

/// Queue a job on a printer: a document or a template with its data.
#[utoipa::path(post, path = "/api/v1/printers/{id}/jobs", params(("id" = String, Path, description = "The printer's id in the config"),
    ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{8,128}$", description = "8–128 characters, one token's own: a repeat with the same body answers 200 with the same job, with another body 409")),
    request_body(content = TemplateJob, content_type = "application/json", description = "A template job `{\"template\", \"data\", \"language\"?}`, or a document `{\"blocks\": [{\"kind\": \"text\"|\"columns\"|\"separator\"|\"qr\"|\"barcode\"|\"image\"|\"feed\"|\"cut\"|\"drawer_kick\", …}], \"register\"?}` (at most 1,000 blocks, 4,096 characters a text, an image at most the paper's width and 2,000 dots tall). Every text is screened for card numbers except barcode and QR payloads and a receipt's `fiscal` block (see FiscalBlock). A `drawer_kick` needs a printer with `drawer = true` and an admin token, or a pos token of the printer's register sending `\"register\"` equal to it."),
    responses(
        (status = 202, description = "Queued; the printer's worker prints it", body = JobView),
        (status = 200, description = "Idempotent repeat: the same job", body = JobView),
        (status = 401, description = "Missing, unknown or revoked token", body = super::error::Problem),
        (status = 403, description = "Role may not post jobs, or may not open this drawer", body = super::error::Problem),
        (status = 404, description = "No such printer", body = super::error::Problem),
        (status = 409, description = "Idempotency-Key reused with another body", body = super::error::Problem),
        (status = 413, description = "Body over 256 KiB", body = super::error::Problem),
        (status = 422, description = "Cannot be printed on this printer (says why), or a card number (`reason: card_number`, `field`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn post_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(printer_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(READERS, "post print jobs")?;
    super::events::check_json_content_type(&headers)?;
    let key = super::events::idempotency_key(&headers)?;
    Ok(
        match state
            .print_jobs
            .submit(&caller.0, &printer_id, &body, key)
            .await?
        {
            Posted::Created(row) => job_response(StatusCode::ACCEPTED, row),
            Posted::Replayed(row) => job_response(StatusCode::OK, row),
        },
    )
}

/// One print job.
#[utoipa::path(get, path = "/api/v1/print-jobs/{id}", params(("id" = String, Path)), responses(
    (status = 200, description = "The job", body = JobView),
    (status = 404, description = "No such job (or, for a pos token, not one it posted)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(READERS, "read print jobs")?;
    let row = state.print_jobs.get(&caller.0, job_id(&id)?).await?;
    Ok(job_response(StatusCode::OK, row))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// queued, sending, printed, failed, uncertain or skipped.
    pub state: Option<String>,
}

/// Print jobs, oldest first (at most 1,000): all of them for staff and
/// admin, a pos token's own.
#[utoipa::path(get, path = "/api/v1/print-jobs", params(JobsQuery), responses(
    (status = 200, description = "`{\"jobs\": [JobView…]}`"),
    (status = 400, description = "Unknown state", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<JobsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(READERS, "read print jobs")?;
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))?;
    let wanted = match query.state.as_deref() {
        None => None,
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "state must be queued, sending, printed, failed, uncertain or skipped",
            )
        })?),
    };
    let rows = state.print_jobs.list(&caller.0, wanted).await?;
    let jobs: Vec<JobView> = rows.into_iter().map(JobView::from).collect();
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

/// Print an uncertain (or printed) job once more, behind the queue.
#[utoipa::path(post, path = "/api/v1/print-jobs/{id}/reprint", params(("id" = String, Path)), responses(
    (status = 200, description = "Queued again", body = JobView),
    (status = 403, description = "Not staff, admin or the till that posted it", body = super::error::Problem),
    (status = 409, description = "Not allowed in the job's state: `current_state`, `allowed`", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn reprint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(READERS, "reprint print jobs")?;
    let row = state.print_jobs.reprint(&caller.0, job_id(&id)?).await?;
    Ok(job_response(StatusCode::OK, row))
}

/// Drop an uncertain job: a person saw that it printed (or that it need not).
#[utoipa::path(post, path = "/api/v1/print-jobs/{id}/skip", params(("id" = String, Path)), responses(
    (status = 200, description = "Skipped", body = JobView),
    (status = 403, description = "Not staff, admin or the till that posted it", body = super::error::Problem),
    (status = 409, description = "Not uncertain: `current_state`, `allowed`", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn skip(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(READERS, "skip print jobs")?;
    let row = state.print_jobs.skip(&caller.0, job_id(&id)?).await?;
    Ok(job_response(StatusCode::OK, row))
}

/// Print an order's pickup slip again on `[pickup] slip_printer`.
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/slip", params(("order_id" = String, Path)), responses(
    (status = 202, description = "Queued", body = JobView),
    (status = 404, description = "No such order", body = super::error::Problem),
    (status = 422, description = "No slip printer configured, or the order is not ready", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn slip_again(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "print pickup slips")?;
    let id = state.pickups.slip_again(&order_id).await?;
    let row = state.print_jobs.get(&caller.0, id).await?;
    Ok(job_response(StatusCode::ACCEPTED, row))
}
