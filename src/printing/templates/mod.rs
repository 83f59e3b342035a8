//! Print templates: a template's typed data (serde, unknown fields
//! refused) → a `Document`, in German or English. Pure like the rest of
//! `printing/`: no I/O, no clock (times are printed as the caller sends
//! them). Template names are events.md's `document` values of
//! `store.receipt.printed`. Must never lay a line out wider than the
//! profile (tables are padded to its columns) nor alter the `fiscal`
//! block of a receipt (printed verbatim).

use serde::Deserialize;

use super::codepage::CodePage;
use super::document::{Align, Block, Document};
use super::profile::Profile;

mod handover;
mod pickup_slip;
mod receipt;
mod test_page;

pub use handover::HandoverConfirmation;
pub use pickup_slip::PickupSlip;
pub use receipt::Receipt;
pub use test_page::TestPage;

/// The language a template prints in (`[printing] language`, default `de`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    De,
    En,
}

impl Language {
    pub fn by_name(name: &str) -> Option<Language> {
        match name {
            "de" => Some(Language::De),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    /// The German or the English text.
    fn pick<'a>(self, de: &'a str, en: &'a str) -> &'a str {
        match self {
            Language::De => de,
            Language::En => en,
        }
    }
}

/// The templates, named as events.md's `document` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    PickupSlip,
    HandoverConfirmation,
    Receipt,
    Test,
}

/// Every template: its name and what it is for (for `--help` and errors).
pub const TEMPLATES: &[(Template, &str, &str)] = &[
    (
        Template::PickupSlip,
        "pickup_slip",
        "the slip put on a ready order",
    ),
    (
        Template::HandoverConfirmation,
        "handover_confirmation",
        "what was handed over, to whom, by which staff",
    ),
    (Template::Receipt, "receipt", "a till's receipt document"),
    (
        Template::Test,
        "test",
        "a test page: code page table, QR, barcodes",
    ),
];

/// Where a template is printed: the language, the paper and the page.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub language: Language,
    pub profile: &'a Profile,
    pub page: CodePage,
}

impl Context<'_> {
    fn columns(&self) -> usize {
        usize::from(self.profile.columns)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no template {0} (known: pickup_slip, handover_confirmation, receipt, test)")]
    Unknown(String),
    /// `path` is where in the data it went wrong (`lines[2].quantity`, or
    /// `the top level`); serde's message names an unknown or missing field
    /// itself.
    #[error("bad data for template {template} at {path}: {source}")]
    Data {
        template: &'static str,
        path: String,
        source: serde_json::Error,
    },
}

impl Template {
    pub fn by_name(name: &str) -> Result<Template, TemplateError> {
        TEMPLATES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(t, _, _)| *t)
            .ok_or_else(|| TemplateError::Unknown(name.to_owned()))
    }

    pub fn name(self) -> &'static str {
        TEMPLATES
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("receipt", |(_, n, _)| n)
    }

    /// Parse `data` as this template's input and lay it out.
    pub fn render(self, data: &str, ctx: &Context<'_>) -> Result<Document, TemplateError> {
        self.render_with_logo(data, ctx, None)
    }

    /// As `render`, with `logo` (a raster block from `printing::logo`) at
    /// the top; the test page also says how large it is, or that there is
    /// none.
    pub fn render_with_logo(
        self,
        data: &str,
        ctx: &Context<'_>,
        logo: Option<&Block>,
    ) -> Result<Document, TemplateError> {
        let mut doc = match self {
            Template::PickupSlip => self.data::<PickupSlip>(data)?.document(ctx),
            Template::HandoverConfirmation => {
                self.data::<HandoverConfirmation>(data)?.document(ctx)
            }
            Template::Receipt => self.data::<Receipt>(data)?.document(ctx),
            Template::Test => return Ok(self.data::<TestPage>(data)?.document(ctx, logo)),
        };
        if let Some(logo) = logo {
            doc.blocks.insert(0, logo.clone());
        }
        Ok(doc)
    }

    /// `data` as `T`, an error naming the field's path.
    fn data<T: serde::de::DeserializeOwned>(self, data: &str) -> Result<T, TemplateError> {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(data)).map_err(
            |e| TemplateError::Data {
                template: self.name(),
                path: match e.path().to_string() {
                    top if top == "." => "the top level".to_owned(),
                    path => path,
                },
                source: e.into_inner(),
            },
        )
    }
}

/// An amount in minor units as the language writes it: `12,50 €` / `€12.50`,
/// other currencies by their code (`12,50 CHF` / `CHF 12.50`).
pub fn money(minor: i64, currency: &str, language: Language) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let (units, cents) = (abs / 100, abs % 100);
    let symbol = if currency.eq_ignore_ascii_case("EUR") {
        "€"
    } else {
        currency
    };
    match language {
        Language::De => format!("{sign}{units},{cents:02} {symbol}"),
        Language::En if symbol == "€" => format!("{sign}€{units}.{cents:02}"),
        Language::En => format!("{sign}{symbol} {units}.{cents:02}"),
    }
}

/// An amount without currency, for tables: `12,50` / `12.50`.
fn amount(minor: i64, language: Language) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let sep = language.pick(",", ".");
    format!("{sign}{}{sep}{:02}", abs / 100, abs % 100)
}

fn title(text: &str) -> Block {
    Block::Text {
        text: text.to_owned(),
        align: Align::Center,
        bold: true,
        underline: false,
        double_width: true,
        double_height: true,
    }
}

fn centered(text: impl Into<String>, bold: bool) -> Block {
    Block::Text {
        text: text.into(),
        align: Align::Center,
        bold,
        underline: false,
        double_width: false,
        double_height: false,
    }
}

fn bold(text: impl Into<String>) -> Block {
    Block::Text {
        text: text.into(),
        align: Align::Left,
        bold: true,
        underline: false,
        double_width: false,
        double_height: false,
    }
}

fn pair(left: impl Into<String>, right: impl Into<String>) -> Block {
    Block::Columns {
        left: left.into(),
        right: right.into(),
        bold: false,
    }
}

fn separator() -> Block {
    Block::Separator { char: '-' }
}

/// Cells right-aligned in equal columns after a first, left-aligned one of
/// `first` columns, cut to fit: one table row exactly `columns` wide.
fn table_row(cells: &[&str], first: usize, columns: usize) -> String {
    let rest = cells.len().saturating_sub(1).max(1);
    let each = columns.saturating_sub(first) / rest;
    let mut row = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let w = if i == 0 { first } else { each };
        let cell: String = cell
            .chars()
            .take(w.saturating_sub(usize::from(i > 0)))
            .collect();
        let pad = w.saturating_sub(cell.chars().count());
        if i == 0 {
            row.push_str(&cell);
            row.push_str(&" ".repeat(pad));
        } else {
            row.push_str(&" ".repeat(pad));
            row.push_str(&cell);
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printing::{encode, interpret::interpret};

    pub(super) fn ctx(profile: &str, language: Language) -> Context<'static> {
        let profile = Profile::by_name(profile).expect("profile");
        Context {
            language,
            profile,
            page: CodePage::Pc858,
        }
    }

    /// The text a template prints, read back by the interpreter.
    pub(super) fn printed(template: &str, data: &str, ctx: &Context<'_>) -> Vec<String> {
        let doc = Template::by_name(template)
            .and_then(|t| t.render(data, ctx))
            .expect("renders");
        let bytes = encode(&doc, ctx.profile, ctx.page).expect("encodes");
        let out = interpret(&bytes, ctx.profile).expect("parses");
        for l in &out.lines {
            assert!(l.columns <= ctx.columns(), "too wide: {l:?}");
        }
        out.text().into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn money_is_written_as_the_language_writes_it() {
        assert_eq!(money(1250, "EUR", Language::De), "12,50 €");
        assert_eq!(money(1250, "EUR", Language::En), "€12.50");
        assert_eq!(money(-5, "CHF", Language::De), "-0,05 CHF");
        assert_eq!(money(100_000, "CHF", Language::En), "CHF 1000.00");
    }

    #[test]
    fn table_rows_fill_the_line_exactly_and_cut_what_does_not_fit() {
        let row = table_row(&["A 19 %", "100,00", "19,00", "119,00"], 8, 32);
        assert_eq!(row, "A 19 %    100,00   19,00  119,00");
        assert_eq!(row.chars().count(), 32);
        let cut = table_row(&["a very long label", "123456789012"], 8, 20);
        assert_eq!(cut.chars().count(), 20);
    }

    #[test]
    fn template_names_are_the_document_values_of_receipt_printed() {
        let names: Vec<_> = TEMPLATES.iter().map(|(_, n, _)| *n).collect();
        assert_eq!(
            names,
            ["pickup_slip", "handover_confirmation", "receipt", "test"]
        );
        for (t, n, _) in TEMPLATES {
            assert_eq!(Template::by_name(n).expect("known").name(), *n);
            assert_eq!(t.name(), *n);
        }
        assert!(matches!(
            Template::by_name("invoice"),
            Err(TemplateError::Unknown(_))
        ));
    }

    #[test]
    fn bad_data_names_the_field() {
        let c = ctx("generic_58", Language::De);
        for (template, data, field) in [
            (
                "pickup_slip",
                r#"{"order_id": "A", "customer": "B", "shelf": "C", "lines": [], "colour": 1}"#,
                "colour",
            ),
            (
                "pickup_slip",
                r#"{"customer": "B", "shelf": "C", "lines": []}"#,
                "order_id",
            ),
            (
                "receipt",
                r#"{"transaction_id": "T", "lines": [], "total_minor": 1, "payments": [], "fiscal": {"lines": [], "sig": "x"}}"#,
                "sig",
            ),
            ("test", r#"{"heading": "x"}"#, "heading"),
            (
                "pickup_slip",
                r#"{"order_id": "A", "customer": "B", "shelf": "C", "lines": [{"quantity": 1, "name": "x"}, {"quantity": "2", "name": "y"}]}"#,
                "at lines[1].quantity: invalid type: string",
            ),
        ] {
            let err = Template::by_name(template)
                .and_then(|t| t.render(data, &c))
                .expect_err(data)
                .to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
