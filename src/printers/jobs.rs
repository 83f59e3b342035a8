//! The print-job handle that the API (and through it the tablets and
//! tills) uses: check a posted job (the printer exists, the document
//! renders for its profile, the drawer rule, no card numbers), queue it in
//! one writer op, ring the printers' [`Wake`]; read jobs; a person's
//! reprint or skip.
//!
//! Who sees what: `staff` and `admin` see every job; a `pos` token sees
//! (and may reprint or skip) only the jobs it posted. A drawer kick is
//! allowed to `admin`, and to a `pos` token whose register is the
//! printer's `register` and the document's.
//!
//! Must never: queue a job that does not render on its printer, let a
//! card number into the queue (barcode and QR payloads and a receipt's
//! `fiscal` block aside: they are printed verbatim), repeat one in an
//! error, or log a job's content (it holds customer names).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Wake;
use crate::devices::PrinterConfig;
use crate::events::catalog::screen_free_text;
use crate::events::DataError;
use crate::printing::job::{Content, ContentError};
use crate::printing::queue::{self, Action, NotAllowed, State};
use crate::printing::templates::{Language, Template};
use crate::store::print_jobs::{self, Enqueued, JobKey, JobRow, NewJob};
use crate::store::tokens::{Principal, Role};
use crate::store::{ReadPool, StoreError, Writer};

/// Most jobs a list answers with.
pub const LIST_LIMIT: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no printer `{0}` in the config (see GET /api/v1/devices)")]
    UnknownPrinter(String),
    #[error("no print job {0}")]
    NotFound(i64),
    /// The body or its document cannot be printed; says why.
    #[error("{0}")]
    Invalid(String),
    /// A clear card number in `field`; the number is never repeated.
    #[error("{0}")]
    CardNumber(DataError),
    #[error("{0}")]
    Forbidden(String),
    /// The job's state does not allow the step (409, with the state).
    #[error(transparent)]
    NotAllowed(NotAllowed),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A posted job: new, or the same request again under its key.
#[derive(Debug)]
pub enum Posted {
    Created(JobRow),
    Replayed(JobRow),
}

/// `{"template", "data", "language"?}`: a template job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    template: String,
    data: Value,
    #[serde(default)]
    language: Option<String>,
}

/// The print queue as the API sees it. Cheap to clone.
#[derive(Clone)]
pub struct PrintJobs {
    writer: Writer,
    readers: ReadPool,
    printers: Arc<[PrinterConfig]>,
    language: Language,
    wake: Wake,
}

fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl PrintJobs {
    /// `writer` should be a request handle (`Writer::for_requests`).
    pub fn new(
        writer: Writer,
        readers: ReadPool,
        printers: &[PrinterConfig],
        language: Language,
        wake: Wake,
    ) -> PrintJobs {
        PrintJobs {
            writer,
            readers,
            printers: printers.into(),
            language,
            wake,
        }
    }

    pub fn printer(&self, id: &str) -> Option<&PrinterConfig> {
        self.printers.iter().find(|p| p.id == id)
    }

    /// Checks and queues a job for `printer_id`; `body` is a document
    /// (`{"blocks": [...], "register"?}`) or `{"template", "data",
    /// "language"?}`. A repeat under the caller's `idempotency` key with
    /// the same body is that job again; another body under it is refused.
    pub async fn submit(
        &self,
        caller: &Principal,
        printer_id: &str,
        body: &[u8],
        idempotency: Option<String>,
    ) -> Result<Posted, JobError> {
        let printer = self
            .printer(printer_id)
            .ok_or_else(|| JobError::UnknownPrinter(printer_id.to_owned()))?
            .clone();
        let (content, register) = self.parse(body)?;
        let invalid = |e: ContentError| JobError::Invalid(e.to_string());
        content
            .render(printer.profile, printer.code_page)
            .map_err(invalid)?;
        if content
            .kicks_drawer(printer.profile, printer.code_page)
            .map_err(invalid)?
        {
            may_open_drawer(caller, &printer, register.as_deref())?;
        }
        let mut hasher = Sha256::new();
        hasher.update(printer_id.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        let key = idempotency.map(|key| JobKey {
            key,
            request_hash: hasher.finalize().into(),
        });
        let token_hash = caller.token_hash;
        let printer_id = printer.id.clone();
        let estimated = body.len() as u64 + 512;
        let (enqueued, row) = self
            .writer
            .run(estimated, move |ctx| {
                let document = content.to_json();
                let enqueued = print_jobs::enqueue(
                    ctx,
                    &NewJob {
                        printer_id: &printer_id,
                        document_kind: content.kind(),
                        document: &document,
                        token_hash: Some(token_hash),
                        idempotency: key,
                        now: now_s(),
                    },
                )?;
                let row = print_jobs::get(ctx.reader(), enqueued.id())?
                    .ok_or_else(|| StoreError::NotFound(format!("print job {}", enqueued.id())))?;
                Ok((enqueued, row))
            })
            .await?;
        Ok(match enqueued {
            Enqueued::Created(_) => {
                self.wake.ring();
                Posted::Created(row)
            }
            Enqueued::Replayed(_) => Posted::Replayed(row),
        })
    }

    /// The content and the document's register, checked for card numbers.
    fn parse(&self, body: &[u8]) -> Result<(Content, Option<String>), JobError> {
        let invalid = |e: String| JobError::Invalid(e);
        let mut value: Value = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
        let Some(object) = value.as_object_mut() else {
            return Err(invalid(
                "the body must be a document {\"blocks\": [...]} or {\"template\", \"data\"}"
                    .into(),
            ));
        };
        if object.contains_key("template") {
            let body: TemplateBody = serde_json::from_value(value)
                .map_err(|e| invalid(format!("not a template job: {e}")))?;
            let template = Template::by_name(&body.template).map_err(|e| invalid(e.to_string()))?;
            let language = match body.language.as_deref() {
                None => self.language,
                Some(name) => Language::by_name(name)
                    .ok_or_else(|| invalid(format!("no language {name} (known: de, en)")))?,
            };
            // The fiscal block is the till's signed data, printed verbatim.
            let skip: &[&str] = if template == Template::Receipt {
                &["fiscal"]
            } else {
                &[]
            };
            screen_free_text("data", &body.data, skip).map_err(JobError::CardNumber)?;
            let register = body
                .data
                .get("register_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Ok((Content::template(template, language, body.data), register));
        }
        let register = match object.remove("register") {
            None => None,
            Some(Value::String(r)) => Some(r),
            Some(_) => return Err(invalid("register must be a string".into())),
        };
        if let Some(blocks) = value.get("blocks").and_then(Value::as_array) {
            for (i, block) in blocks.iter().enumerate() {
                // Payloads are printed as symbols, verbatim: a loyalty or
                // fiscal code may well be 16 Luhn-valid digits.
                let kind = block.get("kind").and_then(Value::as_str);
                if matches!(kind, Some("qr" | "barcode" | "image")) {
                    continue;
                }
                screen_free_text(&format!("blocks[{i}]"), block, &[])
                    .map_err(JobError::CardNumber)?;
            }
        }
        Ok((Content::Document { document: value }, register))
    }

    /// One job, if the caller may see it.
    pub async fn get(&self, caller: &Principal, id: i64) -> Result<JobRow, JobError> {
        let row = self
            .readers
            .run(move |c| print_jobs::get(c, id))
            .await?
            .ok_or(JobError::NotFound(id))?;
        if sees(caller, &row) {
            Ok(row)
        } else {
            Err(JobError::NotFound(id))
        }
    }

    /// The jobs the caller may see, in one state or all, oldest first.
    pub async fn list(
        &self,
        caller: &Principal,
        state: Option<State>,
    ) -> Result<Vec<JobRow>, JobError> {
        let rows = self
            .readers
            .run(move |c| print_jobs::list(c, state.map(State::as_str), LIST_LIMIT))
            .await?;
        Ok(rows.into_iter().filter(|r| sees(caller, r)).collect())
    }

    /// A person's reprint (uncertain or printed → queued, behind the queue).
    pub async fn reprint(&self, caller: &Principal, id: i64) -> Result<JobRow, JobError> {
        let row = self.decide(caller, id, Action::Reprint).await?;
        self.wake.ring();
        Ok(row)
    }

    /// A person's decision that an uncertain job needs no reprint.
    pub async fn skip(&self, caller: &Principal, id: i64) -> Result<JobRow, JobError> {
        self.decide(caller, id, Action::Skip).await
    }

    async fn decide(
        &self,
        caller: &Principal,
        id: i64,
        action: Action,
    ) -> Result<JobRow, JobError> {
        let row = self.get(caller, id).await?;
        let may = matches!(caller.role, Role::Staff | Role::Admin)
            || (caller.role == Role::Pos && posted_by(caller, &row));
        if !may {
            return Err(JobError::Forbidden(format!(
                "a {} token may not {action} this job: staff, admin and the till that posted it may",
                caller.role.as_str()
            )));
        }
        self.writer
            .run(0, move |ctx| {
                let row = print_jobs::get(ctx.reader(), id)?
                    .ok_or_else(|| StoreError::NotFound(format!("print job {id}")))?;
                let state = State::parse(&row.state).ok_or_else(|| StoreError::Invalid {
                    what: format!("print job {id} has the unknown state {}", row.state),
                    source: None,
                })?;
                if let Err(refused) = queue::next(state, action) {
                    return Ok(Err(refused));
                }
                let step = queue::step(action);
                let changed = match action {
                    Action::Reprint => print_jobs::reprint(ctx, id, &step, now_s())?,
                    _ => print_jobs::skip(ctx, id, &step, now_s())?,
                };
                Ok(Ok(changed))
            })
            .await?
            .map_err(JobError::NotAllowed)
    }
}

fn posted_by(caller: &Principal, row: &JobRow) -> bool {
    row.token_hash.as_deref() == Some(&caller.token_hash[..])
}

/// Staff and admin see every job; a till only its own.
fn sees(caller: &Principal, row: &JobRow) -> bool {
    match caller.role {
        Role::Staff | Role::Admin => true,
        Role::Pos => posted_by(caller, row),
        Role::Kiosk | Role::Manager => false,
    }
}

/// The drawer rule: a printer with a drawer; `admin`, or a `pos` token of
/// the printer's register sending a document of that register.
fn may_open_drawer(
    caller: &Principal,
    printer: &PrinterConfig,
    document_register: Option<&str>,
) -> Result<(), JobError> {
    if !printer.drawer {
        return Err(JobError::Invalid(format!(
            "printer `{}` has no cash drawer (drawer = true in its [[devices]] table)",
            printer.id
        )));
    }
    if caller.role == Role::Admin {
        return Ok(());
    }
    let theirs = caller.role == Role::Pos
        && printer.register.is_some()
        && caller.register.as_deref() == printer.register.as_deref()
        && document_register == printer.register.as_deref();
    if theirs {
        Ok(())
    } else {
        Err(JobError::Forbidden(format!(
            "only an admin token, or a pos token of register `{}` sending a document with \"register\": \"{}\", may open the drawer of printer `{}`",
            printer.register.as_deref().unwrap_or("-"),
            printer.register.as_deref().unwrap_or("-"),
            printer.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::PrinterTransport;
    use crate::printing::{CodePage, Profile};

    fn principal(role: Role, register: Option<&str>) -> Principal {
        Principal {
            name: "t".into(),
            role,
            register: register.map(str::to_owned),
            token_hash: [7; 32],
            paired: false,
        }
    }

    fn till_printer(drawer: bool) -> PrinterConfig {
        PrinterConfig {
            id: "till-printer".into(),
            register: Some("till-1".into()),
            profile: Profile::by_name("generic_80").expect("profile"),
            code_page: CodePage::Pc858,
            logo: None,
            drawer,
            transport: PrinterTransport::Tcp {
                address: "127.0.0.1:9100".into(),
            },
        }
    }

    #[test]
    fn the_drawer_opens_for_admin_and_the_printers_own_till_only() {
        let p = till_printer(true);
        let pos = principal(Role::Pos, Some("till-1"));
        assert!(may_open_drawer(&pos, &p, Some("till-1")).is_ok());
        assert!(may_open_drawer(&principal(Role::Admin, None), &p, None).is_ok());
        for (who, doc) in [
            (principal(Role::Pos, Some("till-2")), Some("till-1")),
            (principal(Role::Pos, Some("till-1")), Some("till-2")),
            (principal(Role::Pos, Some("till-1")), None),
            (principal(Role::Pos, None), Some("till-1")),
            (principal(Role::Staff, Some("till-1")), Some("till-1")),
        ] {
            assert!(
                matches!(may_open_drawer(&who, &p, doc), Err(JobError::Forbidden(_))),
                "{who:?} {doc:?}"
            );
        }
        assert!(matches!(
            may_open_drawer(&principal(Role::Admin, None), &till_printer(false), None),
            Err(JobError::Invalid(_))
        ));
    }
}
