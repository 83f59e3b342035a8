//! Standard output of the commands: every write returns its error instead
//! of panicking like `println!`, and a closed pipe (`store-edge pickups list
//! --json | head`) becomes [`OutputError::Closed`], which `main` turns into
//! a quiet exit with status 0. Use [`outln!`] / [`out!`] (not `println!`,
//! which clippy refuses in this crate) and `?`.
//!
//! Why not restore SIGPIPE's default action instead: a process killed by
//! SIGPIPE exits with status 141 in the shell (not 0), and `run`,
//! `fake-central` and the benchmarks hold sockets and child pipes whose
//! EPIPE must stay an error to handle, never a signal that kills.

use std::io::Write as _;

/// Writing to standard output failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader went away: not a failure of the command.
    #[error("standard output was closed")]
    Closed,
    #[error("cannot write to standard output: {0}")]
    Failed(std::io::Error),
}

impl From<std::io::Error> for OutputError {
    fn from(e: std::io::Error) -> OutputError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            OutputError::Closed
        } else {
            OutputError::Failed(e)
        }
    }
}

/// Writes formatted text to standard output (locked for the whole text).
pub fn text(args: std::fmt::Arguments<'_>) -> Result<(), OutputError> {
    std::io::stdout().lock().write_fmt(args)?;
    Ok(())
}

/// Writes formatted text and a newline to standard output.
pub fn line(args: std::fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `println!` that returns `Result<(), OutputError>` instead of panicking.
macro_rules! outln {
    () => {
        $crate::telemetry::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::telemetry::out::line(format_args!($($arg)*))
    };
}

/// `print!` that returns `Result<(), OutputError>` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::telemetry::out::text(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};
