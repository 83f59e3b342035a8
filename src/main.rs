//! Entry point: parse the command line, run it, map failures to exit codes
//! (0 ok, 1 runtime error, 2 usage or config error).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // rustls needs one process-wide crypto provider; we use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = store_edge::cli::Cli::parse();
    match store_edge::cli::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`… | head`): that is how
        // pipes end, not a failure. Commands write stdout through
        // `telemetry::out`, which returns EPIPE as this error instead of
        // panicking like `println!`. SIGPIPE stays ignored (Rust's
        // default): dying of it would be status 141, and `run` must keep
        // treating a closed socket as an error to handle, never a signal.
        Err(store_edge::cli::CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store-edge: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
