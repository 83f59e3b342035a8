//! The events the service records itself, one typed constructor per type
//! of events.md: a wrong or missing field is a compile error here, not a
//! database error at run time. Each is checked against the catalog when
//! built (`NewEvent::made`), like any event.
//!
//! Must never: carry a clear loyalty number, card track or code (only
//! tokens and masked forms exist in these types).

use serde::Serialize;

use crate::scan::{Gs1Data, GtinKind, PrefixFlags, Product};

/// A service-made event's data, with its type name from events.md.
pub trait Made: Serialize {
    const TYPE: &'static str;
}

macro_rules! made {
    ($name:ident, $type:literal) => {
        impl Made for $name<'_> {
            const TYPE: &'static str = $type;
        }
    };
}

/// `store.loyalty.identified`: a card read at a device or a number a till posted.
#[derive(Debug, Serialize)]
pub struct LoyaltyIdentified<'a> {
    pub customer_token: &'a str,
    /// barcode, magstripe, nfc, manual or app.
    pub method: &'a str,
    pub device_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_masked: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_id: Option<&'a str>,
}
made!(LoyaltyIdentified, "store.loyalty.identified");

/// `store.product.scanned`: the decoded product's fields, borrowed from
/// `scan::Product` (how the symbology was known is the live screen's
/// business, not the event's).
#[derive(Debug, Serialize)]
pub struct ProductScanned<'a> {
    pub device_id: &'a str,
    /// price_check, basket, pickup, inventory.
    pub context: &'a str,
    pub symbology: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtin_kind: Option<GtinKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addon: Option<&'a str>,
    #[serde(flatten)]
    pub flags: &'a PrefixFlags,
    /// `gtin`, `batch`, `expiry`, … and `ais`.
    #[serde(flatten)]
    pub gs1: &'a Gs1Data,
}
made!(ProductScanned, "store.product.scanned");

impl<'a> ProductScanned<'a> {
    /// The event of `product` scanned at `device_id` in `context`.
    pub fn of(device_id: &'a str, context: &'a str, product: &'a Product) -> Self {
        ProductScanned {
            device_id,
            context,
            symbology: &product.symbology,
            gtin_kind: product.gtin_kind,
            addon: product.addon.as_deref(),
            flags: &product.flags,
            gs1: &product.data,
        }
    }
}

/// `store.receipt.printed`: one physical print of a print job, recorded
/// by the print queue in the same transaction that marks the job printed.
#[derive(Debug, Serialize)]
pub struct ReceiptPrinted<'a> {
    pub printer_id: &'a str,
    /// receipt, pickup_slip, handover_confirmation or test.
    pub document: &'a str,
    pub job_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<&'a str>,
    /// A person printed the job again (never `false`: left out instead).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reprint: bool,
}
made!(ReceiptPrinted, "store.receipt.printed");

/// `store.device.status`.
#[derive(Debug, Serialize)]
pub struct DeviceStatus<'a> {
    pub device_id: &'a str,
    /// scanner, card_reader, printer, tablet.
    pub kind: &'a str,
    /// online, offline, error, paper_low, paper_out, cover_open.
    pub state: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}
made!(DeviceStatus, "store.device.status");

/// `store.pickup.received` (central's order) and, with the same fields,
/// `store.reservation.created` (an order made in the store).
#[derive(Debug, Serialize)]
pub struct PickupReceived<'a> {
    pub order_id: &'a str,
    pub version: i64,
    pub channel: &'a str,
    pub item_count: i64,
    pub pickup_by: &'a str,
}
made!(PickupReceived, "store.pickup.received");

/// `store.reservation.created`.
#[derive(Debug, Serialize)]
pub struct ReservationCreated<'a>(pub PickupReceived<'a>);
made!(ReservationCreated, "store.reservation.created");

/// `store.pickup.picking_started`.
#[derive(Debug, Serialize)]
pub struct PickingStarted<'a> {
    pub order_id: &'a str,
    pub staff_id: &'a str,
}
made!(PickingStarted, "store.pickup.picking_started");

/// `store.pickup.ready`.
#[derive(Debug, Serialize)]
pub struct PickupReady<'a> {
    pub order_id: &'a str,
    pub staff_id: &'a str,
    pub location: &'a str,
    pub missing_lines: &'a [String],
}
made!(PickupReady, "store.pickup.ready");

/// `store.pickup.customer_arrived`.
#[derive(Debug, Serialize)]
pub struct CustomerArrived<'a> {
    pub order_id: &'a str,
    /// pass, code, manual_lookup.
    pub verified_by: &'a str,
}
made!(CustomerArrived, "store.pickup.customer_arrived");

/// A handed-over line: how much of it left the store (the event's `lines`,
/// and what the stored order and the API show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HandedLine {
    pub line_id: String,
    #[serde(rename = "quantity_handed")]
    pub quantity: i64,
}

/// `store.pickup.handed_over`.
#[derive(Debug, Serialize)]
pub struct HandedOver<'a> {
    pub order_id: &'a str,
    pub staff_id: &'a str,
    /// pass, code, id_check, manual_override.
    pub verified_by: &'a str,
    pub lines: &'a [HandedLine],
    pub partial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<i64>,
}
made!(HandedOver, "store.pickup.handed_over");

/// `store.pickup.refused`.
#[derive(Debug, Serialize)]
pub struct PickupRefused<'a> {
    pub order_id: &'a str,
    pub staff_id: &'a str,
    /// damaged, wrong_item, changed_mind, other.
    pub reason: &'a str,
}
made!(PickupRefused, "store.pickup.refused");

/// `store.pickup.no_show`.
#[derive(Debug, Serialize)]
pub struct NoShow<'a> {
    pub order_id: &'a str,
    pub pickup_by: &'a str,
    pub reminders_sent: i64,
}
made!(NoShow, "store.pickup.no_show");

/// `store.pickup.cancelled`.
#[derive(Debug, Serialize)]
pub struct PickupCancelled<'a> {
    pub order_id: &'a str,
    /// central, store.
    pub by: &'a str,
    pub reason: &'a str,
}
made!(PickupCancelled, "store.pickup.cancelled");

/// `store.pickup.conflict`.
#[derive(Debug, Serialize)]
pub struct PickupConflict<'a> {
    pub order_id: &'a str,
    pub local_state: &'a str,
    /// open, cancelled.
    pub central_state: &'a str,
    pub detail: &'a str,
}
made!(PickupConflict, "store.pickup.conflict");

/// `store.edge.restored`: the first event after a restore's sequence gap
/// (recorded by `store-edge db restore`, never by a client).
#[derive(Debug, Serialize)]
pub struct EdgeRestored<'a> {
    pub backup_taken_at: &'a str,
    pub last_sequence_in_backup: u64,
    pub first_sequence_after: u64,
}
made!(EdgeRestored, "store.edge.restored");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{lookup, NewEvent};

    #[test]
    fn every_made_type_is_in_the_catalog() {
        for t in [
            LoyaltyIdentified::TYPE,
            ProductScanned::TYPE,
            DeviceStatus::TYPE,
            PickupReceived::TYPE,
            ReservationCreated::TYPE,
            PickingStarted::TYPE,
            PickupReady::TYPE,
            CustomerArrived::TYPE,
            HandedOver::TYPE,
            PickupRefused::TYPE,
            NoShow::TYPE,
            PickupCancelled::TYPE,
            PickupConflict::TYPE,
            EdgeRestored::TYPE,
        ] {
            assert!(lookup(t).is_some(), "{t} is not in the catalog");
        }
    }

    #[test]
    fn a_scanned_product_is_its_typed_fields_without_the_live_screens_extras() {
        let crate::scan::Decoded::Product(p) = crate::scan::decode(
            b"(01)09501101530003(3102)001234",
            &crate::scan::DecodeConfig::scanner(2026),
        ) else {
            panic!("a product")
        };
        assert!(p.symbology_inferred);
        let e = NewEvent::made(&ProductScanned::of("till-1-scanner", "basket", &p)).unwrap();
        assert_eq!(e.data["gtin"], "09501101530003");
        assert_eq!(e.data["net_weight_kg"], "12.34");
        assert_eq!(e.data["symbology"], "]C1");
        assert_eq!(e.data["context"], "basket");
        assert!(e.data.get("symbology_inferred").is_none(), "{:?}", e.data);
        assert!(e.data.get("kind").is_none(), "{:?}", e.data);
    }

    #[test]
    fn made_events_pass_the_catalog_and_keep_their_fields() {
        let lines = [HandedLine {
            line_id: "1".into(),
            quantity: 2,
        }];
        let e = NewEvent::made(&HandedOver {
            order_id: "W-1",
            staff_id: "anna",
            verified_by: "pass",
            lines: &lines,
            partial: false,
            wait_seconds: Some(30),
        })
        .unwrap();
        assert_eq!(e.event_type.name, "store.pickup.handed_over");
        assert_eq!(e.subject.as_deref(), Some("W-1"));
        assert_eq!(e.data["lines"][0]["quantity_handed"], 2);
        let r = NewEvent::made(&ReservationCreated(PickupReceived {
            order_id: "S-x-1",
            version: 1,
            channel: "store",
            item_count: 1,
            pickup_by: "2030-01-01T00:00:00Z",
        }))
        .unwrap();
        assert_eq!(r.event_type.name, "store.reservation.created");
        assert_eq!(r.data["channel"], "store");
    }
}
