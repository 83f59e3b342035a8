//! `store-edge fake-central`: the fake as its own process, for the demo and
//! for end-to-end tests that need central to be a separate, killable
//! process. Serves until SIGTERM or SIGINT. Tracing is set up by the caller.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{FakeCentral, FakeCentralConfig, Faults};

#[derive(clap::Args, Debug)]
pub struct FakeCentralArgs {
    /// Address to listen on. Keep it on loopback: `/_control/` has no auth.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// The store this central serves (its events kept in full, for
    /// `/_control/events`); other store ids get 403. Optional with --stores.
    #[arg(
        long,
        value_name = "S",
        required_unless_present = "stores",
        requires = "token_file"
    )]
    pub store_id: Option<String>,
    /// File holding the store's bearer token (surrounding whitespace ignored).
    #[arg(long, value_name = "F", requires = "store_id")]
    pub token_file: Option<PathBuf>,
    /// More stores, one `STORE_ID TOKEN` a line (blank lines and `#`
    /// comments allowed): one central for a fleet. Each store's events are
    /// kept apart, as digests; a token used for another store's id is 403.
    #[arg(long, value_name = "FILE")]
    pub stores: Option<PathBuf>,
    /// Answer 429 with Retry-After (--retry-after) when this many requests
    /// are already in flight.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_concurrent: Option<u64>,
    /// JSON array of PickupOrder documents: the initial order feed.
    #[arg(long, value_name = "FILE")]
    pub orders: Option<PathBuf>,
    /// Benchmark mode: answer every event `accepted`, count, store nothing.
    #[arg(long)]
    pub count_only: bool,
    /// Ed25519 secret key for pickup passes: 64 hex characters (whitespace
    /// ignored). Random when absent.
    #[arg(long, value_name = "F")]
    pub signing_key_file: Option<PathBuf>,
    /// Percent of requests answered 500 or 503 (with Retry-After).
    #[arg(long = "fail-5xx", value_name = "PCT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub fail_5xx: u8,
    /// Percent of requests that hang for --timeout-ms, then answer 500.
    #[arg(long, value_name = "PCT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub timeout: u8,
    /// How long an injected timeout hangs.
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    pub timeout_ms: u64,
    /// Percent of batches stored whose answer is then lost (connection broken).
    #[arg(long, value_name = "PCT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub drop_after_store: u8,
    /// Percent of requests answered 429 (with Retry-After).
    #[arg(long = "status-429", value_name = "PCT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub status_429: u8,
    /// Seconds in Retry-After on 429 and 503.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub retry_after: u64,
    /// Refuse the store token (401) on every request.
    #[arg(long)]
    pub unauthorized: bool,
    /// Reject every event of this type (repeatable).
    #[arg(long = "reject-type", value_name = "T")]
    pub reject_type: Vec<String>,
    /// Sleep this long before answering any request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,
}

impl FakeCentralArgs {
    /// Reads the files the arguments name; errors name the file.
    pub fn to_config(&self) -> anyhow::Result<FakeCentralConfig> {
        let token = match &self.token_file {
            None => String::new(),
            Some(file) => {
                let token = read_text(file, "token")?.trim().to_owned();
                if token.is_empty() {
                    bail!("token file {} is empty", file.display());
                }
                token
            }
        };
        let stores = match &self.stores {
            None => Vec::new(),
            Some(path) => {
                let table = super::parse_stores(&read_text(path, "stores")?)
                    .map_err(|e| anyhow::anyhow!("stores file {}: {e}", path.display()))?;
                let main = self.store_id.as_deref();
                if let Some((id, _)) = table
                    .iter()
                    .find(|(id, t)| Some(id.as_str()) == main || *t == token)
                {
                    bail!(
                        "stores file {}: store `{id}` repeats the --store-id store or its token",
                        path.display()
                    );
                }
                table
            }
        };
        let orders = match &self.orders {
            None => Vec::new(),
            Some(path) => {
                let text = read_text(path, "orders")?;
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Array(orders)) => orders,
                    Ok(_) => bail!(
                        "orders file {}: must be a JSON array of PickupOrder documents",
                        path.display()
                    ),
                    Err(e) => bail!("orders file {}: not JSON: {e}", path.display()),
                }
            }
        };
        let signing_key = match &self.signing_key_file {
            None => None,
            Some(path) => Some(
                parse_hex_key(&read_text(path, "signing key")?)
                    .with_context(|| format!("signing key file {}", path.display()))?,
            ),
        };
        Ok(FakeCentralConfig {
            store_id: self.store_id.clone().unwrap_or_default(),
            token,
            stores,
            max_concurrent: self.max_concurrent.map(|n| n as usize),
            orders,
            count_only: self.count_only,
            signing_key,
            faults: Faults {
                fail_5xx_pct: self.fail_5xx,
                timeout_pct: self.timeout,
                timeout_ms: self.timeout_ms,
                drop_after_store_pct: self.drop_after_store,
                status_429_pct: self.status_429,
                retry_after_s: self.retry_after,
                unauthorized: self.unauthorized,
                reject_types: self.reject_type.clone(),
                delay_ms: self.delay_ms,
                ..Faults::default()
            },
        })
    }
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))
}

/// 64 hex characters, whitespace anywhere ignored.
fn parse_hex_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let hex: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if hex.len() != 64 {
        bail!("must hold 64 hex characters, found {}", hex.len());
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => *byte = (hi * 16 + lo) as u8,
            _ => bail!("must hold only hex characters (0-9, a-f)"),
        }
    }
    Ok(key)
}

/// Serves until SIGTERM or SIGINT, on a runtime of its own.
pub fn run_cli(args: FakeCentralArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "fake central listens beyond loopback; /_control/ has no authentication");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let central = FakeCentral::new(config);
        let cancel = CancellationToken::new();
        let addr = central
            .clone()
            .spawn(args.listen, cancel.clone())
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        eprintln!("fake central listening on http://{addr}");
        tracing::info!(%addr, store_id = ?args.store_id, count_only = args.count_only, "fake central started");
        shutdown_signal().await?;
        tracing::info!("fake central stopping");
        cancel.cancel();
        central.stopped().await;
        let stats = central.stats();
        tracing::info!(?stats, "fake central stopped");
        Ok(())
    })
}

#[cfg(unix)]
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn shutdown_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys() {
        let text = format!("{}\n{}\n", "00".repeat(16), "ff".repeat(16));
        let key = parse_hex_key(&text).unwrap();
        assert_eq!(key[0], 0);
        assert_eq!(key[31], 0xff);
        assert!(parse_hex_key("abc").is_err());
        assert!(parse_hex_key(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn arguments_parse_with_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: FakeCentralArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--store-id",
            "s1",
            "--token-file",
            "/t",
            "--reject-type",
            "store.a",
            "--reject-type",
            "store.b",
            "--fail-5xx",
            "20",
        ])
        .unwrap();
        assert_eq!(cli.args.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(cli.args.reject_type, ["store.a", "store.b"]);
        assert_eq!(cli.args.fail_5xx, 20);
        assert_eq!(cli.args.timeout_ms, 60_000);
        assert!(Cli::try_parse_from([
            "x",
            "--store-id",
            "s",
            "--token-file",
            "/t",
            "--timeout",
            "101"
        ])
        .is_err());
    }
}
