//! Reservations made in the store (a customer called; staff scanned the
//! items): an order `S-<store>-<n>` of channel `store`, version 1, built as
//! a central document with the hash of a fresh code, and
//! `store.reservation.created`, in one writer operation.
//!
//! Must never: keep the clear code (only its argon2id hash arrives here).

use serde_json::Map;
use time::OffsetDateTime;

use super::document::{CentralOrder, CentralStatus, Channel, Customer, Item, Verification};
use super::order::{must_get, record, Order, PickupError};
use super::State;
use crate::events::format_time;
use crate::events::made::{PickupReceived, ReservationCreated};
use crate::store::orders::{self, NewOrderRow};
use crate::store::{StoreError, WriteCtx};

/// One reserved line (its line id is its position, from 1).
#[derive(Debug, Clone)]
pub struct ReservedItem {
    pub sku: String,
    pub gtin: Option<String>,
    pub name: String,
    pub quantity: i64,
}

/// A reservation made in the store, checked by the API.
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub display_name: String,
    pub phone_last4: Option<String>,
    pub items: Vec<ReservedItem>,
    pub pickup_by: OffsetDateTime,
    pub require_id_check: bool,
    pub paid: Option<bool>,
}

/// Creates `S-<store_id>-<n>` (version 1, channel `store`) with the code's
/// hash and records `store.reservation.created`.
pub fn create_reservation(
    ctx: &mut WriteCtx<'_>,
    store_id: &str,
    r: &NewReservation,
    code_hash: &str,
    now: OffsetDateTime,
) -> Result<Order, PickupError> {
    let n = orders::next_reservation_number(ctx)?;
    let order_id = format!("S-{store_id}-{n}");
    let now_s = format_time(now);
    let pickup_by = format_time(r.pickup_by);
    let doc = CentralOrder {
        order_id: order_id.clone(),
        version: 1,
        status: CentralStatus::Open,
        channel: Channel::Store,
        created_at: now_s.clone(),
        pickup_by: pickup_by.clone(),
        customer: Customer {
            display_name: r.display_name.clone(),
            phone_last4: r.phone_last4.clone(),
            other: Map::new(),
        },
        items: r
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| Item {
                line_id: (i + 1).to_string(),
                sku: it.sku.clone(),
                gtin: it.gtin.clone(),
                name: it.name.clone(),
                quantity: it.quantity,
                other: Map::new(),
            })
            .collect(),
        verification: Verification {
            code_hash: code_hash.to_owned(),
            require_id_check: r.require_id_check,
            other: Map::new(),
        },
        paid: r.paid,
        notes: None,
        other: Map::new(),
    };
    let document = doc
        .to_json()
        .map_err(|e| StoreError::invalid(format!("order {order_id}"), e))?;
    orders::insert(
        ctx,
        &NewOrderRow {
            order_id: &order_id,
            version: 1,
            central_status: CentralStatus::Open.as_str(),
            document: &document,
            state: State::Received.as_str(),
            pickup_by_unix: r.pickup_by.unix_timestamp(),
            now: &now_s,
        },
    )?;
    record(
        ctx,
        &ReservationCreated(PickupReceived {
            order_id: &order_id,
            version: 1,
            channel: "store",
            item_count: doc.items.len() as i64,
            pickup_by: &pickup_by,
        }),
    )?;
    must_get(ctx.reader(), &order_id)
}
