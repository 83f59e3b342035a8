//! A serial scanner played through a pseudo-terminal pair made by socat
//! (`socat pty,raw,echo=0,link=DIR/scanner pty,raw,echo=0,link=DIR/host`):
//! the service opens `scanner`, the player writes to `host`. Used by
//! `bench scan` and by the end-to-end tests, which is why it is public.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SocatPair {
    child: Option<Child>,
    dir: PathBuf,
}

impl SocatPair {
    /// Starts socat and waits up to `wait` for both links to appear.
    pub fn start(dir: &Path, wait: Duration) -> Result<SocatPair, String> {
        for link in ["scanner", "host"] {
            let _ = std::fs::remove_file(dir.join(link));
        }
        let child = Command::new("socat")
            .arg(format!(
                "pty,raw,echo=0,link={}",
                dir.join("scanner").display()
            ))
            .arg(format!(
                "pty,raw,echo=0,link={}",
                dir.join("host").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start socat ({e}); install it: apt-get install socat"))?;
        let pair = SocatPair {
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        let started = Instant::now();
        while !(pair.device().exists() && pair.host_path().exists()) {
            if started.elapsed() > wait {
                return Err(format!("socat made no ptys within {wait:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(pair)
    }

    /// The side the service opens as its serial device.
    pub fn device(&self) -> PathBuf {
        self.dir.join("scanner")
    }

    /// The side a player writes scans to.
    pub fn host_path(&self) -> PathBuf {
        self.dir.join("host")
    }

    /// The host side, opened for writing.
    pub fn host(&self) -> std::io::Result<File> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(self.host_path())
    }

    /// Yank the cable: SIGKILL, the service's reads fail with EIO/HUP.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Unplug politely: SIGTERM, socat closes the ptys and removes its links.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for SocatPair {
    fn drop(&mut self) {
        self.kill();
    }
}
