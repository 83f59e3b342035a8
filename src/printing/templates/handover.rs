//! The handover confirmation: which lines were handed over (of how many
//! ordered), a note when the handover was partial, and the staff member.

use serde::Deserialize;

use super::{bold, centered, pair, separator, title, Context};
use crate::printing::document::{Block, Document};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverConfirmation {
    pub order_id: String,
    #[serde(default)]
    pub customer: Option<String>,
    pub lines: Vec<HandedLine>,
    /// Some ordered quantity was not handed over.
    pub partial: bool,
    /// The staff member who handed over (display name).
    pub staff: String,
    /// When, printed as sent.
    #[serde(default)]
    pub handed_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandedLine {
    pub name: String,
    pub quantity_handed: u32,
    pub quantity_ordered: u32,
}

impl HandoverConfirmation {
    pub fn document(&self, ctx: &Context<'_>) -> Document {
        let l = ctx.language;
        let mut blocks = vec![
            title(l.pick("Übergabe", "Handover")),
            centered(l.pick("Bestätigung", "Confirmation"), true),
            separator(),
            pair(l.pick("Bestellung", "Order"), &self.order_id),
        ];
        if let Some(c) = &self.customer {
            blocks.push(pair(l.pick("Kunde", "Customer"), c));
        }
        if let Some(at) = &self.handed_at {
            blocks.push(pair(l.pick("Zeit", "Time"), at));
        }
        blocks.push(separator());
        let of = l.pick("von", "of");
        for line in &self.lines {
            blocks.push(pair(
                &line.name,
                format!("{} {of} {}", line.quantity_handed, line.quantity_ordered),
            ));
        }
        blocks.push(separator());
        if self.partial {
            blocks.push(bold(l.pick(
                "Teilübergabe: nicht alle bestellten Artikel wurden übergeben.",
                "Partial handover: not every ordered item was handed over.",
            )));
        }
        blocks.push(pair(l.pick("Übergeben von", "Handed over by"), &self.staff));
        blocks.push(Block::Feed { lines: 2 });
        blocks.push(Block::text(
            l.pick("Unterschrift Kunde:", "Customer's signature:"),
        ));
        blocks.push(Block::Feed { lines: 2 });
        blocks.push(Block::Separator { char: '_' });
        blocks.push(Block::Cut { full: false });
        Document { blocks }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, printed};
    use super::super::Language;

    const DATA: &str = r#"{"order_id": "S-0042-17", "customer": "Jürgen Müßig", "partial": true,
        "staff": "Anna Schäfer", "handed_at": "14.03. 16:05", "lines": [
        {"name": "Kaffeebecher", "quantity_handed": 1, "quantity_ordered": 2},
        {"name": "Teelöffel", "quantity_handed": 6, "quantity_ordered": 6}]}"#;

    #[test]
    fn a_partial_handover_says_so_and_names_the_staff() {
        let text = printed(
            "handover_confirmation",
            DATA,
            &ctx("generic_58", Language::De),
        );
        assert!(text
            .iter()
            .any(|l| l.starts_with("Kaffeebecher") && l.ends_with("1 von 2")));
        assert!(
            text.iter().any(|l| l.starts_with("Teilübergabe")),
            "{text:?}"
        );
        assert!(text.iter().any(|l| l.ends_with("Anna Schäfer")));
    }

    #[test]
    fn a_full_handover_has_no_partial_note() {
        let full = DATA.replace("\"partial\": true", "\"partial\": false");
        let text = printed(
            "handover_confirmation",
            &full,
            &ctx("epson_tm_t20", Language::En),
        );
        assert!(text.iter().any(|l| l.starts_with("Handed over by")));
        assert!(!text.iter().any(|l| l.contains("Partial")), "{text:?}");
    }
}
