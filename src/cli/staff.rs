//! `store-edge staff …` and `store-edge tablet pair`: people and tablets of
//! the pickup counter. PINs are read from the terminal without echo (or one
//! line from stdin for scripts) and only their argon2id hash is stored.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Subcommand, ValueEnum};

use super::{print_json, runtime, CliError, JsonFlag};
use crate::pickup::staff;
use crate::store::tokens::Role;
use crate::store::{self, pairing, Db};
use crate::telemetry::out::{outln, OutputError};

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member. Reads a 4–8 digit PIN from the terminal (asked
    /// twice) or one line from stdin. Five wrong PINs lock the account for
    /// 15 minutes.
    Add {
        /// Short id used in events and on the tablet, e.g. "anna".
        #[arg(long)]
        id: String,
        /// Name shown on the tablet, e.g. "Anna K.".
        #[arg(long)]
        name: String,
    },
    /// List staff (ids, names, locks; never PINs).
    List(JsonFlag),
    /// Remove a staff member.
    Remove {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TabletCommand {
    /// Print a single-use 8-digit pairing code, valid 10 minutes. Type it on
    /// the tablet (http://<box>:8080/); the tablet gets its own token.
    Pair {
        /// staff (pickup counter and picking), kiosk (customer feedback) or
        /// manager (the KPI dashboard; no staff PIN log-in).
        #[arg(long, value_enum)]
        role: TabletRole,
        /// The register the tablet serves, e.g. "counter-1" (its scanner's
        /// passes open on it).
        #[arg(long)]
        register: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TabletRole {
    Staff,
    Kiosk,
    Manager,
}

fn read_pin() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("PIN (4-8 digits): ").map_err(runtime)?;
        staff::check_pin_format(&first).map_err(CliError::Runtime)?;
        let again = rpassword::prompt_password("PIN again: ").map_err(runtime)?;
        if first != again {
            return Err(CliError::Runtime(
                "the two PINs differ; nothing was saved".into(),
            ));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map_err(runtime)?;
        let pin = line.trim().to_owned();
        staff::check_pin_format(&pin).map_err(CliError::Runtime)?;
        Ok(pin)
    }
}

pub fn staff(db: &Db, cmd: StaffCommand) -> Result<(), CliError> {
    match cmd {
        StaffCommand::Add { id, name } => {
            staff::check_staff_id(&id).map_err(CliError::Runtime)?;
            let name = name.trim();
            if name.is_empty() || name.len() > 64 {
                return Err(CliError::Runtime("a name is 1 to 64 characters".into()));
            }
            let pin = read_pin()?;
            let hash = crate::secrets::hash_secret(&pin).map_err(runtime)?;
            store::staff::add(db, &id, name, &hash)?;
            eprintln!("added staff member `{id}` ({name})");
            Ok(())
        }
        StaffCommand::List(flag) => {
            let list = store::staff::list(db)?;
            if flag.json {
                return print_json(&list);
            }
            outln!("{:<16} {:<24} LOCKED UNTIL", "ID", "NAME")?;
            for s in list {
                let locked = s
                    .locked_until
                    .filter(|t| *t > time::OffsetDateTime::now_utc().unix_timestamp())
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .map(crate::events::format_time)
                    .unwrap_or_else(|| "-".into());
                outln!("{:<16} {:<24} {locked}", s.id, s.name)?;
            }
            Ok(())
        }
        StaffCommand::Remove { id } => {
            store::staff::remove(db, &id)?;
            eprintln!("removed staff member `{id}`");
            Ok(())
        }
    }
}

pub fn tablet(db: &Db, cmd: TabletCommand) -> Result<(), CliError> {
    let TabletCommand::Pair { role, register } = cmd;
    let role = match role {
        TabletRole::Staff => Role::Staff,
        TabletRole::Kiosk => Role::Kiosk,
        TabletRole::Manager => Role::Manager,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let code = pairing::create(db, role, register.as_deref(), now)?;
    eprintln!(
        "pairing code for a {} tablet{}; single use, valid 10 minutes:",
        role.as_str(),
        register
            .as_deref()
            .map(|r| format!(" at {r}"))
            .unwrap_or_default()
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "{code}")
        .and_then(|()| out.flush())
        .map_err(OutputError::from)?;
    Ok(())
}
