//! What a print job stores to be rendered at print time: a free document
//! (the till's own blocks) or a template's name, language and data. The
//! printer's profile and code page are applied when it prints, so a job
//! queued before a profile change prints right. Pure like the rest of
//! `printing/`: `printers/` checks and stores a posted job with it,
//! `pickup/` queues its slips with it, the printer's worker renders it.
//!
//! Must never: hold printer bytes, or accept a content that does not
//! render (every job is rendered once before it is stored).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::codepage::CodePage;
use super::document::{Block, Document};
use super::encode::{encode, EncodeError};
use super::profile::Profile;
use super::templates::{Context, Language, Template, TemplateError};

/// Most blocks in one document (a long receipt has a few hundred).
pub const MAX_BLOCKS: usize = 1000;
/// Most characters in one text block or column.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Tallest raster image in dots (25 cm of paper at 203 dpi).
pub const MAX_IMAGE_ROWS: usize = 2000;

/// A job's content as stored (`print_jobs.document`, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "content", rename_all = "snake_case", deny_unknown_fields)]
pub enum Content {
    /// A free document, as posted (checked to parse as a `Document`).
    Document { document: Value },
    /// A template with its data and the language it prints in.
    Template {
        template: String,
        language: String,
        data: Value,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("not a document: {0}")]
    Document(serde_json::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("no language {0} (known: de, en)")]
    Language(String),
    #[error("printer profile {profile}: {source}")]
    Encode {
        profile: &'static str,
        source: EncodeError,
    },
    #[error("the document has {0} blocks; at most {MAX_BLOCKS} are printed in one job")]
    TooManyBlocks(usize),
    #[error("block {0}: a text is longer than {MAX_TEXT_CHARS} characters")]
    TextTooLong(usize),
    #[error("block {index}: the image is {rows} dots tall; at most {MAX_IMAGE_ROWS}")]
    ImageTooTall { index: usize, rows: usize },
    #[error("stored print job is not readable: {0}")]
    Stored(serde_json::Error),
}

/// `de` / `en`.
pub fn language_name(language: Language) -> &'static str {
    match language {
        Language::De => "de",
        Language::En => "en",
    }
}

impl Content {
    /// A template job in `language`.
    pub fn template(template: Template, language: Language, data: Value) -> Content {
        Content::Template {
            template: template.name().to_owned(),
            language: language_name(language).to_owned(),
            data,
        }
    }

    /// events.md's `document` value: the template's name, `receipt` for a
    /// free document.
    pub fn kind(&self) -> &str {
        match self {
            Content::Document { .. } => Template::Receipt.name(),
            Content::Template { template, .. } => template,
        }
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        // A tagged enum of strings and JSON values always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Content, ContentError> {
        serde_json::from_str(text).map_err(ContentError::Stored)
    }

    /// The document to print on `profile`: parsed (or laid out by its
    /// template) and checked against the limits.
    pub fn document(&self, profile: &Profile, page: CodePage) -> Result<Document, ContentError> {
        self.document_with_logo(profile, page, None)
    }

    /// As [`Content::document`], a template with `logo` (the printer's, a
    /// raster from `printing::logo`) at its top; a free document prints
    /// as it was posted.
    pub fn document_with_logo(
        &self,
        profile: &Profile,
        page: CodePage,
        logo: Option<&Block>,
    ) -> Result<Document, ContentError> {
        let doc = match self {
            Content::Document { document } => {
                Document::deserialize(document).map_err(ContentError::Document)?
            }
            Content::Template {
                template,
                language,
                data,
            } => {
                let template = Template::by_name(template)?;
                let language = Language::by_name(language)
                    .ok_or_else(|| ContentError::Language(language.clone()))?;
                let ctx = Context {
                    language,
                    profile,
                    page,
                };
                template.render_with_logo(&data.to_string(), &ctx, logo)?
            }
        };
        check_limits(&doc)?;
        Ok(doc)
    }

    /// The bytes for the printer: what the worker sends, and what a job is
    /// checked with before it is stored.
    pub fn render(
        &self,
        profile: &'static Profile,
        page: CodePage,
    ) -> Result<Vec<u8>, ContentError> {
        self.render_with_logo(profile, page, None)
    }

    /// As [`Content::render`], with the printer's logo (see
    /// [`Content::document_with_logo`]).
    pub fn render_with_logo(
        &self,
        profile: &'static Profile,
        page: CodePage,
        logo: Option<&Block>,
    ) -> Result<Vec<u8>, ContentError> {
        let doc = self.document_with_logo(profile, page, logo)?;
        encode(&doc, profile, page).map_err(|source| ContentError::Encode {
            profile: profile.name,
            source,
        })
    }

    /// The document asks for the cash drawer.
    pub fn kicks_drawer(&self, profile: &Profile, page: CodePage) -> Result<bool, ContentError> {
        Ok(self
            .document(profile, page)?
            .blocks
            .iter()
            .any(|b| matches!(b, Block::DrawerKick {})))
    }
}

fn check_limits(doc: &Document) -> Result<(), ContentError> {
    if doc.blocks.len() > MAX_BLOCKS {
        return Err(ContentError::TooManyBlocks(doc.blocks.len()));
    }
    for (index, block) in doc.blocks.iter().enumerate() {
        let long = |s: &str| s.chars().count() > MAX_TEXT_CHARS;
        match block {
            Block::Text { text, .. } if long(text) => return Err(ContentError::TextTooLong(index)),
            Block::Columns { left, right, .. } if long(left) || long(right) => {
                return Err(ContentError::TextTooLong(index))
            }
            Block::Image { width, data } => {
                let row = usize::from(*width).div_ceil(8).max(1);
                let rows = data.len() / row;
                if rows > MAX_IMAGE_ROWS {
                    return Err(ContentError::ImageTooTall { index, rows });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g58() -> &'static Profile {
        Profile::by_name("generic_58").expect("profile")
    }

    #[test]
    fn a_stored_job_reads_back_and_renders_as_it_was_checked() {
        let slip = Content::template(
            Template::PickupSlip,
            Language::En,
            json!({"order_id": "ORD-1", "customer": "Jörg", "shelf": "B2", "lines": [{"name": "Käse", "quantity": 2}]}),
        );
        let back = Content::from_json(&slip.to_json()).expect("reads back");
        assert_eq!(back, slip);
        assert_eq!(back.kind(), "pickup_slip");
        let bytes = back.render(g58(), CodePage::Pc858).expect("renders");
        assert!(!bytes.is_empty());
        let free = Content::Document {
            document: json!({"blocks": [{"kind": "text", "text": "Hallo"}, {"kind": "drawer_kick"}]}),
        };
        assert_eq!(free.kind(), "receipt");
        assert!(free.kicks_drawer(g58(), CodePage::Pc437).expect("parses"));
    }

    #[test]
    fn a_document_over_the_limits_or_wider_than_the_paper_is_refused() {
        let blocks: Vec<_> = (0..=MAX_BLOCKS)
            .map(|_| json!({"kind": "separator"}))
            .collect();
        let many = Content::Document {
            document: json!({ "blocks": blocks }),
        };
        assert!(matches!(
            many.render(g58(), CodePage::Pc437),
            Err(ContentError::TooManyBlocks(_))
        ));
        // 576 dots on 384-dot paper.
        let wide = Content::Document {
            document: json!({"blocks": [{"kind": "image", "width": 576, "data": "AAAA"}]}),
        };
        let err = wide.render(g58(), CodePage::Pc437).expect_err("too wide");
        assert!(err.to_string().contains("576"), "{err}");
        let tall = vec![0u8; 48 * (MAX_IMAGE_ROWS + 1)];
        let tall = Content::Document {
            document: json!({"blocks": [{"kind": "image", "width": 384,
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, tall)}]}),
        };
        assert!(matches!(
            tall.render(g58(), CodePage::Pc437),
            Err(ContentError::ImageTooTall { .. })
        ));
    }
}
