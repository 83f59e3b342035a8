//! `store-edge bench print`: receipt printing's pure part on one core —
//! the encoder (receipt template → document → ESC/POS bytes) and the
//! interpreter (the same bytes parsed back into the printed text). No
//! printer, no service: what a job costs before its first byte leaves.

use std::time::{Duration, Instant};

use crate::printing::interpret::interpret;
use crate::printing::templates::{Context, Language, Template};
use crate::printing::{encode, CodePage, Profile};
use crate::telemetry::out::outln;

#[derive(Debug, clap::Args)]
pub struct PrintArgs {
    /// Seconds for each measurement.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
}

/// A till's receipt with `n` lines, a VAT table, a fiscal block and its QR.
fn receipt_data(n: usize) -> String {
    let lines: Vec<String> = (1..=n)
        .map(|i| {
            format!(
                r#"{{"name": "Artikel {i}: Kaffeebecher „Köln“ weiß", "quantity": {q}, "unit_price_minor": 199, "total_minor": {t}, "vat": "A"}}"#,
                q = i % 3 + 1,
                t = 199 * (i % 3 + 1)
            )
        })
        .collect();
    format!(
        r#"{{"header": ["Müller Markt", "Hohe Straße 1, 50667 Köln"],
            "transaction_id": "S-0042-17", "register_id": "till-1",
            "time": "14.03.2025 16:05", "currency": "EUR",
            "lines": [{}],
            "vat": [{{"label": "A", "rate": "19 %", "net_minor": 7000, "vat_minor": 1330, "gross_minor": 8330}}],
            "total_minor": 8330, "payments": [{{"method": "Karte", "amount_minor": 8330}}],
            "footer": ["Vielen Dank für Ihren Einkauf!"],
            "fiscal": {{"lines": ["TSE-Transaktion: 4711", "TSE-Signatur: MEUCIQD+abc/XYZ0123456789=="],
                        "qr": "V0;till-1;Kassenbeleg-V1;Beleg^83.30_0.00_0.00_0.00_0.00^83.30:Unbar;4711;1234;2025-03-14T16:05:01.000Z;2025-03-14T16:05:02.000Z;ecdsa-plain-SHA256;unixTime;MEUCIQD+abc/XYZ=="}}}}"#,
        lines.join(",")
    )
}

/// Runs `f` for `duration`, returns calls per second.
fn rate(duration: Duration, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        f();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

pub fn run(args: PrintArgs) -> anyhow::Result<()> {
    let profile = Profile::by_name("epson_tm_t20")
        .ok_or_else(|| anyhow::anyhow!("profile epson_tm_t20 is gone"))?;
    let ctx = Context {
        language: Language::De,
        profile,
        page: CodePage::Pc858,
    };
    let data = receipt_data(20);
    let doc = Template::Receipt.render(&data, &ctx)?;
    let bytes = encode(&doc, profile, ctx.page)?;
    let printed = interpret(&bytes, profile)?;
    anyhow::ensure!(
        printed.qr_payloads.len() == 1 && printed.cuts == 1,
        "the benchmark receipt lacks its QR code or cut"
    );
    let duration = Duration::from_secs(args.seconds.max(1));
    let encoder = rate(duration, || {
        let doc = Template::Receipt
            .render(std::hint::black_box(&data), &ctx)
            .ok();
        let bytes = doc.and_then(|d| encode(&d, profile, ctx.page).ok());
        std::hint::black_box(bytes);
    });
    let interpreter = rate(duration, || {
        std::hint::black_box(interpret(std::hint::black_box(&bytes), profile).ok());
    });
    outln!("# store-edge bench print")?;
    outln!()?;
    outln!(
        "Receipt template, 20 lines, VAT table, fiscal block with QR, cut; {}, {}: {} bytes, {} printed lines.",
        profile.name,
        ctx.page.name(),
        bytes.len(),
        printed.lines.len()
    )?;
    outln!()?;
    outln!("| measurement | result |\n|---|---|")?;
    outln!("| encoder, one core: JSON data → template → document → ESC/POS bytes | {encoder:.0} documents/s |")?;
    outln!("| interpreter, one core: the same bytes → commands → printed text | {interpreter:.0} documents/s |")?;
    Ok(())
}
