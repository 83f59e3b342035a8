//! `store-edge bench scan`: decoder throughput on one core; scan-to-stream
//! latency at 50 scans/s from a serial scanner played through a pty pair
//! (socat) into the real binary; time from replug to the device online.

use crate::telemetry::out::outln;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::ingest::{fresh_dir, wait_ready_at, Server};
use super::socat::SocatPair;
use crate::scan::{self, Check, DecodeConfig, LoyaltyProgram};

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Working directory.
    #[arg(long, default_value = "var/bench")]
    pub dir: PathBuf,
    /// Seconds of 50 scans/s for the latency measurement.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Unplug/replug cycles.
    #[arg(long, default_value_t = 5)]
    pub replugs: u32,
}

const KEY_HEX: &str = "7afc0e7c7bf4b24c6e9673a9de072ebf0d35d885daf1052c175d95854a183e44";

pub fn run(args: ScanArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    outln!("# store-edge bench scan")?;
    outln!()?;
    let rate = decoder_throughput(Duration::from_secs(3));
    outln!("| measurement | result |\n|---|---|")?;
    outln!("| decoder throughput, one core, mixed frames (EAN-13, GS1 element string, Digital Link, loyalty with HMAC token, garbage) | {rate:.0} scans/s |")?;
    let dir = fresh_dir(&args.dir, "scan")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(live(&dir, &args))
}

fn decoder_throughput(duration: Duration) -> f64 {
    let program = LoyaltyProgram {
        name: "club".into(),
        prefix: Some("2400".into()),
        length: Some(13),
        check: Check::Gtin,
        regex: None,
    };
    let mut key = [0u8; 32];
    key[0] = 7;
    let cfg = DecodeConfig::scanner(2026)
        .with_programs(vec![program])
        .with_token_key(key);
    let frames: [&[u8]; 6] = [
        b"4006381333931",
        b"]C1010950110153000317271231\x1d10ABC123\x1d21XYZ",
        b"https://id.gs1.org/01/09501101530003/10/ABC?17=271231",
        b"2400000012344",
        b"]E09783161484100",
        b"\x07garbage\x00",
    ];
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        for f in frames {
            std::hint::black_box(scan::decode(std::hint::black_box(f), &cfg));
            n += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn device_state(http: &reqwest::Client, port: u16, token: &str) -> anyhow::Result<String> {
    let v: serde_json::Value = http
        .get(format!("http://127.0.0.1:{port}/api/v1/devices"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    Ok(v["devices"][0]["state"].as_str().unwrap_or("").to_owned())
}

async fn wait_state(
    http: &reqwest::Client,
    port: u16,
    token: &str,
    want: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while device_state(http, port, token).await? != want {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("device not {want} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(started.elapsed())
}

async fn live(dir: &Path, args: &ScanArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut socat = SocatPair::start(dir, Duration::from_secs(10)).map_err(anyhow::Error::msg)?;
    crate::config::secret::write_secret_file(&dir.join("loyalty.key"), KEY_HEX)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("scan.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nid = \"bench\"\n[storage]\npath = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n[[devices]]\nid = \"s1\"\nkind = \"scanner\"\ntransport = \"serial\"\nregister = \"till-1\"\ncontext = \"basket\"\npath = \"{}\"\nsuffix = \"\\r\"\n[loyalty]\nkey_file = \"{}\"\n[log]\nlevel = \"warn\"\n",
            dir.join("store-edge.db").display(),
            dir.join("scanner").display(),
            dir.join("loyalty.key").display()
        ),
    )?;
    let out = Command::new(&exe)
        .arg("--config")
        .arg(&config)
        .args(["token", "create", "--role", "admin", "--name", "bench"])
        .output()?;
    let token = String::from_utf8(out.stdout)?.trim().to_owned();
    let server = Server::spawn(&config, port, token.clone())?;
    wait_ready_at(port, Duration::from_secs(30))?;
    let http = reqwest::Client::new();
    wait_state(&http, port, &token, "online").await?;

    // Scan-to-stream latency at 50 scans/s.
    let mut stream = http
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/stream?register=till-1"
        ))
        .bearer_auth(&token)
        .send()
        .await?;
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let host_path = dir.join("host");
    let total = args.seconds * 50;
    let writer = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut host = std::fs::OpenOptions::new().write(true).open(host_path)?;
        let start = Instant::now();
        for i in 0..total {
            let due = start + Duration::from_millis(20 * i);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let code = format!("{:012}", 400_638_100_000 + i);
            let sum: u32 = code
                .bytes()
                .enumerate()
                .map(|(k, b)| u32::from(b - b'0') * if k % 2 == 1 { 3 } else { 1 })
                .sum();
            let code = format!("{code}{}", (10 - sum % 10) % 10);
            host.write_all(format!("{code}\r").as_bytes())?;
            host.flush()?;
            let _ = sent_tx.send((format!("0{code}"), Instant::now()));
        }
        Ok(())
    });
    let mut latencies = Vec::new();
    let mut buf = String::new();
    let mut pending = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(args.seconds + 30);
    while (latencies.len() as u64) < total && Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(2), stream.chunk()).await;
        let now = Instant::now();
        while let Ok((gtin, at)) = sent_rx.try_recv() {
            pending.insert(gtin, at);
        }
        if let Ok(Ok(Some(c))) = chunk {
            buf.push_str(&String::from_utf8_lossy(&c));
        }
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                    if let Some(at) = v["gtin"].as_str().and_then(|g| pending.remove(g)) {
                        latencies.push(now.duration_since(at).as_secs_f64() * 1000.0);
                    }
                }
            }
        }
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    outln!(
        "| scan-to-stream latency at 50 scans/s ({} of {total} scans seen) | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms |",
        latencies.len(),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    )?;

    // Replug to online.
    let mut replugs = Vec::new();
    for _ in 0..args.replugs {
        drop(socat);
        wait_state(&http, port, &token, "offline").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let replugged = Instant::now();
        socat = SocatPair::start(dir, Duration::from_secs(10)).map_err(anyhow::Error::msg)?;
        wait_state(&http, port, &token, "online").await?;
        replugs.push(replugged.elapsed().as_secs_f64() * 1000.0);
    }
    replugs.sort_by(|a, b| a.total_cmp(b));
    outln!(
        "| replug to device online ({} cycles) | median {:.0} ms, max {:.0} ms |",
        replugs.len(),
        replugs.get(replugs.len() / 2).copied().unwrap_or(f64::NAN),
        replugs.last().copied().unwrap_or(f64::NAN)
    )?;
    drop(server);
    Ok(())
}
