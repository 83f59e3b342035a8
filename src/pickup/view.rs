//! The order as the API, the tablets and `store-edge pickups` see it: one
//! type, documented in the OpenAPI document. Fields are declared in
//! alphabetical order, so the JSON is byte for byte what the API has always
//! answered (the tablet UI and the tests read it).
//!
//! Must never: show the code hash, or anything the customer did not give
//! central for staff to see.

use serde::Serialize;
use time::OffsetDateTime;

use super::document::{CentralStatus, Channel};
use super::order::{Order, Outcome};
use crate::events::format_time;

/// A click-and-collect order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    /// Staff actions possible now (their API path names).
    #[schema(value_type = Vec<String>, example = json!(["handover", "refuse", "cancel", "reminded"]))]
    pub allowed: Vec<&'static str>,
    /// When the customer was first verified at the counter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<String>,
    /// pass, code or manual_lookup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived_verified_by: Option<String>,
    pub central_status: CentralStatus,
    /// What central's last version changed, for staff to see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<String>,
    pub channel: Channel,
    /// While wrong codes lock the order's short code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_locked_until: Option<String>,
    pub customer: CustomerView,
    pub items: Vec<ItemView>,
    /// The shelf or bin where the goods wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Lines that could not be picked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_lines: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub order_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<bool>,
    pub pickup_by: String,
    pub received_at: String,
    pub reminders_sent: i64,
    pub require_id_check: bool,
    /// The ETag: an action sent with `If-Match` on an older one is refused.
    pub revision: i64,
    /// The order was open in the backup this box was restored from: a
    /// handover needs `shelf_checked_after_restore: true` (staff checked
    /// the goods are still on the shelf). Absent when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shelf_check_after_restore: bool,
    /// received, picking, ready, handed_over, partially_handed_over,
    /// refused, no_show or cancelled.
    #[schema(value_type = String, example = "ready")]
    pub state: &'static str,
    pub updated_at: String,
    /// Central's version.
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_last4: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    pub line_id: String,
    pub name: String,
    /// Set once the order was made ready (0 for a missing line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picked: Option<i64>,
    pub quantity: i64,
    pub sku: String,
}

impl Order {
    /// The order as the API and the tablets see it (no code hash, ever).
    pub fn view(&self) -> OrderView {
        let d = &self.document;
        OrderView {
            allowed: super::allowed(self.state),
            arrived_at: self.local.arrived_at.clone(),
            arrived_verified_by: self.local.arrived_verified_by.clone(),
            central_status: self.central_status,
            changes: self.local.changes.clone(),
            channel: d.channel,
            code_locked_until: self
                .code_locked_until
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .map(format_time),
            customer: CustomerView {
                display_name: d.customer.display_name.clone(),
                phone_last4: d.customer.phone_last4.clone(),
            },
            items: d
                .items
                .iter()
                .map(|i| ItemView {
                    gtin: i.gtin.clone(),
                    line_id: i.line_id.clone(),
                    name: i.name.clone(),
                    picked: self.local.picked.get(&i.line_id).copied(),
                    quantity: i.quantity,
                    sku: i.sku.clone(),
                })
                .collect(),
            location: self.local.location.clone(),
            missing_lines: self.local.missing_lines.clone(),
            notes: d.notes.clone(),
            order_id: self.order_id.clone(),
            outcome: self.local.outcome.clone(),
            paid: d.paid,
            pickup_by: d.pickup_by.clone(),
            received_at: self.received_at.clone(),
            reminders_sent: self.local.reminders_sent,
            require_id_check: self.require_id_check(),
            revision: self.revision,
            shelf_check_after_restore: self.local.shelf_check_after_restore,
            state: self.state.as_str(),
            updated_at: self.updated_at.clone(),
            version: self.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickup::actions::HandoverVerification;
    use crate::pickup::document::CentralOrder;
    use crate::pickup::order::{CancelledBy, HandedLine, Local};
    use crate::pickup::State;
    use serde_json::json;

    fn order(doc: serde_json::Value, state: State, local: Local) -> Order {
        Order {
            order_id: doc["order_id"].as_str().unwrap().into(),
            version: doc["version"].as_i64().unwrap(),
            central_status: crate::pickup::document::CentralStatus::parse(
                doc["status"].as_str().unwrap(),
            )
            .unwrap(),
            document: CentralOrder::from_central(&doc).unwrap(),
            state,
            revision: 7,
            pickup_by_unix: 0,
            local,
            code_failures: 0,
            code_locked_until: None,
            received_at: "r".into(),
            updated_at: "u".into(),
        }
    }

    /// The JSON the API answered before `OrderView` (built with `json!`),
    /// byte for byte: same names, values and order.
    #[test]
    fn the_view_is_byte_for_byte_the_api_s_order_json() {
        let h = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
        let full = json!({
            "order_id": "W-1", "version": 3, "status": "open", "channel": "chat",
            "created_at": "2026-11-25T10:00:00Z", "pickup_by": "2026-11-28T18:00:00Z",
            "customer": {"display_name": "Julia M.", "phone_last4": "4711", "loyalty_token": "t"},
            "items": [{"line_id": "1", "sku": "SOFA", "gtin": "04012345678901", "name": "Sofa", "quantity": 1},
                      {"line_id": "2", "sku": "CUSH", "name": "Cushion", "quantity": 2}],
            "verification": {"code_hash": h, "require_id_check": true},
            "paid": true, "notes": "Reserved in the chat"
        });
        let mut local = Local::default();
        local.picked.insert("1".into(), 1);
        local.picked.insert("2".into(), 0);
        local.location = Some("A-12".into());
        local.missing_lines = vec!["2".into()];
        local.arrived_at = Some("2026-11-28T10:00:00Z".into());
        local.arrived_unix = Some(1);
        local.arrived_verified_by = Some("pass".into());
        local.verified = vec!["pass".into()];
        local.reminders_sent = 2;
        local.changes = Some("line 2: quantity 1 → 2".into());
        local.outcome = Some(Outcome::HandedOver {
            handed_over_at: "2026-11-28T10:05:00Z".into(),
            lines: vec![
                HandedLine {
                    line_id: "1".into(),
                    quantity: 1,
                },
                HandedLine {
                    line_id: "2".into(),
                    quantity: 0,
                },
            ],
            staff_id: "anna".into(),
            verified_by: HandoverVerification::Pass,
        });
        let mut o = order(full, State::PartiallyHandedOver, local);
        o.code_locked_until = Some(1_800_000_000);
        o.received_at = "2026-11-25T10:01:00Z".into();
        o.updated_at = "2026-11-28T10:05:00Z".into();
        assert_eq!(
            serde_json::to_string(&o.view()).unwrap(),
            r#"{"allowed":[],"arrived_at":"2026-11-28T10:00:00Z","arrived_verified_by":"pass","central_status":"open","changes":"line 2: quantity 1 → 2","channel":"chat","code_locked_until":"2027-01-15T08:00:00.000Z","customer":{"display_name":"Julia M.","phone_last4":"4711"},"items":[{"gtin":"04012345678901","line_id":"1","name":"Sofa","picked":1,"quantity":1,"sku":"SOFA"},{"line_id":"2","name":"Cushion","picked":0,"quantity":2,"sku":"CUSH"}],"location":"A-12","missing_lines":["2"],"notes":"Reserved in the chat","order_id":"W-1","outcome":{"handed_over_at":"2026-11-28T10:05:00Z","lines":[{"line_id":"1","quantity_handed":1},{"line_id":"2","quantity_handed":0}],"staff_id":"anna","verified_by":"pass"},"paid":true,"pickup_by":"2026-11-28T18:00:00Z","received_at":"2026-11-25T10:01:00Z","reminders_sent":2,"require_id_check":true,"revision":7,"state":"partially_handed_over","updated_at":"2026-11-28T10:05:00Z","version":3}"#
        );

        let min = json!({
            "order_id": "S-s-1", "version": 1, "status": "cancelled", "channel": "store",
            "created_at": "2026-11-25T10:00:00Z", "pickup_by": "2026-11-28T18:00:00Z",
            "customer": {"display_name": "Ali"},
            "items": [{"line_id": "1", "sku": "LAMP", "name": "Lamp", "quantity": 1}],
            "verification": {"code_hash": h}
        });
        let mut o = order(min, State::Cancelled, Local::default());
        o.revision = 2;
        o.local.outcome = Some(Outcome::Cancelled {
            by: CancelledBy::Central,
            cancelled_at: "2026-11-26T10:00:00Z".into(),
            reason: "cancelled by central".into(),
            staff_id: None,
        });
        assert_eq!(
            serde_json::to_string(&o.view()).unwrap(),
            r#"{"allowed":[],"central_status":"cancelled","channel":"store","customer":{"display_name":"Ali"},"items":[{"line_id":"1","name":"Lamp","quantity":1,"sku":"LAMP"}],"order_id":"S-s-1","outcome":{"by":"central","cancelled_at":"2026-11-26T10:00:00Z","reason":"cancelled by central"},"pickup_by":"2026-11-28T18:00:00Z","received_at":"r","reminders_sent":0,"require_id_check":false,"revision":2,"state":"cancelled","updated_at":"u","version":1}"#
        );
        o.state = State::Refused;
        o.local.outcome = Some(Outcome::Refused {
            reason: "damaged".into(),
            refused_at: "x".into(),
            staff_id: "anna".into(),
        });
        assert_eq!(
            serde_json::to_string(&o.view()).unwrap(),
            r#"{"allowed":[],"central_status":"cancelled","channel":"store","customer":{"display_name":"Ali"},"items":[{"line_id":"1","name":"Lamp","quantity":1,"sku":"LAMP"}],"order_id":"S-s-1","outcome":{"reason":"damaged","refused_at":"x","staff_id":"anna"},"pickup_by":"2026-11-28T18:00:00Z","received_at":"r","reminders_sent":0,"require_id_check":false,"revision":2,"state":"refused","updated_at":"u","version":1}"#
        );
        o.state = State::Cancelled;
        o.local.outcome = Some(Outcome::Cancelled {
            by: CancelledBy::Store,
            cancelled_at: "x".into(),
            reason: "gone".into(),
            staff_id: Some("anna".into()),
        });
        assert_eq!(
            serde_json::to_string(&o.view()).unwrap(),
            r#"{"allowed":[],"central_status":"cancelled","channel":"store","customer":{"display_name":"Ali"},"items":[{"line_id":"1","name":"Lamp","quantity":1,"sku":"LAMP"}],"order_id":"S-s-1","outcome":{"by":"store","cancelled_at":"x","reason":"gone","staff_id":"anna"},"pickup_by":"2026-11-28T18:00:00Z","received_at":"r","reminders_sent":0,"require_id_check":false,"revision":2,"state":"cancelled","updated_at":"u","version":1}"#
        );
        // What the store keeps in `local` reads back as it was written.
        let stored = serde_json::to_string(&o.local).unwrap();
        assert_eq!(serde_json::from_str::<Local>(&stored).unwrap(), o.local);
    }
}
