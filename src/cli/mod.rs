//! The command line: what store IT types. Each command maps its failures
//! to an exit code: 0 ok, 1 runtime error, 2 usage or config error.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod db;
mod kpi;
mod pickups;
mod print;
mod staff;
mod tls;

use crate::telemetry::out::{out, outln, OutputError};

use crate::config::{self, Config, ConfigError};
use crate::store::{self, read, tokens, tokens::Role};

#[derive(Debug, Parser)]
#[command(
    name = "store-edge",
    version,
    about = "The store's edge service: records every in-store touchpoint and click-and-collect pickup \
             durably in SQLite and syncs them to the central platform exactly once.",
    long_about = None,
    after_help = "Start with `store-edge config check`, then `store-edge token create --role admin --name it`, \
                  then `store-edge run` (or `systemctl enable --now store-edge`).\n\
                  Exit codes: 0 ok, 1 runtime error, 2 usage or config error."
)]
pub struct Cli {
    /// The config file [default: $STORE_EDGE_CONFIG, else /etc/store-edge/store-edge.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (what systemd starts).
    Run,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the local API's bearer tokens (tills, tablets, kiosks, IT).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read the event log (works while the service runs).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Summary of the database: events, unsent, size, tokens.
    Status(JsonFlag),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Decode scanner or card-reader input and print what it means, one JSON
    /// object per input (loyalty numbers only masked, or as a token when the
    /// [loyalty] key file is readable). Without INPUTs, reads one per line
    /// from stdin.
    Decode {
        /// Raw scans; the escapes \x1d (GS/FNC1), \r, \n, \t and \\ are understood.
        inputs: Vec<String>,
        /// Treat the input as coming from a card reader (magstripe, NFC) rather than a scanner.
        #[arg(long)]
        card_reader: bool,
    },
    /// The store's KPIs of a window of local days (KPI.md); read-only.
    Kpi(kpi::Kpi),
    /// Click-and-collect orders (read-only).
    #[command(subcommand)]
    Pickups(pickups::PickupsCommand),
    /// Receipt printers: preview a template, queue a test page, list the print queue.
    #[command(subcommand)]
    Print(print::PrintCommand),
    /// Staff of the pickup counter and their PINs.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// Pair a staff or kiosk tablet.
    #[command(subcommand)]
    Tablet(staff::TabletCommand),
    /// Sync with central: status, try now, send quarantined events again.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// HTTPS for the local API: make a self-signed certificate.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Run the fake central platform (tests, demos, benchmarks; never in a store).
    FakeCentral(crate::fake_central::FakeCentralArgs),
    /// Measure performance on this box; prints a report for BENCHMARKS.md.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON with stable field names instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print the effective values (secrets masked).
    Check(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token. Prints exactly the token and a newline on stdout;
    /// only its hash is stored, so copy it now.
    Create {
        /// What the token may do: pos (tills), staff (tablets), kiosk (feedback only), manager (the KPIs), admin (IT).
        #[arg(long, value_enum)]
        role: Role,
        /// A name to recognise and revoke it by, e.g. "till-1" or "tablet-pickup".
        #[arg(long)]
        name: String,
        /// The till's register, e.g. "till-1": a pos token of a printer's
        /// register may open that printer's cash drawer.
        #[arg(long)]
        register: Option<String>,
    },
    /// List tokens (names and roles; never the tokens themselves).
    List(JsonFlag),
    /// Revoke a token by name; it is refused from the next request on.
    Revoke {
        /// The token's name as shown by `token list`.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List recorded events, oldest first.
    List {
        /// Only events with a greater sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// Only this event type, e.g. store.loyalty.identified.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Reachability, unsent backlog, quarantine, clock skew, order cursor age.
    Status(JsonFlag),
    /// Make the running service try to reach central at once.
    Now,
    /// Send quarantined events again (after central was fixed).
    Requeue {
        /// Event ids as shown by `sync status`.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every quarantined event.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Full integrity check of the database file (PRAGMA integrity_check).
    /// Takes seconds on a large database; safe while the service runs.
    Check(JsonFlag),
    /// Write a consistent copy of the database (safe while the service
    /// runs), mode 0600: it holds names and tokens.
    Backup(db::BackupArgs),
    /// Replace the database with a backup (the service must be stopped).
    /// The sequence goes on at the backup's last sequence plus the restore
    /// gap; open orders of the backup need a shelf check before handover.
    Restore(db::RestoreArgs),
}

/// A failure with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Runtime(String),
    /// Bad arguments or input the command cannot use (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Whoever read our output stopped reading (`| head`): the command
    /// ends quietly with status 0 (see `out.rs`).
    #[error("standard output was closed")]
    OutputClosed,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => 2,
            CliError::Runtime(_) => 1,
            CliError::OutputClosed => 0,
        }
    }
}

impl From<OutputError> for CliError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Closed => CliError::OutputClosed,
            OutputError::Failed(_) => CliError::Runtime(e.to_string()),
        }
    }
}

impl From<store::StoreError> for CliError {
    fn from(e: store::StoreError) -> Self {
        CliError::Runtime(e.to_string())
    }
}

fn runtime(e: impl std::fmt::Display) -> CliError {
    CliError::Runtime(e.to_string())
}

fn decode(
    config_path: &std::path::Path,
    explicit: bool,
    inputs: Vec<String>,
    card_reader: bool,
) -> Result<(), CliError> {
    use std::io::BufRead;
    // The config is optional here: programs and the key come from it when
    // it is there; an explicitly named config must load.
    let loyalty = match Config::load(config_path) {
        Ok(c) => c.loyalty,
        Err(e) if explicit => return Err(e.into()),
        Err(_) => None,
    };
    let year = time::OffsetDateTime::now_utc().year();
    let mut cfg = if card_reader {
        crate::scan::DecodeConfig::card_reader(year)
    } else {
        crate::scan::DecodeConfig::scanner(year)
    };
    if let Some(l) = loyalty {
        cfg = cfg.with_programs(l.programs.clone());
        let key = config::secret::read_secret_file(&l.key_file, "loyalty.key_file")
            .map_err(|e| e.to_string())
            .and_then(|t| crate::scan::parse_key_file(&t).map_err(|e| e.reason().to_owned()));
        match key {
            Ok(key) => cfg = cfg.with_token_key(key),
            Err(why) => {
                eprintln!("note: {why}; loyalty numbers are shown masked, without customer_token")
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let mut one = |raw: &[u8]| -> Result<(), CliError> {
        let decoded = crate::scan::decode(raw, &cfg);
        let line = serde_json::to_string(&decoded).map_err(runtime)?;
        writeln!(out, "{line}").map_err(OutputError::from)?;
        Ok(())
    };
    if inputs.is_empty() {
        for line in std::io::stdin().lock().split(b'\n') {
            let line = line.map_err(runtime)?;
            one(&crate::devices::simulated::unescape(&line))?;
        }
    } else {
        for input in &inputs {
            one(&crate::devices::simulated::unescape(input.as_bytes()))?;
        }
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(runtime)?;
    outln!("{text}")?;
    Ok(())
}

/// Runs a parsed command line. `run` and `bench` need the tokio runtime;
/// the others are plain blocking SQLite work.
pub fn execute(cli: Cli) -> Result<(), CliError> {
    let config_path = config::resolve_path(cli.config.as_deref());
    let load = || Config::load(&config_path);
    match cli.command {
        Command::Run => {
            let config = load()?;
            if let Some(created) = config.create_demo_key()? {
                eprintln!(
                    "created the demo's loyalty key {} (random, mode 0600)",
                    created.display()
                );
            }
            // Refused secret files are config errors (exit 2), found before
            // anything starts.
            config.check_secret_files()?;
            crate::telemetry::init_logging(&config.log.level);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(runtime)?;
            rt.block_on(crate::service::run(config)).map_err(runtime)
        }
        Command::Config(ConfigCommand::Check(flag)) => {
            let config = load()?;
            for note in config.check_secret_files()? {
                eprintln!("{note}");
            }
            if flag.json {
                print_json(&config)
            } else {
                eprintln!("{}: ok", config.file.display());
                out!("{}", config.to_toml())?;
                Ok(())
            }
        }
        Command::Pickups(cmd) => {
            let config = load()?;
            let conn = store::open_existing(&config.storage.path, &config.store.id)?;
            pickups::run(&conn, config.pickup.reminder_before, cmd)
        }
        Command::Kpi(args) => kpi::run(&load()?, args),
        Command::Tls(cmd) => tls::run(cmd, &config_path),
        Command::Print(cmd) => print::run(cmd, load),
        Command::Staff(cmd) => {
            let config = load()?;
            let conn = store::open_for_cli(&config.storage.path, &config.store.id)?;
            staff::staff(&conn, cmd)
        }
        Command::Tablet(cmd) => {
            let config = load()?;
            let conn = store::open_for_cli(&config.storage.path, &config.store.id)?;
            staff::tablet(&conn, cmd)
        }
        Command::Token(cmd) => {
            let config = load()?;
            let conn = store::open_for_cli(&config.storage.path, &config.store.id)?;
            match cmd {
                TokenCommand::Create {
                    role,
                    name,
                    register,
                } => {
                    let token =
                        tokens::create_for_register(&conn, &name, role, register.as_deref())?;
                    eprintln!(
                        "created {} token `{name}`; it is shown only now (only its hash is stored):",
                        role.as_str()
                    );
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{token}")
                        .and_then(|()| out.flush())
                        .map_err(OutputError::from)?;
                    Ok(())
                }
                TokenCommand::List(flag) => {
                    let list = tokens::list(&conn)?;
                    if flag.json {
                        return print_json(&list);
                    }
                    outln!("{:<32} {:<6} {:<25} REVOKED", "NAME", "ROLE", "CREATED")?;
                    for t in list {
                        outln!(
                            "{:<32} {:<6} {:<25} {}",
                            t.name,
                            t.role,
                            t.created_at,
                            t.revoked_at.as_deref().unwrap_or("-")
                        )?;
                    }
                    Ok(())
                }
                TokenCommand::Revoke { name } => {
                    tokens::revoke(&conn, &name)?;
                    eprintln!("revoked token `{name}`");
                    Ok(())
                }
            }
        }
        Command::Events(EventsCommand::List {
            after,
            limit,
            event_type,
            json,
        }) => {
            let config = load()?;
            let conn = store::open_existing(&config.storage.path, &config.store.id)?;
            let rows = read::list_events(&conn, after, limit, event_type.as_deref())?;
            if json.json {
                let source = crate::events::source_of(&config.store.id);
                let page = crate::api::events::render_page(&rows, &source, limit)
                    .map_err(|e| runtime(e.detail))?;
                outln!("{page}")?;
                return Ok(());
            }
            for r in &rows {
                outln!(
                    "{:>10}  {}  {:<30} {}",
                    r.sequence,
                    r.time,
                    r.event_type,
                    r.subject.as_deref().unwrap_or("-")
                )?;
            }
            if rows.is_empty() {
                eprintln!("no events after sequence {after}");
            }
            Ok(())
        }
        Command::Status(flag) => {
            let config = load()?;
            let conn = store::open_existing(&config.storage.path, &config.store.id)?;
            let status = read::status(&conn, &config.storage.path)?;
            if flag.json {
                return print_json(&status);
            }
            outln!("store            {}", status.store_id)?;
            outln!("database         {}", config.storage.path.display())?;
            outln!("schema version   {}", status.schema_version)?;
            outln!("events stored    {}", status.events_stored)?;
            outln!("last sequence    {}", status.last_sequence)?;
            outln!("unsent           {}", status.unsent)?;
            outln!("quarantined      {}", status.quarantined)?;
            outln!(
                "oldest unsent    {}",
                status.oldest_unsent_recorded_at.as_deref().unwrap_or("-")
            )?;
            outln!(
                "size             {:.1} MiB of {} MiB quota",
                status.size_bytes as f64 / 1048576.0,
                config.storage.max_size_mb
            )?;
            outln!("active tokens    {}", status.api_tokens_active)?;
            if let Some(notice) = &status.restored {
                outln!("restore          {notice}")?;
            }
            Ok(())
        }
        Command::Db(DbCommand::Backup(args)) => db::backup(&load()?, args),
        Command::Db(DbCommand::Restore(args)) => db::restore(&load()?, args),
        Command::Db(DbCommand::Check(flag)) => {
            let config = load()?;
            let conn = store::open_existing(&config.storage.path, &config.store.id)?;
            eprintln!(
                "checking {} (this reads the whole file) ...",
                config.storage.path.display()
            );
            let problems = read::integrity_check(&conn)?;
            let ok = problems.len() == 1 && problems[0] == "ok";
            if flag.json {
                print_json(&serde_json::json!({"ok": ok, "result": problems}))?;
            } else {
                for line in &problems {
                    outln!("{line}")?;
                }
            }
            if ok {
                Ok(())
            } else {
                Err(runtime(format!(
                    "{} failed the integrity check; stop the service and restore from a backup",
                    config.storage.path.display()
                )))
            }
        }
        Command::Sync(cmd) => {
            let config = load()?;
            let mut conn = store::open_existing(&config.storage.path, &config.store.id)?;
            match cmd {
                SyncCommand::Status(flag) => {
                    let alarm = config.sync.unsent_alarm_after;
                    let status = crate::sync::status(&conn, alarm)?;
                    if flag.json {
                        return print_json(&status);
                    }
                    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                    outln!(
                        "central          {}",
                        match (config.central.is_some(), status.reachable) {
                            (false, _) => "not configured".to_owned(),
                            (true, None) => "not tried yet".to_owned(),
                            (true, Some(true)) => format!("reachable since {}", opt(&status.since)),
                            (true, Some(false)) =>
                                format!("UNREACHABLE since {}", opt(&status.since)),
                        }
                    )?;
                    outln!("unsent           {}", status.unsent)?;
                    outln!(
                        "oldest unsent    {}{}",
                        status
                            .oldest_unsent_age_s
                            .map(|a| format!("{a} s old"))
                            .unwrap_or_else(|| "-".into()),
                        if status.unsent_alarm { "  ALARM" } else { "" }
                    )?;
                    outln!("last success     {}", opt(&status.last_success))?;
                    outln!("last error       {}", opt(&status.last_error))?;
                    outln!(
                        "clock skew       {}",
                        status
                            .clock_skew_s
                            .map(|s| format!("{s} s"))
                            .unwrap_or_else(|| "-".into())
                    )?;
                    outln!(
                        "order cursor     {}",
                        status
                            .cursor_age_s
                            .map(|s| format!("stored {s} s ago"))
                            .unwrap_or_else(|| "-".into())
                    )?;
                    if let Some(notice) = &status.restored {
                        outln!("restore          {notice}")?;
                    }
                    outln!("quarantined      {}", status.quarantined)?;
                    for q in &status.quarantine {
                        outln!(
                            "  {} seq {} {}: {}",
                            q.id,
                            q.sequence,
                            q.event_type,
                            q.reason.as_deref().unwrap_or("-")
                        )?;
                    }
                    Ok(())
                }
                SyncCommand::Now => {
                    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
                    store::meta::set_direct(
                        &conn,
                        &[(store::meta::Key::SyncNowRequested, Some(now))],
                    )?;
                    eprintln!("asked the running service to sync now (it checks within a second)");
                    Ok(())
                }
                SyncCommand::Requeue { ids, all } => {
                    let n = store::sync::requeue_direct(
                        &mut conn,
                        if all { None } else { Some(&ids) },
                    )?;
                    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
                    store::meta::set_direct(
                        &conn,
                        &[(store::meta::Key::SyncNowRequested, Some(now))],
                    )?;
                    eprintln!("{n} event(s) will be sent again");
                    if n == 0 && !all {
                        return Err(runtime(
                            "none of these ids is quarantined (see `store-edge sync status`)",
                        ));
                    }
                    Ok(())
                }
            }
        }
        Command::Decode {
            inputs,
            card_reader,
        } => decode(&config_path, cli.config.is_some(), inputs, card_reader),
        Command::FakeCentral(args) => {
            crate::telemetry::init_logging("info");
            crate::fake_central::run_cli(args).map_err(runtime)
        }
        Command::Bench(cmd) => {
            crate::bench::execute(cmd, cli.config.as_deref()).map_err(|e| {
                match e.downcast::<OutputError>() {
                    Ok(closed_or_failed) => closed_or_failed.into(),
                    Err(e) => runtime(e),
                }
            })
        }
    }
}
