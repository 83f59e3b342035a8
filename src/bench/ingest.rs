//! The ingest benchmark (filled in below).
#[derive(Debug, clap::Args)]
pub struct IngestArgs {}
pub fn run(_args: IngestArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
