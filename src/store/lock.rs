//! Who holds the database: `store-edge run` takes an exclusive `flock` on
//! `<storage.path>.lock` for its whole life, and so does `db restore`
//! while it swaps the file. The kernel drops the lock when the process
//! ends, however it ends (`kill -9` included), so a stale lock cannot
//! exist; the lock file itself stays (empty) and is never deleted.
//!
//! Must never: be the only thing that keeps two writers apart inside one
//! service (the single writer thread does that); block (every attempt
//! is non-blocking and fails with who to stop).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// An exclusive hold on a database; released when dropped.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it: the service runs, or a restore.
    #[error("{path} is locked by another process: store-edge is running on this database (or a `db restore` is); stop it first (`systemctl stop store-edge`)")]
    Held { path: PathBuf },
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The lock file of the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl DbLock {
    /// Takes the lock without waiting, creating the lock file (and its
    /// directory) when missing. A lock file made by root (a restore) is
    /// opened read-only by the service's user: `flock` needs no write access.
    pub fn try_acquire(db: &Path) -> Result<DbLock, LockError> {
        let path = lock_path(db);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .mode(0o644)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    File::open(&path).map_err(io_err)?
                }
                Err(e) => return Err(io_err(e)),
            }
        };
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                LockError::Held { path }
            } else {
                io_err(e)
            });
        }
        Ok(DbLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("store-edge.db");
        let first = DbLock::try_acquire(&db).unwrap();
        assert_eq!(first.path(), lock_path(&db));
        let second = DbLock::try_acquire(&db).unwrap_err();
        assert!(matches!(second, LockError::Held { .. }), "{second}");
        assert!(second.to_string().contains("stop it first"), "{second}");
        drop(first);
        DbLock::try_acquire(&db).expect("free again");
    }
}
