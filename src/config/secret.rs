//! Secret files named by the config (`central.token_file`,
//! `loyalty.key_file`, later TLS keys): one way to read them, which refuses
//! a file that others may read or write (`mode & 0o007 != 0`; 0640
//! root:store-edge is right) or that is missing, and one way to write them
//! (mode 0600, for the demo key, tests and benchmarks).
//!
//! The mode is checked on the opened file, so what is read is what was
//! checked. Must never put a secret's content into an error, a log or
//! anything printed.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// A secret file that cannot be used, naming the file, its config key and
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{file} (`{key}`) does not exist; create it (mode 0640, owner root, group store-edge) or change `{key}`")]
    Missing { file: PathBuf, key: &'static str },
    #[error("{file} (`{key}`) has mode {mode:04o}: others may read or write it; allow only its owner and group: chmod {fix:04o} {file} (e.g. owner root, group store-edge)")]
    TooOpen {
        file: PathBuf,
        key: &'static str,
        mode: u32,
        fix: u32,
    },
    #[error("cannot read {file} (`{key}`): {source}")]
    Unreadable {
        file: PathBuf,
        key: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} (`{key}`): {problem}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        problem: String,
    },
    #[error("cannot create {file} (`{key}`): {source}")]
    Create {
        file: PathBuf,
        key: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Reads a secret file named by config key `key`, after checking on the
/// opened file that others have no access to it.
pub fn read_secret_file(file: &Path, key: &'static str) -> Result<String, SecretFileError> {
    let unreadable = |source| SecretFileError::Unreadable {
        file: file.to_path_buf(),
        key,
        source,
    };
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SecretFileError::Missing {
                file: file.to_path_buf(),
                key,
            })
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = f.metadata().map_err(unreadable)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o007 != 0 {
        return Err(SecretFileError::TooOpen {
            file: file.to_path_buf(),
            key,
            mode,
            // Keep what owner and group have (without exec); 0640 if the
            // owner could not even read it.
            fix: if mode & 0o400 != 0 {
                mode & 0o660
            } else {
                0o640
            },
        });
    }
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(unreadable)?;
    Ok(text)
}

/// Creates a new secret file with mode 0600 (never replaces one: an
/// existing file is an error). The parent directory is created if needed.
pub fn create_secret_file(
    file: &Path,
    key: &'static str,
    contents: &str,
) -> Result<(), SecretFileError> {
    let fail = |source| SecretFileError::Create {
        file: file.to_path_buf(),
        key,
        source,
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(fail)?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(fail)
}

/// Writes (or replaces) a secret file with mode 0600: for benchmarks and
/// tools that make their own throw-away secrets.
pub fn write_secret_file(file: &Path, contents: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)?;
    // `mode` applies only to a new file; an existing one is narrowed too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents.as_bytes())
}

/// 64 random hex characters: a fresh loyalty token key for the demo.
pub fn random_key_hex() -> Result<String, getrandom::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_mode(dir: &Path, mode: u32) -> PathBuf {
        let p = dir.join(format!("secret-{mode:o}"));
        std::fs::write(&p, "s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_secret_file_others_may_read_is_refused_naming_file_mode_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o604, 0o602, 0o601, 0o666, 0o777] {
            let p = file_with_mode(dir.path(), mode);
            let e = read_secret_file(&p, "loyalty.key_file").unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, SecretFileError::TooOpen { .. }), "{text}");
            assert!(text.contains(&p.display().to_string()), "{text}");
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(
                text.contains("chmod 0") && text.contains("`loyalty.key_file`"),
                "{text}"
            );
            assert!(!text.contains("s3cret"), "never the content: {text}");
        }
        assert!(read_secret_file(&file_with_mode(dir.path(), 0o644), "k")
            .unwrap_err()
            .to_string()
            .contains("chmod 0640"));
    }

    #[test]
    fn owner_and_group_modes_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o640, 0o400, 0o440, 0o660] {
            let p = file_with_mode(dir.path(), mode);
            assert_eq!(read_secret_file(&p, "k").unwrap(), "s3cret\n");
        }
    }

    #[test]
    fn a_missing_secret_file_is_named() {
        let e = read_secret_file(
            Path::new("/nonexistent/central.token"),
            "central.token_file",
        )
        .unwrap_err();
        assert!(matches!(e, SecretFileError::Missing { .. }));
        assert!(e.to_string().contains("/nonexistent/central.token"));
    }

    #[test]
    fn created_and_written_secret_files_are_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("var").join("demo.key");
        let key = random_key_hex().unwrap();
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        create_secret_file(&p, "loyalty.key_file", &key).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            create_secret_file(&p, "loyalty.key_file", "other").is_err(),
            "never replaced"
        );
        assert_eq!(read_secret_file(&p, "k").unwrap(), key);

        let q = file_with_mode(dir.path(), 0o644);
        write_secret_file(&q, "new").unwrap();
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
