//! `store-edge db backup` and `db restore`: the files around
//! `store::backup` — temp names renamed into place (a crash never leaves
//! half a backup or half a database under the final name), modes, the
//! nightly rotation, the lock that keeps a restore and the service apart,
//! and keeping the replaced database aside.
//!
//! Must never: overwrite a file without `--force`, restore while the
//! service holds the database, or delete the database it replaces.

use std::io::IsTerminal as _;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;

use super::{runtime, CliError};
use crate::config::{BackupConfig, Config};
use crate::store::{backup, lock::DbLock, WriterSettings};
use crate::telemetry::out::outln;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup.
    #[arg(required_unless_present = "nightly", conflicts_with = "nightly")]
    pub file: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// Write store-edge-<store id>-<UTC time>.db into [backup] dir and keep
    /// the newest [backup] keep copies (what the nightly timer runs).
    #[arg(long)]
    pub nightly: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup to restore (made by `store-edge db backup`).
    pub file: PathBuf,
    /// Continue the sequence this far after the backup's last one
    /// [default: [backup] restore_sequence_gap, 10000000]. A second
    /// restore of the same backup needs a larger gap than the first.
    #[arg(long, value_name = "N")]
    pub sequence_gap: Option<u64>,
}

fn utc_compact(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A hidden name beside `path` for a file being written.
fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store-edge.db".into());
    path.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

/// Removes a temp file and what SQLite may have left beside it.
fn remove_temp(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling(path, suffix));
    }
}

fn sync_dir(path: &Path) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| runtime(format!("cannot sync directory {}: {e}", dir.display())))
}

/// Shows the bytes written to `file` on a terminal, until dropped.
struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(file: &Path) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let (done, file) = (done.clone(), file.to_path_buf());
            std::thread::spawn(move || {
                let mut shown = false;
                while !done.load(Ordering::Relaxed) {
                    let n = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    eprint!("\rbackup: {:.1} MiB written", n as f64 / 1_048_576.0);
                    shown = true;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                if shown {
                    let n = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    eprintln!("\rbackup: {:.1} MiB written", n as f64 / 1_048_576.0);
                }
            })
        });
        Progress { done, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes a backup of the configured database to `target` through a temp
/// name in the same directory, mode 0600, fsync'd, then renamed.
fn write_backup(config: &Config, target: &Path, force: bool) -> Result<backup::Stamp, CliError> {
    if target.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is a directory; give a file name, e.g. {}/store-edge-{}.db",
            target.display(),
            target.display(),
            config.store.id
        )));
    }
    if target.exists() && !force {
        return Err(CliError::Usage(format!(
            "{} exists; choose another name, or pass --force to replace it",
            target.display()
        )));
    }
    let db = &config.storage.path;
    if !db.exists() {
        return Err(runtime(format!(
            "there is no database at {} (storage.path) to back up",
            db.display()
        )));
    }
    let temp = temp_beside(target, "partial");
    remove_temp(&temp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| runtime(format!("cannot create {}: {e}", temp.display())))?;
    let result = (|| {
        let stamp = {
            let _progress = Progress::start(&temp);
            backup::write_copy(db, &config.store.id, &temp)?
        };
        let file = std::fs::File::open(&temp).map_err(runtime)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(runtime)?;
        file.sync_all().map_err(runtime)?;
        std::fs::rename(&temp, target).map_err(|e| {
            runtime(format!(
                "cannot rename {} to {}: {e}",
                temp.display(),
                target.display()
            ))
        })?;
        sync_dir(target)?;
        Ok(stamp)
    })();
    if result.is_err() {
        remove_temp(&temp);
    }
    result
}

pub fn backup(config: &Config, args: BackupArgs) -> Result<(), CliError> {
    let (target, force) = match (args.nightly, args.file) {
        (true, _) => {
            let dir = &config.backup.dir;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    runtime(format!("cannot create [backup] dir {}: {e}", dir.display()))
                })?;
            let name = format!(
                "{}{}.db",
                nightly_prefix(&config.store.id),
                utc_compact(time::OffsetDateTime::now_utc())
            );
            (dir.join(name), false)
        }
        (false, Some(file)) => (file, args.force),
        (false, None) => return Err(CliError::Usage("give a FILE or --nightly".into())),
    };
    let stamp = write_backup(config, &target, force)?;
    let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "backup of store {} written to {} ({:.1} MiB, mode 0600): taken at {}, last sequence {}",
        config.store.id,
        target.display(),
        size as f64 / 1_048_576.0,
        stamp.taken_at,
        stamp.last_sequence
    );
    outln!("{}", target.display())?;
    if args.nightly {
        for removed in prune(&config.backup.dir, &config.store.id, config.backup.keep)? {
            eprintln!(
                "removed {} (keeping the newest {})",
                removed.display(),
                config.backup.keep
            );
        }
    }
    Ok(())
}

fn nightly_prefix(store_id: &str) -> String {
    format!("store-edge-{store_id}-")
}

/// Whether `name` is a nightly backup of `store_id`: the prefix, a UTC
/// time `YYYYMMDDTHHMMSSZ`, `.db` (other files in the folder are left alone).
fn is_nightly(name: &str, store_id: &str) -> bool {
    let Some(rest) = name.strip_prefix(&nightly_prefix(store_id)) else {
        return false;
    };
    let Some(stamp) = rest.strip_suffix(".db") else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// Deletes all but the newest `keep` nightly backups of the store in `dir`.
fn prune(dir: &Path, store_id: &str, keep: u32) -> Result<Vec<PathBuf>, CliError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| runtime(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_nightly(n, store_id))
        .collect();
    // The time in the name sorts as text.
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut removed = Vec::new();
    for old in names.into_iter().skip(keep as usize) {
        let path = dir.join(old);
        std::fs::remove_file(&path)
            .map_err(|e| runtime(format!("cannot remove {}: {e}", path.display())))?;
        removed.push(path);
    }
    Ok(removed)
}

/// Removes what an interrupted restore left beside the database (its temp
/// copies): nobody else can be restoring, this one holds the lock.
fn remove_stale_restores(db: &Path) {
    let (Some(dir), Some(name)) = (db.parent(), db.file_name()) else {
        return;
    };
    let prefix = format!(".{}.restoring-", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Gives `path` the owner of `like` when run as root (a restore by root
/// must leave a database the service's user can open).
fn same_owner(path: &Path, like: &Path) -> Result<(), CliError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let m = std::fs::metadata(like).map_err(runtime)?;
    std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid()))
        .map_err(|e| runtime(format!("cannot chown {}: {e}", path.display())))
}

pub fn restore(config: &Config, args: RestoreArgs) -> Result<(), CliError> {
    let db = &config.storage.path;
    let _lock =
        DbLock::try_acquire(db).map_err(|e| runtime(format!("refusing to restore: {e}")))?;
    let gap = args
        .sequence_gap
        .unwrap_or(config.backup.restore_sequence_gap);
    if !(BackupConfig::MIN_GAP..=BackupConfig::MAX_GAP).contains(&gap) {
        return Err(CliError::Usage(format!(
            "--sequence-gap {gap}: allowed is {} to {}",
            BackupConfig::MIN_GAP,
            BackupConfig::MAX_GAP
        )));
    }
    eprintln!(
        "checking {} (integrity, store id; this reads the whole file) ...",
        args.file.display()
    );
    let info = backup::inspect(&args.file, &config.store.id)
        .map_err(|e| CliError::Usage(format!("refusing to restore: {e}")))?;
    let replaced = if db.exists() {
        match backup::read_replaced(db) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!(
                    "note: the database being replaced cannot be read ({e}); its record of restores is unknown. It is kept aside."
                );
                None
            }
        }
    } else {
        None
    };
    let mut earlier = info.restores.clone();
    for r in replaced.iter().flat_map(|r| &r.restores) {
        if !earlier.contains(r) {
            earlier.push(r.clone());
        }
    }
    let (need, why) = backup::required_gap(
        info.last_sequence,
        &earlier,
        replaced.as_ref().map(|r| r.last_sequence),
    );
    if gap < need {
        let min = need.max(BackupConfig::MIN_GAP);
        return Err(CliError::Usage(format!(
            "refusing to restore with a sequence gap of {gap}: {}; that could reuse a (source, sequence) central already has. Use a larger gap: `store-edge db restore {} --sequence-gap {min}` (or more)",
            why.unwrap_or_default(),
            args.file.display()
        )));
    }
    if info
        .last_sequence
        .checked_add(gap)
        .is_none_or(|f| f > i64::MAX as u64 / 2)
    {
        return Err(CliError::Usage(format!(
            "--sequence-gap {gap} after sequence {} leaves no room",
            info.last_sequence
        )));
    }
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| runtime(format!("cannot create {}: {e}", dir.display())))?;
    }
    let temp = temp_beside(db, "restoring");
    remove_stale_restores(db);
    let plan = backup::Plan {
        backup: info.clone(),
        gap,
        earlier,
    };
    let prepared = (|| {
        std::fs::copy(&args.file, &temp).map_err(|e| {
            runtime(format!(
                "cannot copy {} to {}: {e}",
                args.file.display(),
                temp.display()
            ))
        })?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600)).map_err(runtime)?;
        let owner_like = if db.exists() {
            db.clone()
        } else {
            db.parent().unwrap_or(Path::new("/")).to_path_buf()
        };
        same_owner(&temp, &owner_like)?;
        let settings = WriterSettings::new(
            temp.clone(),
            config.storage.max_size_bytes(),
            config.storage.retain_sent_days,
            config.store.tz.clone(),
        );
        let metrics = Arc::new(crate::telemetry::Metrics::new());
        let prepared = backup::prepare(&temp, &config.store.id, &plan, settings, metrics)?;
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(runtime)?;
        Ok::<_, CliError>(prepared)
    })();
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            remove_temp(&temp);
            return Err(e);
        }
    };
    // The replaced database is kept: a hard link under a new name (the
    // original name stays in place until the rename below), with its WAL
    // moved beside the link so that the pair stays one database.
    let mut kept = None;
    if db.exists() {
        let aside = sibling(
            db,
            &format!(
                ".before-restore-{}",
                utc_compact(time::OffsetDateTime::now_utc())
            ),
        );
        std::fs::hard_link(db, &aside)
            .or_else(|_| std::fs::copy(db, &aside).map(|_| ()))
            .map_err(|e| {
                remove_temp(&temp);
                runtime(format!(
                    "cannot keep the old database as {}: {e}",
                    aside.display()
                ))
            })?;
        let wal = sibling(db, "-wal");
        if wal.exists() {
            std::fs::rename(&wal, sibling(&aside, "-wal")).map_err(|e| {
                remove_temp(&temp);
                runtime(format!("cannot move {} aside: {e}", wal.display()))
            })?;
        }
        let _ = std::fs::remove_file(sibling(db, "-shm"));
        kept = Some(aside);
    }
    std::fs::rename(&temp, db).map_err(|e| {
        runtime(format!(
            "cannot rename {} to {}: {e}",
            temp.display(),
            db.display()
        ))
    })?;
    sync_dir(db)?;
    remove_temp(&temp);

    let r = &prepared.record;
    eprintln!(
        "restored {} (taken at {}{}, last sequence {}) into {}",
        args.file.display(),
        r.backup_taken_at,
        if info.taken_at_stamped {
            ""
        } else {
            " — not stamped by `db backup`: the newest event's time"
        },
        r.last_sequence_in_backup,
        db.display()
    );
    eprintln!(
        "the sequence continues at {} (gap {}); the first event is store.edge.restored ({})",
        r.first_sequence_after, r.sequence_gap, prepared.restored_event_id
    );
    if !prepared.flagged_orders.is_empty() {
        eprintln!(
            "{} order(s) open in the backup need a shelf check before handover (the lost box may have handed them over): {}",
            prepared.flagged_orders.len(),
            prepared.flagged_orders.join(", ")
        );
    }
    if let Some(k) = kept {
        eprintln!(
            "the replaced database is kept as {} (delete it once the store runs)",
            k.display()
        );
    }
    eprintln!("{}", backup::restore_notice(r));
    eprintln!("now start the service: systemctl start store-edge");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_stores_nightly_backups_are_rotated() {
        assert!(is_nightly("store-edge-s1-20261206T020000Z.db", "s1"));
        assert!(!is_nightly("store-edge-s1-20261206T020000Z.db", "s2"));
        assert!(!is_nightly("store-edge-s1-latest.db", "s1"));
        assert!(!is_nightly(
            "store-edge-s1-20261206T020000Z.db.partial",
            "s1"
        ));
        let dir = tempfile::tempdir().unwrap();
        for day in 1..=9 {
            std::fs::write(
                dir.path()
                    .join(format!("store-edge-s1-202612{day:02}T020000Z.db")),
                b"x",
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("store-edge-s2-20261201T020000Z.db"), b"x").unwrap();
        std::fs::write(dir.path().join("by-hand.db"), b"x").unwrap();
        let removed = prune(dir.path(), "s1", 7).unwrap();
        let mut names: Vec<String> = removed
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "store-edge-s1-20261201T020000Z.db",
                "store-edge-s1-20261202T020000Z.db"
            ]
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 9);
    }
}
