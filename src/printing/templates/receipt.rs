//! A till's receipt: header, lines, VAT table, totals, payments, footer
//! and the optional `fiscal` block (the signed-receipt data a German till
//! must print: its lines and QR payload go out verbatim, never re-worded
//! or translated).

use serde::Deserialize;

use super::{amount, bold, centered, money, pair, separator, table_row, title, Context};
use crate::printing::document::{Block, Document};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    #[serde(default)]
    pub header: Vec<String>,
    pub transaction_id: String,
    #[serde(default)]
    pub register_id: Option<String>,
    /// When, printed as sent.
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default = "eur")]
    pub currency: String,
    pub lines: Vec<ReceiptLine>,
    #[serde(default)]
    pub vat: Vec<VatRow>,
    pub total_minor: i64,
    pub payments: Vec<Payment>,
    #[serde(default)]
    pub change_minor: Option<i64>,
    #[serde(default)]
    pub footer: Vec<String>,
    #[serde(default)]
    pub fiscal: Option<Fiscal>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    pub name: String,
    #[serde(default = "one")]
    pub quantity: u32,
    #[serde(default)]
    pub unit_price_minor: Option<i64>,
    pub total_minor: i64,
    /// The VAT table's label for this line's rate (`A`, `B`).
    #[serde(default)]
    pub vat: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VatRow {
    pub label: String,
    /// The rate as printed, e.g. `19 %`.
    pub rate: String,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub gross_minor: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// As the till names it, e.g. `Bar`, `girocard`.
    pub method: String,
    pub amount_minor: i64,
}

/// The till's signed-receipt data, printed exactly as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fiscal {
    pub lines: Vec<String>,
    #[serde(default)]
    pub qr: Option<String>,
}

fn eur() -> String {
    "EUR".to_owned()
}

fn one() -> u32 {
    1
}

impl Receipt {
    pub fn document(&self, ctx: &Context<'_>) -> Document {
        let l = ctx.language;
        let cur = self.currency.as_str();
        let mut blocks = Vec::new();
        for (i, h) in self.header.iter().enumerate() {
            blocks.push(if i == 0 { title(h) } else { centered(h, false) });
        }
        blocks.push(separator());
        blocks.push(pair(l.pick("Beleg", "Receipt"), &self.transaction_id));
        if let Some(r) = &self.register_id {
            blocks.push(pair(l.pick("Kasse", "Till"), r));
        }
        if let Some(t) = &self.time {
            blocks.push(pair(l.pick("Zeit", "Time"), t));
        }
        blocks.push(separator());
        for line in &self.lines {
            let label = line.vat.as_deref().unwrap_or("");
            let right = format!("{} {label}", money(line.total_minor, cur, l));
            blocks.push(pair(&line.name, right.trim_end()));
            if let (true, Some(unit)) = (line.quantity != 1, line.unit_price_minor) {
                blocks.push(Block::text(format!(
                    "  {} x {}",
                    line.quantity,
                    money(unit, cur, l)
                )));
            }
        }
        blocks.push(separator());
        blocks.push(Block::Columns {
            left: l.pick("SUMME", "TOTAL").to_owned(),
            right: money(self.total_minor, cur, l),
            bold: true,
        });
        for p in &self.payments {
            blocks.push(pair(&p.method, money(p.amount_minor, cur, l)));
        }
        if let Some(change) = self.change_minor {
            blocks.push(pair(l.pick("Rückgeld", "Change"), money(change, cur, l)));
        }
        if !self.vat.is_empty() {
            blocks.push(separator());
            let cols = ctx.columns();
            let head = [
                l.pick("MwSt", "VAT"),
                l.pick("Netto", "Net"),
                l.pick("Steuer", "Tax"),
                l.pick("Brutto", "Gross"),
            ];
            blocks.push(bold(table_row(&head, 8, cols)));
            for v in &self.vat {
                let first = format!("{} {}", v.label, v.rate);
                let (n, t, g) = (
                    amount(v.net_minor, l),
                    amount(v.vat_minor, l),
                    amount(v.gross_minor, l),
                );
                blocks.push(Block::text(table_row(&[&first, &n, &t, &g], 8, cols)));
            }
        }
        if !self.footer.is_empty() {
            blocks.push(separator());
            for f in &self.footer {
                blocks.push(centered(f, false));
            }
        }
        if let Some(fiscal) = &self.fiscal {
            blocks.push(separator());
            for line in &fiscal.lines {
                blocks.push(Block::text(line));
            }
            if let Some(qr) = &fiscal.qr {
                blocks.push(Block::Qr {
                    payload: qr.clone(),
                    size: 3,
                });
            }
        }
        blocks.push(Block::Cut { full: false });
        Document { blocks }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, printed};
    use super::super::{Language, Template};
    use crate::printing::document::Block;

    const DATA: &str = r#"{"header": ["Müller Markt", "Hohe Straße 1, 50667 Köln"],
        "transaction_id": "T-2024-000815", "register_id": "till-1", "time": "14.03.2024 16:05",
        "lines": [{"name": "Kaffeebecher „Köln“", "quantity": 2, "unit_price_minor": 999,
                   "total_minor": 1998, "vat": "A"},
                  {"name": "Brötchen", "total_minor": 45, "vat": "B"}],
        "vat": [{"label": "A", "rate": "19 %", "net_minor": 1679, "vat_minor": 319, "gross_minor": 1998},
                {"label": "B", "rate": "7 %", "net_minor": 42, "vat_minor": 3, "gross_minor": 45}],
        "total_minor": 2043, "payments": [{"method": "Bar", "amount_minor": 2500}], "change_minor": 457,
        "footer": ["Vielen Dank für Ihren Einkauf!"],
        "fiscal": {"lines": ["TSE-Signatur: MEUCIQD+abc/XYZ==", "TSE-Transaktion: 4711"],
                   "qr": "V0;till-1;Kassenbeleg-V1;Beleg^20.43_0.00_0.00_0.00_0.00^20.43:Bar;4711"}}"#;

    #[test]
    fn a_receipt_has_lines_totals_vat_table_and_payment() {
        let text = printed("receipt", DATA, &ctx("generic_58", Language::De));
        assert!(text
            .iter()
            .any(|l| l.starts_with("Kaffeebecher") && l.ends_with("19,98 € A")));
        assert!(text.contains(&"  2 x 9,99 €".to_owned()), "{text:?}");
        assert!(text
            .iter()
            .any(|l| l.starts_with("SUMME") && l.ends_with("20,43 €")));
        assert!(text
            .iter()
            .any(|l| l.starts_with("Rückgeld") && l.ends_with("4,57 €")));
        assert!(
            text.contains(&"A 19 %     16,79    3,19   19,98".to_owned()),
            "{text:?}"
        );
    }

    #[test]
    fn the_fiscal_block_is_printed_verbatim_in_any_language() {
        let c = ctx("epson_tm_t20", Language::En);
        let text = printed("receipt", DATA, &c);
        assert!(
            text.contains(&"TSE-Signatur: MEUCIQD+abc/XYZ==".to_owned()),
            "{text:?}"
        );
        let doc = Template::Receipt.render(DATA, &c).expect("renders");
        assert!(doc.blocks.contains(&Block::Qr {
            payload: "V0;till-1;Kassenbeleg-V1;Beleg^20.43_0.00_0.00_0.00_0.00^20.43:Bar;4711"
                .into(),
            size: 3
        }));
        assert!(text
            .iter()
            .any(|l| l.starts_with("TOTAL") && l.ends_with("€20.43")));
    }
}
