//! `store-edge print …`: receipt printers from the command line. `preview`
//! renders a template through the encoder and the virtual printer, without
//! a printer or a running service: the text the printer would print on
//! stdout, its picture as a PNG; it must never need the config or the
//! database (a preview is safe anywhere). `test` queues a test page in the
//! print queue (the running service's worker prints it); `jobs` lists the
//! queue. Must never print a job's content (customer names).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;
use crate::api::printing::JobView;
use crate::config::{Config, ConfigError};
use crate::printing::job::Content;
use crate::printing::queue::State;
use crate::printing::templates::{Context, Language, Template};
use crate::printing::{encode, interpret, logo, picture, CodePage, Profile};
use crate::store::{self, print_jobs};
use crate::telemetry::out::outln;

#[derive(Debug, Subcommand)]
pub enum PrintCommand {
    /// Render a template as a printer would print it: the printed text on
    /// stdout and, with --png, a picture of the paper (nothing is sent to a
    /// printer; works without config or service).
    #[command(
        after_help = "Templates (the `document` of store.receipt.printed):\n  \
        pickup_slip            the slip put on a ready order\n  \
        handover_confirmation  what was handed over, to whom, by which staff\n  \
        receipt                a till's receipt document (with its fiscal block)\n  \
        test                   a test page: code page table, QR, barcodes\n\
        Profiles: epson_tm_t20, epson_tm_t88, epson_tm_m30, generic_80 (48 columns, 576 dots), \
        generic_58 (32 columns, 384 dots).\n\
        Example: store-edge print preview pickup_slip --data slip.json --profile generic_58 --png slip.png\n\
        A --logo PNG is shrunk to the paper's width and at most 256 dots high, never enlarged, and dithered.\n\
        Exit codes: 0 ok, 2 unknown template or profile, unreadable or bad data (the error names the field)."
    )]
    Preview(PreviewArgs),
    /// Print a test page (code page table, QR, barcodes, the logo) on a
    /// printer of the config: through the running service's print queue, or
    /// directly when the service is stopped.
    #[command(
        after_help = "When the service answers on api.listen, the job goes into its print queue \
        and its printer worker prints it within a few seconds. When the service is stopped, this \
        command prints it directly, exactly as the service would (the printer's status first; \
        the job and its store.receipt.printed event are recorded); a printer that is offline or \
        out of paper leaves it queued for the service. Prints the job's id.\n\
        Exit codes: 0 queued or printed, 1 the printer cannot print now or a database error, \
        2 no such printer or bad config."
    )]
    Test {
        /// The printer's id (a [[devices]] table with kind = \"printer\").
        printer: String,
        /// de or en [default: [printing] language].
        #[arg(long, value_parser = language)]
        language: Option<Language>,
    },
    /// List print jobs, oldest first (at most 1,000).
    #[command(after_help = "Exit codes: 0 ok, 1 database error, 2 bad state or config.")]
    Jobs {
        /// Only jobs in this state.
        #[arg(long, value_parser = job_state)]
        state: Option<State>,
        #[command(flatten)]
        json: super::JsonFlag,
    },
}

fn job_state(name: &str) -> Result<State, String> {
    State::parse(name).ok_or_else(|| {
        format!("no state {name} (known: queued, sending, printed, failed, uncertain, skipped)")
    })
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// pickup_slip, handover_confirmation, receipt or test.
    pub template: String,
    /// The template's data as a JSON file (unknown fields are refused).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The printer profile (paper width, code pages).
    #[arg(long, value_name = "P", default_value = "epson_tm_t20")]
    pub profile: String,
    /// Write the picture of the paper here (PNG at the profile's dots).
    #[arg(long, value_name = "OUT")]
    pub png: Option<PathBuf>,
    /// The language of the template's own words: de or en.
    #[arg(long, value_parser = language, default_value = "de")]
    pub language: Language,
    /// pc858, pc437 or wpc1252 [default: the profile's]
    #[arg(long, value_name = "PAGE")]
    pub code_page: Option<String>,
    /// A logo at the top: a PNG file (at most 1 MiB and 2048 x 2048 pixels).
    #[arg(long, value_name = "FILE.png")]
    pub logo: Option<PathBuf>,
}

fn language(name: &str) -> Result<Language, String> {
    Language::by_name(name).ok_or_else(|| format!("no language {name} (known: de, en)"))
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// `load` reads the config: only `test` and `jobs` need it.
pub fn run(
    cmd: PrintCommand,
    load: impl FnOnce() -> Result<Config, ConfigError>,
) -> Result<(), CliError> {
    match cmd {
        PrintCommand::Preview(args) => preview(args),
        PrintCommand::Test { printer, language } => test_page(&load()?, &printer, language),
        PrintCommand::Jobs { state, json } => jobs(&load()?, state, json.json),
    }
}

fn test_page(config: &Config, printer: &str, language: Option<Language>) -> Result<(), CliError> {
    let Some(p) = config.printers.iter().find(|p| p.id == printer) else {
        let ids: Vec<_> = config.printers.iter().map(|p| p.id.as_str()).collect();
        return Err(usage(format!(
            "no printer {printer} in {} (printers: {})",
            config.file.display(),
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        )));
    };
    let content = Content::template(
        Template::Test,
        language.unwrap_or(config.printing.language),
        serde_json::json!({}),
    );
    // Our own template always renders; checked anyway so a broken job is
    // never queued.
    content
        .render(p.profile, p.code_page)
        .map_err(super::runtime)?;
    if service_listening(config) {
        let mut db = store::open_for_cli(&config.storage.path, &config.store.id)?;
        let document = content.to_json();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let job = print_jobs::enqueue_direct(
            &mut db,
            &print_jobs::NewJob {
                printer_id: &p.id,
                document_kind: content.kind(),
                document: &document,
                token_hash: None,
                idempotency: None,
                now,
            },
        )?
        .id();
        outln!("{job}")?;
        eprintln!(
            "queued test page as print job {job} on {} ({}): the running service prints it within a few seconds; see `store-edge print jobs`",
            p.id, p.profile.name
        );
        return Ok(());
    }
    print_directly(config, p, content)
}

/// Whether the service runs: something answers on its `api.listen` (an
/// unspecified address is asked on loopback).
fn service_listening(config: &Config) -> bool {
    let mut addr = config.api.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500)).is_ok()
}

/// The service is stopped: the page is queued and printed at once by this
/// command, exactly as the service's worker prints (status first, `sending`
/// committed before the first byte, printed and `store.receipt.printed` in
/// one transaction). A printer that cannot take it leaves it queued.
fn print_directly(
    config: &Config,
    p: &crate::devices::PrinterConfig,
    content: Content,
) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(super::runtime)?;
    let db = store::open_for_cli(&config.storage.path, &config.store.id)?;
    let metrics = std::sync::Arc::new(crate::telemetry::Metrics::new());
    let settings = store::WriterSettings {
        path: config.storage.path.clone(),
        max_size_bytes: config.storage.max_size_bytes(),
        retain_sent_days: config.storage.retain_sent_days,
        timezone: config.store.tz.clone(),
        kpi_ingest: true,
    };
    let (writer, thread) = store::Writer::start(db, settings, metrics)?;
    let outcome = rt.block_on(async {
        let logo = crate::printers::worker::load_logo(p)
            .await
            .map_err(super::runtime)?;
        let (printer_id, kind, document) =
            (p.id.clone(), content.kind().to_owned(), content.to_json());
        let id = writer
            .run(0, move |ctx| {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                print_jobs::enqueue(
                    ctx,
                    &print_jobs::NewJob {
                        printer_id: &printer_id,
                        document_kind: &kind,
                        document: &document,
                        token_hash: None,
                        idempotency: None,
                        now,
                    },
                )
                .map(|e| e.id())
            })
            .await?;
        let printers = crate::printers::worker::Printers {
            writer: writer.clone(),
            readers: store::ReadPool::new(&config.storage.path),
            wake: Default::default(),
            live: crate::live::Live::new(),
            registry: Default::default(),
            printing: config.printing.clone(),
        };
        Ok::<_, CliError>((id, printers.print_now(p.clone(), logo, id).await))
    });
    drop(writer);
    let _ = thread.join();
    let (id, printed) = outcome?;
    match printed {
        Ok(job) if job.state == State::Printed.as_str() => {
            outln!("{id}")?;
            eprintln!(
                "printed test page (print job {id}) directly on {} ({}): the service is not running",
                p.id, p.profile.name
            );
            Ok(())
        }
        Ok(job) => Err(super::runtime(format!(
            "print job {id} on {} is {}: {} (see `store-edge print jobs`)",
            p.id,
            job.state,
            job.reason.unwrap_or_default()
        ))),
        Err(why) => Err(super::runtime(format!(
            "printer {} cannot print now ({why}); the test page stays queued as print job {id} and prints when the service runs",
            p.id
        ))),
    }
}

fn jobs(config: &Config, state: Option<State>, json: bool) -> Result<(), CliError> {
    let db = store::open_existing(&config.storage.path, &config.store.id)?;
    let rows = print_jobs::list(
        &db,
        state.map(State::as_str),
        crate::printers::jobs::LIST_LIMIT,
    )?;
    let views: Vec<JobView> = rows.into_iter().map(JobView::from).collect();
    if json {
        return super::print_json(&views);
    }
    outln!(
        "{:>6}  {:<16} {:<22} {:<10} {:<25} REASON",
        "ID",
        "PRINTER",
        "DOCUMENT",
        "STATE",
        "UPDATED"
    )?;
    for j in &views {
        outln!(
            "{:>6}  {:<16} {:<22} {:<10} {:<25} {}",
            j.id,
            j.printer_id,
            j.document,
            format!("{}{}", j.state, if j.reprint { "*" } else { "" }),
            j.updated_at,
            j.reason.as_deref().unwrap_or("-")
        )?;
    }
    if views.is_empty() {
        eprintln!(
            "no print jobs{}",
            state.map(|s| format!(" {s}")).unwrap_or_default()
        );
    }
    Ok(())
}

fn preview(args: PreviewArgs) -> Result<(), CliError> {
    let template = Template::by_name(&args.template).map_err(usage)?;
    let profile = Profile::by_name(&args.profile).ok_or_else(|| {
        usage(format!(
            "no printer profile {} (known: {})",
            args.profile,
            Profile::names().join(", ")
        ))
    })?;
    let page = match args.code_page.as_deref() {
        None => profile.default_page,
        Some(name) => [CodePage::Pc858, CodePage::Pc437, CodePage::Wpc1252]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                usage(format!(
                    "no code page {name} (known: pc858, pc437, wpc1252)"
                ))
            })?,
    };
    let data = std::fs::read_to_string(&args.data)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.data.display())))?;
    let ctx = Context {
        language: args.language,
        profile,
        page,
    };
    let logo = match &args.logo {
        None => None,
        Some(path) => {
            let png = std::fs::read(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            Some(logo::logo(&png, profile).map_err(|e| usage(format!("{}: {e}", path.display())))?)
        }
    };
    let doc = template
        .render_with_logo(&data, &ctx, logo.as_ref())
        .map_err(usage)?;
    let bytes = encode(&doc, profile, page)
        .map_err(|e| usage(format!("{} cannot be printed: {e}", args.data.display())))?;
    // The encoder's own bytes always parse; an error here is our bug.
    let printed = interpret::interpret(&bytes, profile).map_err(super::runtime)?;
    for line in printed.text() {
        outln!("{line}")?;
    }
    if let Some(out) = &args.png {
        let pic = picture::render(&bytes, profile).map_err(super::runtime)?;
        let png = pic.to_png().map_err(super::runtime)?;
        std::fs::write(out, png)
            .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", out.display())))?;
        eprintln!(
            "wrote {} ({} x {} dots, {}, {} columns, {})",
            out.display(),
            pic.width,
            pic.height,
            profile.name,
            profile.columns,
            page.name()
        );
    }
    Ok(())
}
