//! `[api] tls_cert` and `tls_key`: the certificate (chain) and its private
//! key as PEM files, read and checked together — for `config check`, the
//! service's start and every SIGHUP reload. The key is read only through
//! [`super::secret`] (refused when others may read it).
//!
//! Must never put the key's bytes, or anything parsed from them, into an
//! error or a log: problems are said in our own words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::Serialize;

use super::secret::{read_secret_file, SecretFileError};

/// The config key of the certificate file.
pub const CERT: &str = "api.tls_cert";
/// The config key of the private key file (a secret file).
pub const KEY: &str = "api.tls_key";

/// Largest certificate file read: a chain of a few certificates is a few KiB.
const MAX_CERT_BYTES: u64 = 1024 * 1024;

/// Where the certificate and key are (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    #[serde(rename = "tls_cert")]
    pub cert: PathBuf,
    #[serde(rename = "tls_key")]
    pub key: PathBuf,
}

/// Reads both files and checks that they belong together: the certificate
/// file holds at least one PEM certificate (the server's first, then its
/// chain), the key file one PEM private key (PKCS#8, PKCS#1 RSA or SEC1
/// EC) that ring can sign with and whose public key is the first
/// certificate's.
pub fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, SecretFileError> {
    let certs = read_certs(&files.cert)?;
    let key_pem = read_secret_file(&files.key, KEY)?;
    let bad_key = |problem: String| SecretFileError::Invalid {
        file: files.key.clone(),
        key: KEY,
        problem,
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
        bad_key(pem_problem(
            &e,
            "a PEM private key (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)",
        ))
    })?;
    let provider = rustls::crypto::ring::default_provider();
    match CertifiedKey::from_der(certs, key, &provider) {
        Ok(ck) => Ok(Arc::new(ck)),
        Err(rustls::Error::InconsistentKeys(_)) => Err(bad_key(format!(
            "this key does not belong to the certificate in {} (its public key differs); give the key the certificate was made for",
            files.cert.display()
        ))),
        Err(rustls::Error::InvalidCertificate(_)) => Err(SecretFileError::Invalid {
            file: files.cert.clone(),
            key: CERT,
            problem: "the first certificate cannot be parsed as X.509".into(),
        }),
        Err(_) => Err(bad_key(
            "the key cannot be used for signing (supported: RSA of 2048 bits or more, ECDSA P-256/P-384, Ed25519)"
                .into(),
        )),
    }
}

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, SecretFileError> {
    let bad = |problem: String| SecretFileError::Invalid {
        file: file.to_path_buf(),
        key: CERT,
        problem,
    };
    let unreadable = |source| SecretFileError::Unreadable {
        file: file.to_path_buf(),
        key: CERT,
        source,
    };
    let bytes = match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(format!(
                "does not exist; make one with `store-edge tls self-signed --host NAME` or put the store's certificate there, or change `{CERT}`"
            )))
        }
        Err(e) => return Err(unreadable(e)),
        Ok(m) if m.len() > MAX_CERT_BYTES => {
            return Err(bad(format!(
                "is {} bytes; a certificate chain is a few KiB (is it the right file?)",
                m.len()
            )))
        }
        Ok(_) => std::fs::read(file).map_err(unreadable)?,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_problem(&e, "PEM certificates")))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----); the server's certificate comes first, then its chain".into(),
        ));
    }
    Ok(certs)
}

/// A PEM error in our words (the crate's may quote the file's lines).
fn pem_problem(e: &pem::Error, wanted: &str) -> String {
    match e {
        pem::Error::NoItemsFound => format!("holds no {wanted}"),
        pem::Error::Io(io) => format!("cannot be read: {io}"),
        _ => format!("is not valid PEM; expected {wanted}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::write_secret_file;

    fn pair(dir: &Path, name: &str) -> TlsFiles {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, ck.cert.pem()).unwrap();
        write_secret_file(&files.key, &ck.signing_key.serialize_pem()).unwrap();
        files
    }

    #[test]
    fn a_matching_pair_loads_and_every_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = pair(dir.path(), "a");
        let b = pair(dir.path(), "b");
        let ck = load(&a).expect("a good pair");
        assert_eq!(ck.cert.len(), 1);

        let crossed = TlsFiles {
            cert: a.cert.clone(),
            key: b.key.clone(),
        };
        let e = load(&crossed).unwrap_err().to_string();
        assert!(
            e.contains("does not belong") && e.contains("api.tls_key"),
            "{e}"
        );

        let key_text = std::fs::read_to_string(&a.key).unwrap();
        let as_cert = TlsFiles {
            cert: a.key.clone(),
            key: a.key.clone(),
        };
        let e = load(&as_cert).unwrap_err().to_string();
        assert!(
            e.contains("no PEM certificate") && e.contains("api.tls_cert"),
            "{e}"
        );
        // The key's bytes are never in an error.
        let body: String = key_text.lines().nth(1).unwrap().to_owned();
        assert!(!e.contains(&body));

        let garbage = dir.path().join("garbage.key");
        write_secret_file(
            &garbage,
            "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = load(&TlsFiles {
            cert: a.cert.clone(),
            key: garbage,
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("api.tls_key") && !e.contains("not base64"),
            "{e}"
        );

        let missing = TlsFiles {
            cert: dir.path().join("none.crt"),
            key: a.key.clone(),
        };
        let e = load(&missing).unwrap_err().to_string();
        assert!(
            e.contains("does not exist") && e.contains("tls self-signed"),
            "{e}"
        );
    }

    #[test]
    fn a_key_that_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let a = pair(dir.path(), "a");
        std::fs::set_permissions(&a.key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&a).unwrap_err();
        assert!(matches!(e, SecretFileError::TooOpen { .. }), "{e}");
    }
}
