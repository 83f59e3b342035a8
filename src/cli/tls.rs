//! `store-edge tls self-signed`: a certificate for a store without a PKI.
//!
//! It makes a one-off CA and the box's certificate signed by it, then
//! forgets the CA's private key: the CA certificate (`ca.pem`) is what
//! tablets, tills and Prometheus are told to trust, and it can vouch for
//! this one certificate and nothing else, ever. Running it again makes a
//! new CA, to be trusted again. The box's key is written under the
//! secret-file rule (mode 0600; the service reads it at 0640 root:store-edge).
//!
//! Must never: print or log the key, overwrite a file without `--force`,
//! or leave a half-written file where the service would read it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use super::{runtime, CliError};
use crate::config::secret;
use crate::telemetry::out::outln;

/// Longest validity: Apple's devices refuse TLS certificates valid for
/// more than 825 days, also under a CA the user installed.
pub const MAX_DAYS: u32 = 825;

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Make a key and certificate for this box (and a CA certificate for the
    /// tablets, tills and Prometheus to trust), for a store without its own
    /// PKI. Prints what to put into the config.
    #[command(
        long_about = "Make a private key and a certificate for this box, signed by a one-off CA whose \
                      private key is thrown away at once: the CA certificate (--ca) can vouch for this \
                      certificate and nothing else. Install the CA certificate on the staff tablets \
                      (Android: Settings → Security → Encryption & credentials → Install a certificate → \
                      CA certificate; iPad: open it as a profile, install it in Settings, then enable full \
                      trust under General → About → Certificate Trust Settings), give it to Prometheus \
                      (tls_config.ca_file) and to the tills. The key is written with mode 0600; let the \
                      service read it with `chgrp store-edge KEY && chmod 0640 KEY`. Then set \
                      [api] tls_cert and tls_key and restart (a later renewal needs only \
                      `systemctl reload store-edge`). Running it again makes a new CA: trust that one again.",
        after_help = "Example: store-edge tls self-signed --host store-0421.local --host 10.4.21.2"
    )]
    SelfSigned(SelfSigned),
}

#[derive(Debug, Args)]
pub struct SelfSigned {
    /// A DNS name or IP address the tablets and tills use for this box
    /// (repeat for each: --host store-0421.local --host 10.4.21.2).
    #[arg(long = "host", value_name = "NAME", required = true)]
    pub hosts: Vec<String>,
    /// Where the certificate goes (the box's, then the CA's) [default: tls/cert.pem beside the config]
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Where the private key goes, mode 0600 [default: tls/key.pem beside the config]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Where the CA certificate to trust on tablets, tills and Prometheus goes [default: tls/ca.pem beside the config]
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Days the certificate is valid (at most 825, Apple's limit).
    #[arg(long, default_value_t = MAX_DAYS, value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
    pub days: u32,
    /// Replace files that exist (a renewal); without it existing files are kept.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: TlsCommand, config_path: &Path) -> Result<(), CliError> {
    let TlsCommand::SelfSigned(args) = cmd;
    let dir = config_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("tls");
    let cert_file = args.cert.clone().unwrap_or_else(|| dir.join("cert.pem"));
    let key_file = args.key.clone().unwrap_or_else(|| dir.join("key.pem"));
    let ca_file = args.ca.clone().unwrap_or_else(|| dir.join("ca.pem"));
    let files = [&cert_file, &key_file, &ca_file];
    for (i, f) in files.iter().enumerate() {
        if files[..i].contains(f) {
            return Err(CliError::Usage(format!(
                "{} is given twice: --cert, --key and --ca need three different files",
                f.display()
            )));
        }
    }
    let hosts = args
        .hosts
        .iter()
        .map(|h| check_host(h))
        .collect::<Result<Vec<_>, _>>()?;
    if !args.force {
        if let Some(f) = files.iter().find(|f| f.exists()) {
            return Err(CliError::Usage(format!(
                "{} exists; keep it, or pass --force to replace the key and both certificates (tablets must then trust the new ca.pem)",
                f.display()
            )));
        }
    }
    let made = make(&hosts, args.days)
        .map_err(|e| runtime(format!("cannot make the certificate: {e}")))?;

    // Each file is written beside its place and renamed over it: the
    // service (reloading on SIGHUP) reads the old file or the new, never half.
    let fail = |f: &Path, e: std::io::Error| runtime(format!("cannot write {}: {e}", f.display()));
    let tmp = |f: &Path| {
        let mut name = f.file_name().unwrap_or_default().to_os_string();
        name.push(".new");
        f.with_file_name(name)
    };
    for f in files {
        if let Some(d) = f.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).map_err(|e| fail(d, e))?;
        }
        let _ = std::fs::remove_file(tmp(f));
    }
    secret::create_secret_file(&tmp(&key_file), crate::config::tls::KEY, &made.key_pem)
        .map_err(|e| runtime(e.to_string()))?;
    std::fs::write(tmp(&cert_file), format!("{}{}", made.cert_pem, made.ca_pem))
        .map_err(|e| fail(&cert_file, e))?;
    std::fs::write(tmp(&ca_file), &made.ca_pem).map_err(|e| fail(&ca_file, e))?;
    for f in files {
        std::fs::rename(tmp(f), f).map_err(|e| fail(f, e))?;
    }

    let abs = |f: &Path| std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf());
    outln!(
        "wrote {} (private key, mode 0600), {} (certificate for {}, valid {} days) and {} (the CA to trust)",
        abs(&key_file).display(),
        abs(&cert_file).display(),
        args.hosts.join(", "),
        args.days,
        abs(&ca_file).display()
    )?;
    outln!()?;
    outln!("1. Let the service read the key:")?;
    outln!(
        "     chgrp store-edge {k} && chmod 0640 {k}",
        k = abs(&key_file).display()
    )?;
    outln!("2. In {}, under [api]:", abs(config_path).display())?;
    outln!("     tls_cert = \"{}\"", abs(&cert_file).display())?;
    outln!("     tls_key = \"{}\"", abs(&key_file).display())?;
    outln!("     listen = \"0.0.0.0:8443\"   # the unit may not bind ports below 1024")?;
    outln!(
        "     redirect_http = 8080   # optional: sends browsers to https, refuses the API in clear"
    )?;
    outln!("3. store-edge config check, then systemctl restart store-edge")?;
    outln!("   (a renewal with --force needs only: systemctl reload store-edge)")?;
    outln!(
        "4. Trust {} on the tablets, the tills and Prometheus, and use https:// addresses (README, \"TLS\").",
        abs(&ca_file).display()
    )?;
    Ok(())
}

/// One `--host`: an IP address or a DNS name (letters, digits, `-`, dots;
/// `*.` in front for a wildcard).
fn check_host(h: &str) -> Result<String, CliError> {
    let h = h.trim();
    if h.parse::<IpAddr>().is_ok() {
        return Ok(h.to_owned());
    }
    let name = h.strip_prefix("*.").unwrap_or(h);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(h.to_ascii_lowercase())
    } else {
        Err(CliError::Usage(format!(
            "--host {h:?} is neither an IP address nor a DNS name (letters, digits and '-' between dots, e.g. store-0421.local or 10.4.21.2)"
        )))
    }
}

/// The PEM texts `tls self-signed` writes.
pub struct Made {
    pub key_pem: String,
    pub cert_pem: String,
    pub ca_pem: String,
}

/// A one-off CA (its key dropped on return) and a certificate for `hosts`
/// signed by it, both valid `days` from an hour ago (clock skew).
pub fn make(hosts: &[String], days: u32) -> Result<Made, rcgen::Error> {
    let now = time::OffsetDateTime::now_utc();
    let (not_before, not_after) = (
        now - time::Duration::hours(1),
        now + time::Duration::days(i64::from(days)),
    );
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("store-edge CA for {}", hosts[0]),
    );
    ca.distinguished_name
        .push(DnType::OrganizationName, "store-edge (self-signed)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(hosts.to_vec())?;
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, hosts[0].clone());
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &Issuer::new(ca, ca_key))?;
    Ok(Made {
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
        ca_pem: ca_cert.pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_or_addresses() {
        for ok in [
            "store-1.local",
            "10.4.21.2",
            "fd00::5",
            "*.store.example",
            "box",
        ] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "-x.local",
            "x..local",
            "http://box",
            "box:443",
            "bäckerei.de",
        ] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
    }
}
