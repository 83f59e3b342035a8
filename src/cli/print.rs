//! `store-edge print …`: receipt printers from the command line. `preview`
//! renders a template through the encoder and the virtual printer, without
//! a printer or a running service: the text the printer would print on
//! stdout, its picture as a PNG. Must never need the config or the
//! database (a preview is safe anywhere).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;
use crate::printing::templates::{Context, Language, Template};
use crate::printing::{encode, interpret, logo, picture, CodePage, Profile};
use crate::telemetry::out::outln;

#[derive(Debug, Subcommand)]
pub enum PrintCommand {
    /// Render a template as a printer would print it: the printed text on
    /// stdout and, with --png, a picture of the paper (nothing is sent to a
    /// printer; works without config or service).
    #[command(
        after_help = "Templates (the `document` of store.receipt.printed):\n  \
        pickup_slip            the slip put on a ready order\n  \
        handover_confirmation  what was handed over, to whom, by which staff\n  \
        receipt                a till's receipt document (with its fiscal block)\n  \
        test                   a test page: code page table, QR, barcodes\n\
        Profiles: epson_tm_t20, epson_tm_t88, epson_tm_m30, generic_80 (48 columns, 576 dots), \
        generic_58 (32 columns, 384 dots).\n\
        Example: store-edge print preview pickup_slip --data slip.json --profile generic_58 --png slip.png\n\
        A --logo PNG is shrunk to the paper's width and at most 256 dots high, never enlarged, and dithered.\n\
        Exit codes: 0 ok, 2 unknown template or profile, unreadable or bad data (the error names the field)."
    )]
    Preview(PreviewArgs),
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// pickup_slip, handover_confirmation, receipt or test.
    pub template: String,
    /// The template's data as a JSON file (unknown fields are refused).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The printer profile (paper width, code pages).
    #[arg(long, value_name = "P", default_value = "epson_tm_t20")]
    pub profile: String,
    /// Write the picture of the paper here (PNG at the profile's dots).
    #[arg(long, value_name = "OUT")]
    pub png: Option<PathBuf>,
    /// The language of the template's own words: de or en.
    #[arg(long, value_parser = language, default_value = "de")]
    pub language: Language,
    /// pc858, pc437 or wpc1252 [default: the profile's]
    #[arg(long, value_name = "PAGE")]
    pub code_page: Option<String>,
    /// A logo at the top: a PNG file (at most 1 MiB and 2048 x 2048 pixels).
    #[arg(long, value_name = "FILE.png")]
    pub logo: Option<PathBuf>,
}

fn language(name: &str) -> Result<Language, String> {
    Language::by_name(name).ok_or_else(|| format!("no language {name} (known: de, en)"))
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

pub fn run(cmd: PrintCommand) -> Result<(), CliError> {
    match cmd {
        PrintCommand::Preview(args) => preview(args),
    }
}

fn preview(args: PreviewArgs) -> Result<(), CliError> {
    let template = Template::by_name(&args.template).map_err(usage)?;
    let profile = Profile::by_name(&args.profile).ok_or_else(|| {
        usage(format!(
            "no printer profile {} (known: {})",
            args.profile,
            Profile::names().join(", ")
        ))
    })?;
    let page = match args.code_page.as_deref() {
        None => profile.default_page,
        Some(name) => [CodePage::Pc858, CodePage::Pc437, CodePage::Wpc1252]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                usage(format!(
                    "no code page {name} (known: pc858, pc437, wpc1252)"
                ))
            })?,
    };
    let data = std::fs::read_to_string(&args.data)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.data.display())))?;
    let ctx = Context {
        language: args.language,
        profile,
        page,
    };
    let logo = match &args.logo {
        None => None,
        Some(path) => {
            let png = std::fs::read(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            Some(logo::logo(&png, profile).map_err(|e| usage(format!("{}: {e}", path.display())))?)
        }
    };
    let doc = template
        .render_with_logo(&data, &ctx, logo.as_ref())
        .map_err(usage)?;
    let bytes = encode(&doc, profile, page)
        .map_err(|e| usage(format!("{} cannot be printed: {e}", args.data.display())))?;
    // The encoder's own bytes always parse; an error here is our bug.
    let printed = interpret::interpret(&bytes, profile).map_err(super::runtime)?;
    for line in printed.text() {
        outln!("{line}")?;
    }
    if let Some(out) = &args.png {
        let pic = picture::render(&bytes, profile).map_err(super::runtime)?;
        let png = pic.to_png().map_err(super::runtime)?;
        std::fs::write(out, png)
            .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", out.display())))?;
        eprintln!(
            "wrote {} ({} x {} dots, {}, {} columns, {})",
            out.display(),
            pic.width,
            pic.height,
            profile.name,
            profile.columns,
            page.name()
        );
    }
    Ok(())
}
