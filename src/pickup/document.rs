//! Central's order document (the contract's `PickupOrder`), typed. It is
//! checked and parsed once, where it enters (`sync/downlink.rs`, through
//! [`CentralOrder::from_central`]); the store's own reservations are built
//! as one. Stored whole in `pickup_orders.document`: fields the contract
//! does not name are kept as they came (`other`), so nothing central sent
//! is lost.
//!
//! Must never: accept a document that breaks the contract, or keep a clear
//! pickup code (only central's argon2id hash of it).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Central's view of an order (the store decides everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CentralStatus {
    Open,
    Cancelled,
}

impl CentralStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CentralStatus::Open => "open",
            CentralStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<CentralStatus> {
        match s {
            "open" => Some(CentralStatus::Open),
            "cancelled" => Some(CentralStatus::Cancelled),
            _ => None,
        }
    }
}

/// Where the customer ordered; `store` for reservations made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    App,
    Chat,
    Phone,
    Marketplace,
    Store,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::App => "app",
            Channel::Chat => "chat",
            Channel::Phone => "phone",
            Channel::Marketplace => "marketplace",
            Channel::Store => "store",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// As shown to staff, e.g. "Julia M.".
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_last4: Option<String>,
    /// What else central sent (e.g. `loyalty_token`), kept as it came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One ordered line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub line_id: String,
    pub sku: String,
    /// 14 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    pub name: String,
    pub quantity: i64,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// How the customer proves it is their order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// argon2id PHC string of the short pickup code the customer was sent.
    pub code_hash: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_id_check: bool,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// The contract's `PickupOrder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CentralOrder {
    pub order_id: String,
    pub version: i64,
    pub status: CentralStatus,
    pub channel: Channel,
    pub created_at: String,
    /// RFC 3339: hold the goods until then.
    pub pickup_by: String,
    pub customer: Customer,
    pub items: Vec<Item>,
    pub verification: Verification,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Fields the contract does not name, kept as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An ordered line's id and quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_id: String,
    pub quantity: i64,
}

impl CentralOrder {
    /// Checks one of central's documents against the contract and parses
    /// it. The error says which rule it breaks (for the log; the document
    /// is then not stored).
    pub fn from_central(doc: &Value) -> Result<CentralOrder, String> {
        check_contract(doc)?;
        serde_json::from_value(doc.clone())
            .map_err(|e| format!("a field does not have the contract's type: {e}"))
    }

    /// A document as stored (it was checked when it entered).
    pub fn from_stored(json: &str) -> Result<CentralOrder, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The document as stored.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// The ordered lines, in the document's order.
    pub fn lines(&self) -> Vec<Line> {
        self.items
            .iter()
            .map(|i| Line {
                line_id: i.line_id.clone(),
                quantity: i.quantity,
            })
            .collect()
    }

    /// Why central cancelled: its notes, else a plain statement (at most
    /// 500 characters, as events.md allows).
    pub fn cancel_reason(&self) -> String {
        self.notes
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("cancelled by central")
            .chars()
            .take(500)
            .collect()
    }
}

/// The contract's rules for the fields the store relies on, each with a
/// message that names the field.
fn check_contract(doc: &Value) -> Result<(), String> {
    let s = |key: &str| {
        doc.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    s("order_id").ok_or("order_id missing")?;
    doc.get("version")
        .and_then(Value::as_i64)
        .filter(|v| *v >= 1)
        .ok_or("version must be an integer >= 1")?;
    s("status")
        .filter(|v| CentralStatus::parse(v).is_some())
        .ok_or("status must be open or cancelled")?;
    s("channel")
        .filter(|v| ["web", "app", "chat", "phone", "marketplace", "store"].contains(v))
        .ok_or("channel must be web, app, chat, phone, marketplace or store")?;
    for key in ["created_at", "pickup_by"] {
        let v = s(key).ok_or(format!("{key} missing"))?;
        crate::events::parse_time(v).map_err(|_| format!("{key} is not an RFC 3339 date-time"))?;
    }
    let items = doc
        .get("items")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
        .ok_or("items must be a non-empty array")?;
    for item in items {
        for key in ["line_id", "sku", "name"] {
            item.get(key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .ok_or(format!("every item needs {key}"))?;
        }
        item.get("quantity")
            .and_then(Value::as_i64)
            .filter(|q| *q >= 1)
            .ok_or("every item needs a quantity >= 1")?;
    }
    doc.pointer("/customer/display_name")
        .and_then(Value::as_str)
        .ok_or("customer.display_name missing")?;
    doc.pointer("/verification/code_hash")
        .and_then(Value::as_str)
        .filter(|h| h.starts_with("$argon2id$"))
        .ok_or("verification.code_hash must be an argon2id PHC string")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "order_id": "W-1001", "version": 2, "status": "open", "channel": "chat",
            "created_at": "2026-11-25T10:00:00Z", "pickup_by": "2026-11-28T18:00:00+01:00",
            "customer": {"display_name": "Julia M.", "loyalty_token": "tok"},
            "items": [{"line_id": "1", "sku": "SOFA-GRN", "name": "Green velvet sofa", "quantity": 1, "colour": "green"}],
            "verification": {"code_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"},
            "paid": true, "notes": "  ", "campaign": {"id": 7}
        })
    }

    #[test]
    fn a_document_is_typed_and_keeps_what_the_contract_does_not_name() {
        let o = CentralOrder::from_central(&doc()).unwrap();
        assert_eq!(
            (o.version, o.status, o.channel),
            (2, CentralStatus::Open, Channel::Chat)
        );
        assert_eq!(
            o.lines(),
            [Line {
                line_id: "1".into(),
                quantity: 1
            }]
        );
        assert!(!o.verification.require_id_check);
        assert_eq!(o.cancel_reason(), "cancelled by central", "blank notes");
        let stored = o.to_json().unwrap();
        let back: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, doc(), "stored as central sent it");
        assert_eq!(CentralOrder::from_stored(&stored).unwrap(), o);
    }

    #[test]
    fn fields_of_the_wrong_type_are_refused_too() {
        type Break = fn(&mut Value);
        let cases: [(&str, Break); 4] = [
            ("paid", |d| d["paid"] = json!("yes")),
            ("notes", |d| d["notes"] = json!(3)),
            ("gtin", |d| d["items"][0]["gtin"] = json!(4012345678901u64)),
            ("require_id_check", |d| {
                d["verification"]["require_id_check"] = json!("no")
            }),
        ];
        for (field, break_it) in cases {
            let mut d = doc();
            break_it(&mut d);
            let err = CentralOrder::from_central(&d).unwrap_err();
            assert!(err.contains("type"), "{field}: {err}");
        }
    }
}
