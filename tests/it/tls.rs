//! HTTPS on the store network (issue 14): the real binary with `[api]
//! tls_cert`/`tls_key` made by a throwaway CA (rcgen, in the test), clients
//! that trust only that CA (reqwest, and tokio-rustls for connections held
//! across a reload), the certificate swapped by SIGHUP without closing the
//! listener, a handshake that never ends dropped after the header timer,
//! the Secure session cookie, the redirect port that refuses the API, and
//! `store-edge tls self-signed`.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData as _,
};
use serde_json::{json, Value};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// A throwaway CA and a certificate for 127.0.0.1 and localhost signed by it.
pub struct Pki {
    pub ca_pem: String,
    /// The server's certificate, then the CA's.
    pub chain_pem: String,
    pub key_pem: String,
    pub leaf_der: Vec<u8>,
    /// base64 of the SHA-256 of the CA's SubjectPublicKeyInfo (what
    /// Chromium's `--ignore-certificate-errors-spki-list` pins).
    pub ca_spki_sha256: String,
}

pub fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, format!("throwaway test CA {name}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let ca_spki_sha256 = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(ca_key.subject_public_key_info()));
    let key = KeyPair::generate().expect("key");
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, format!("store-edge test {name}"));
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let cert = leaf
        .signed_by(&key, &Issuer::new(ca, ca_key))
        .expect("leaf cert");
    Pki {
        chain_pem: format!("{}{}", cert.pem(), ca_cert.pem()),
        ca_pem: ca_cert.pem(),
        key_pem: key.serialize_pem(),
        leaf_der: cert.der().to_vec(),
        ca_spki_sha256,
    }
}

/// Writes `pki`'s certificate and key where the config names them; each
/// file is renamed into place (the service may be reading them).
pub fn install(svc: &Service, pki: &Pki) {
    let (cert, key) = tls_paths(svc);
    let tmp = svc.dir.path().join("tls.new");
    std::fs::write(&tmp, &pki.chain_pem).unwrap();
    std::fs::rename(&tmp, &cert).unwrap();
    let _ = std::fs::remove_file(&tmp);
    store_edge::config::secret::write_secret_file(&tmp, &pki.key_pem).unwrap();
    std::fs::rename(&tmp, &key).unwrap();
}

fn tls_paths(svc: &Service) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        svc.dir.path().join("cert.pem"),
        svc.dir.path().join("key.pem"),
    )
}

/// Adds keys to the `[api]` table of the service's config.
pub fn add_api_keys(svc: &Service, keys: &str) {
    let text = std::fs::read_to_string(&svc.config).unwrap();
    let listen = format!("[api]\nlisten = \"127.0.0.1:{}\"\n", svc.port);
    assert!(text.contains(&listen), "{text}");
    std::fs::write(
        &svc.config,
        text.replace(&listen, &format!("{listen}{keys}\n")),
    )
    .unwrap();
}

/// A service whose API is HTTPS with `pki`; `redirect` adds the plain port.
pub fn tls_service(pki: &Pki, sections: &str, redirect: Option<u16>) -> Service {
    let svc = Service::new("", sections);
    install(&svc, pki);
    let (cert, key) = tls_paths(&svc);
    let mut keys = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    if let Some(port) = redirect {
        keys.push_str(&format!("redirect_http = {port}\n"));
    }
    add_api_keys(&svc, &keys);
    svc
}

/// A client that trusts exactly `ca_pem` (not the system's roots).
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    http_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn https_url(svc: &Service, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", svc.port)
}

/// Starts the service and waits until `/readyz` answers over https.
pub async fn start_https(svc: &mut Service, ca_pem: &str) {
    svc.spawn(&[]);
    let client = https_client(ca_pem);
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = svc.child.as_mut().unwrap().try_wait() {
            panic!("store-edge exited with {status}; log:\n{}", svc.log_text());
        }
        if let Ok(r) = client.get(https_url(svc, "/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not ready over https; log:\n{}",
            svc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn still_running(svc: &mut Service) {
    assert!(
        svc.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the service exited; log:\n{}",
        svc.log_text()
    );
}

/// Architecture invariant: with TLS no token crosses in clear. The API is
/// served only over https (a plain request to its port gets no answer),
/// the session cookie is `Secure`, and the redirect port answers no API
/// request — 403 "use https", nothing recorded — while it sends browsers
/// to https with 308.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_no_token_crosses_in_clear_and_the_redirect_port_refuses_the_api() {
    let ca = pki("a");
    let redirect_port = free_port();
    let mut svc = tls_service(&ca, "", Some(redirect_port));
    start_https(&mut svc, &ca.ca_pem).await;
    let client = https_client(&ca.ca_pem);

    // Only clients that trust the CA get through; plain HTTP gets nothing.
    let stranger = https_client(&pki("stranger").ca_pem);
    let e = stranger
        .get(https_url(&svc, "/readyz"))
        .send()
        .await
        .expect_err("a client that does not trust the CA refuses the box");
    assert!(e.is_connect(), "{e:?}");
    assert!(http().get(svc.url("/readyz")).send().await.is_err());

    // Pairing over https: the session cookie is Secure (and HttpOnly).
    let code = svc.pairing_code("counter-1");
    let r = client
        .post(https_url(&svc, "/api/v1/tablets/pair"))
        .json(&json!({"code": code, "name": "counter tablet"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // A till's token works over https.
    let token = svc.token("pos", "till-1");
    let event = marker_event("tls-1");
    let r = client
        .post(https_url(&svc, "/api/v1/events"))
        .bearer_auth(&token)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let recorded = svc.event_count();

    // The redirect port: pages go to https on the same host and TLS port.
    let plain = http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let at = |path: &str| format!("http://127.0.0.1:{redirect_port}{path}");
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::HEAD, "/index.html?x=1"),
    ] {
        let r = plain
            .request(method.clone(), at(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 308, "{method} {path}");
        assert_eq!(
            r.headers()["location"],
            format!("https://127.0.0.1:{}{path}", svc.port).as_str()
        );
    }
    // ... and a browser that follows it lands on the UI over https.
    let following = http_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let r = following.get(at("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.url().scheme(), "https");

    // The API is refused there, whatever the method, and nothing is recorded.
    for (method, path) in [
        (reqwest::Method::POST, "/api/v1/events"),
        (reqwest::Method::GET, "/api/v1/events"),
        (reqwest::Method::GET, "/api/v1/session"),
        (reqwest::Method::POST, "/"),
    ] {
        let r = plain
            .request(method.clone(), at(path))
            .bearer_auth(&token)
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method} {path}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["type"], "urn:store-edge:problem:use-https");
        assert!(
            problem["detail"].as_str().unwrap().starts_with("use https"),
            "{problem}"
        );
    }
    assert_eq!(
        svc.event_count(),
        recorded,
        "the redirect port recorded nothing"
    );
    still_running(&mut svc);
}

/// One TLS connection that trusts `roots`, with its server's certificate.
async fn tls_connect(
    port: u16,
    roots: &[&Pki],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut store = rustls::RootCertStore::empty();
    for p in roots {
        let der = rustls::pki_types::CertificateDer::from(
            rustls::pki_types::pem::PemObject::from_pem_slice(p.ca_pem.as_bytes())
                .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
                .unwrap(),
        );
        store.add(der).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(store)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (tls, served)
}

/// A keep-alive `GET /healthz` on an open connection; its status line.
async fn healthz(conn: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: store\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "the connection closed");
        got.extend_from_slice(&buf[..n]);
    }
    // The body is short and follows at once; read what is left of it.
    let text = String::from_utf8_lossy(&got).to_string();
    let len: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut body = got.len() - head_end;
    while body < len {
        body += conn.read(&mut buf).await.unwrap();
    }
    text.lines().next().unwrap().to_owned()
}

/// `systemctl reload` sends SIGHUP: new connections get the new pair, an
/// open connection goes on with the old one, the listener never closes
/// (a client connecting all along is never refused) and a pair that fails
/// to load keeps the one in use, with a clear error in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_the_certificate_without_closing_the_listener_or_open_connections() {
    let (a, b) = (pki("a"), pki("b"));
    let mut svc = tls_service(&a, "", None);
    start_https(&mut svc, &a.ca_pem).await;
    let pid = svc.pid();

    let (mut old, served) = tls_connect(svc.port, &[&a, &b]).await;
    assert_eq!(served, a.leaf_der);
    assert_eq!(healthz(&mut old).await, "HTTP/1.1 200 OK");

    // Someone connects all the time; no attempt may be refused.
    let stop = Arc::new(AtomicBool::new(false));
    let (tried, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let prober = tokio::spawn({
        let (stop, tried, refused) = (stop.clone(), tried.clone(), refused.clone());
        let port = svc.port;
        async move {
            while !stop.load(Ordering::Relaxed) {
                tried.fetch_add(1, Ordering::Relaxed);
                if TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    install(&svc, &b);
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let started = Instant::now();
    loop {
        let (_, served) = tls_connect(svc.port, &[&a, &b]).await;
        if served == b.leaf_der {
            break;
        }
        assert_eq!(served, a.leaf_der);
        assert!(
            started.elapsed() < DEADLINE,
            "B never served; log:\n{}",
            svc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A client that trusts only B's CA gets in now.
    let r = https_client(&b.ca_pem)
        .get(https_url(&svc, "/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The connection opened under A still works.
    assert_eq!(healthz(&mut old).await, "HTTP/1.1 200 OK");

    // A broken certificate file: the reload fails loudly, B stays.
    std::fs::write(tls_paths(&svc).0, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let started = Instant::now();
    while !svc.log_text().contains("still serving the previous one") {
        assert!(
            started.elapsed() < DEADLINE,
            "no error logged; log:\n{}",
            svc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = svc.log_text();
    assert!(
        log.contains("api.tls_cert") && log.contains("cert.pem"),
        "{log}"
    );
    assert!(
        !log.contains(b.key_pem.lines().nth(1).unwrap()),
        "the key is never logged"
    );
    let (_, served) = tls_connect(svc.port, &[&a, &b]).await;
    assert_eq!(served, b.leaf_der);
    assert_eq!(healthz(&mut old).await, "HTTP/1.1 200 OK");

    stop.store(true, Ordering::Relaxed);
    prober.await.unwrap();
    assert!(tried.load(Ordering::Relaxed) > 0);
    assert_eq!(refused.load(Ordering::Relaxed), 0, "the listener closed");
    still_running(&mut svc);
    assert_eq!(svc.pid(), pid, "the same process throughout");
}

/// A client that opens TCP and never finishes the handshake (nothing at
/// all, or half a ClientHello) is dropped after the header timer, counted
/// as phase `handshake`; others are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_the_tls_handshake_is_dropped_after_the_header_timeout() {
    let ca = pki("a");
    let mut svc = tls_service(&ca, "", None);
    start_https(&mut svc, &ca.ca_pem).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    // A handshake record announcing 512 bytes, of which 6 arrive.
    half.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .await
    .unwrap();
    let client = https_client(&ca.ca_pem);
    assert_eq!(
        client
            .get(https_url(&svc, "/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "others are served while two handshakes hang"
    );
    for (what, conn) in [("silent", &mut silent), ("half", &mut half)] {
        let mut buf = [0u8; 64];
        // The header timer is 10 s; a generous bound, not a timing check.
        let ended = tokio::time::timeout(Duration::from_secs(40), conn.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{what}: still open after 40 s"));
        assert!(matches!(ended, Ok(0) | Err(_)), "{what}: {ended:?}");
    }
    let metrics = client
        .get(https_url(&svc, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let timeouts: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("store_edge_api_client_timeouts_total{phase=\"handshake\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(timeouts >= 2.0, "{metrics}");
    still_running(&mut svc);
}

/// `store-edge tls self-signed` writes a key (0600, refused by the service
/// until others may not read it) and a certificate the service serves; a
/// client that trusts the written CA file accepts it under each `--host`.
/// It keeps existing files unless `--force`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_self_signed_makes_a_pair_the_service_serves_to_clients_that_trust_its_ca() {
    let mut svc = Service::new("", "");
    let help = svc.cli(&["tls", "self-signed", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for word in [
        "--host",
        "Android",
        "iPad",
        "Prometheus",
        "0640",
        "systemctl reload",
    ] {
        assert!(help.contains(word), "--help explains {word}: {help}");
    }
    let out = svc.cli(&[
        "tls",
        "self-signed",
        "--host",
        "127.0.0.1",
        "--host",
        "store-7.local",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    let tls = svc.dir.path().join("tls");
    let (cert, key, ca) = (
        tls.join("cert.pem"),
        tls.join("key.pem"),
        tls.join("ca.pem"),
    );
    for f in [&cert, &key, &ca] {
        assert!(said.contains(&f.display().to_string()), "{said}");
    }
    assert!(
        said.contains(&format!("tls_key = \"{}\"", key.display())),
        "{said}"
    );
    let mode = |f: &Path| std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    let first_key = std::fs::read(&key).unwrap();

    // Again without --force: refused (exit 2), nothing replaced.
    let out = svc.cli(&["tls", "self-signed", "--host", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read(&key).unwrap(), first_key);
    // A bad host is a usage error.
    let out = svc.cli(&["tls", "self-signed", "--host", "http://box", "--force"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&key).unwrap(), first_key);

    add_api_keys(
        &svc,
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    // A key others may read is refused with what to do.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = svc.cli(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(e.contains("api.tls_key") && e.contains("chmod 0640"), "{e}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = svc.cli(&["config", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("`api.tls_key`"));

    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    start_https(&mut svc, &ca_pem).await;
    let by_name = http_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .resolve(
            "store-7.local",
            format!("127.0.0.1:{}", svc.port).parse().unwrap(),
        )
        .build()
        .unwrap();
    let r = by_name
        .get(format!("https://store-7.local:{}/readyz", svc.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A renewal with --force replaces all three; the old CA no longer fits.
    let out = svc.cli(&["tls", "self-signed", "--host", "127.0.0.1", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(std::fs::read(&key).unwrap(), first_key);
    assert_eq!(mode(&key), 0o600);
    assert_ne!(std::fs::read_to_string(&ca).unwrap(), ca_pem);
    still_running(&mut svc);
}

/// The unit's `ExecReload` sends SIGHUP whether TLS is on or not: without
/// TLS it reloads nothing and must not end the service (SIGHUP's default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_tls_reloads_nothing_and_ends_nothing() {
    let mut svc = Service::new("", "");
    svc.start().await;
    unsafe { libc::kill(svc.pid(), libc::SIGHUP) };
    let started = Instant::now();
    while !svc.log_text().contains("SIGHUP: nothing to reload") {
        assert!(started.elapsed() < DEADLINE, "log:\n{}", svc.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http().get(svc.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    still_running(&mut svc);
}
