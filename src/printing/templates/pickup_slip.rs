//! The pickup slip put on a ready order: order id, customer, shelf, the
//! lines with quantities and a QR code of the order id (scanned at the
//! counter to find the order).

use serde::Deserialize;

use super::{bold, pair, separator, title, Context};
use crate::printing::document::{Align, Block, Document};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickupSlip {
    pub order_id: String,
    /// The customer's display name as the order has it.
    pub customer: String,
    /// Where the order waits (shelf or bin).
    pub shelf: String,
    pub lines: Vec<SlipLine>,
    /// Until when it may be collected, printed as sent.
    #[serde(default)]
    pub pickup_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlipLine {
    pub name: String,
    pub quantity: u32,
    #[serde(default)]
    pub sku: Option<String>,
}

impl PickupSlip {
    pub fn document(&self, ctx: &Context<'_>) -> Document {
        let l = ctx.language;
        let mut blocks = vec![
            title(l.pick("Abholschein", "Pickup slip")),
            Block::Feed { lines: 1 },
            Block::Text {
                text: self.order_id.clone(),
                align: Align::Center,
                bold: true,
                underline: false,
                double_width: true,
                double_height: true,
            },
            separator(),
            pair(l.pick("Kunde", "Customer"), &self.customer),
            Block::Columns {
                left: l.pick("Fach", "Shelf").to_owned(),
                right: self.shelf.clone(),
                bold: true,
            },
        ];
        if let Some(by) = &self.pickup_by {
            blocks.push(pair(l.pick("Abholbar bis", "Collect by"), by));
        }
        blocks.push(separator());
        let pieces = l.pick("Stk.", "pcs");
        for line in &self.lines {
            blocks.push(pair(&line.name, format!("{} {pieces}", line.quantity)));
            if let Some(sku) = &line.sku {
                blocks.push(Block::text(format!("  {sku}")));
            }
        }
        blocks.push(separator());
        let total: u64 = self.lines.iter().map(|x| u64::from(x.quantity)).sum();
        blocks.push(bold(format!(
            "{} {total} {pieces}",
            l.pick("Artikel gesamt:", "Items in total:")
        )));
        blocks.push(Block::Qr {
            payload: self.order_id.clone(),
            size: 6,
        });
        blocks.push(Block::Cut { full: false });
        Document { blocks }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, printed};
    use super::super::Language;

    const DATA: &str = r#"{"order_id": "S-0042-17", "customer": "Jürgen Müßig", "shelf": "B3",
        "pickup_by": "Fr 14.03.", "lines": [
        {"name": "Kaffeebecher „Köln“ weiß, spülmaschinenfest", "quantity": 2, "sku": "4006381333931"},
        {"name": "Teelöffel", "quantity": 6}]}"#;

    #[test]
    fn a_pickup_slip_shows_order_customer_shelf_lines_in_german() {
        let text = printed("pickup_slip", DATA, &ctx("generic_58", Language::De));
        assert_eq!(text[0], "Abholschein");
        assert!(text.contains(&"S-0042-17".to_owned()), "{text:?}");
        assert!(text
            .iter()
            .any(|l| l.starts_with("Kunde") && l.ends_with("Jürgen Müßig")));
        assert!(text
            .iter()
            .any(|l| l.starts_with("Fach") && l.ends_with("B3")));
        assert!(text.iter().any(|l| l.ends_with("6 Stk.")));
        assert!(
            text.contains(&"Artikel gesamt: 8 Stk.".to_owned()),
            "{text:?}"
        );
    }

    #[test]
    fn a_pickup_slip_in_english_says_the_same_in_english() {
        let text = printed("pickup_slip", DATA, &ctx("epson_tm_t20", Language::En));
        assert_eq!(text[0], "Pickup slip");
        assert!(text.iter().any(|l| l.starts_with("Customer")));
        assert!(
            text.contains(&"Items in total: 8 pcs".to_owned()),
            "{text:?}"
        );
    }
}
