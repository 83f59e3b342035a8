//! HTTPS on `[api] listen`: the rustls server config (ring, TLS 1.2 and
//! 1.3, HTTP/1.1 only) whose certificate can be swapped while the listener
//! stays open. On SIGHUP the service calls [`Tls::reload`]: the new pair is
//! read and checked whole (`config::tls::load`) and only then replaces the
//! old one; new handshakes get it, open connections keep theirs. A pair
//! that fails to load keeps the old one and says why in the log.
//!
//! Must never: drop the listener or an open connection on a reload, serve
//! a half-read pair, or log the key.

use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::secret::SecretFileError;
use crate::config::tls::{load, TlsFiles};

/// The certificate in use, swapped whole by [`Tls::reload`].
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The TLS side of the API listener: an acceptor and the files to reload.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads the pair named by `[api] tls_cert`/`tls_key`.
    pub fn new(files: &TlsFiles) -> Result<Tls, SecretFileError> {
        let current = Arc::new(Current(RwLock::new(load(files)?)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SecretFileError::Invalid {
                file: files.cert.clone(),
                key: crate::config::tls::CERT,
                problem: format!("rustls refuses its protocol versions: {e}"),
            })?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // HTTP/1.1 only, as the plain listener (hyper's http1).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            files: files.clone(),
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again and, when the pair loads, serves it from the
    /// next handshake on; otherwise keeps the pair in use.
    pub fn reload(&self) -> Result<(), SecretFileError> {
        let fresh = load(&self.files)?;
        *self.current.0.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// [`Tls::reload`] with its outcome in the log (SIGHUP).
    pub fn reload_and_log(&self) {
        match self.reload() {
            Ok(()) => tracing::info!(
                cert = %self.files.cert.display(),
                key = %self.files.key.display(),
                "SIGHUP: TLS certificate and key reloaded; new connections get them, open ones keep theirs"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "SIGHUP: the new TLS certificate or key cannot be used; still serving the previous one (fix the files, then `systemctl reload store-edge`)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(files: &TlsFiles) -> Vec<u8> {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&files.cert, ck.cert.pem()).unwrap();
        let _ = std::fs::remove_file(&files.key);
        crate::config::secret::write_secret_file(&files.key, &ck.signing_key.serialize_pem())
            .unwrap();
        ck.cert.der().to_vec()
    }

    fn served(tls: &Tls) -> Vec<u8> {
        tls.current.0.read().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_reload_swaps_a_good_pair_and_keeps_the_old_one_for_a_bad_pair() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("c.pem"),
            key: dir.path().join("k.pem"),
        };
        let a = write_pair(&files);
        let tls = Tls::new(&files).unwrap();
        assert_eq!(served(&tls), a);
        let b = write_pair(&files);
        tls.reload().unwrap();
        assert_eq!(served(&tls), b);
        std::fs::write(&files.cert, "not a certificate\n").unwrap();
        assert!(tls.reload().is_err());
        assert_eq!(served(&tls), b, "a bad pair leaves the old one in use");
    }
}
