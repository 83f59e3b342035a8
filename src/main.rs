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
        Err(e) => {
            eprintln!("store-edge: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
