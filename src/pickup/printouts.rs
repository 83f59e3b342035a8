//! What the counter prints (issue 12): an order's pickup slip when it is
//! made ready, the handover confirmation, and the slip again on request.
//! Each is queued with `store::print_jobs::enqueue` inside the same writer
//! transaction as the action, so a ready order without its slip (or a
//! slip for an order that is not ready) never exists, even after a crash.
//! The printers' worker is told by the caller (the service rings the
//! printers' wake after the op): `pickup/` does not import `printers/`.
//!
//! Must never: queue a job for a printer the config does not name (the
//! config checks `slip_printer` and `confirmation_printer`), or log the
//! customer's name.

use serde_json::json;

use super::order::{must_get, HandedLine, Order, PickupError};
use super::State;
use crate::printing::job::Content;
use crate::printing::templates::{Language, Template};
use crate::store::print_jobs::{self, NewJob};
use crate::store::WriteCtx;

/// `[pickup] slip_printer` / `confirmation_printer` and `[printing]
/// language`: where the counter's papers go.
#[derive(Debug, Clone, Default)]
pub struct Printouts {
    pub slip_printer: Option<String>,
    pub confirmation_printer: Option<String>,
    pub language: Language,
}

/// The pickup slip of a ready order: id, customer, shelf, the picked lines
/// (missing ones left out), the QR of the order id.
pub fn slip(order: &Order, language: Language) -> Content {
    let lines: Vec<_> = order
        .document
        .items
        .iter()
        .filter_map(|item| {
            let picked = order
                .local
                .picked
                .get(&item.line_id)
                .copied()
                .unwrap_or(item.quantity);
            (picked > 0).then(|| json!({"name": item.name, "quantity": picked, "sku": item.sku}))
        })
        .collect();
    Content::template(
        Template::PickupSlip,
        language,
        json!({
            "order_id": order.order_id,
            "customer": order.document.customer.display_name,
            "shelf": order.local.location.as_deref().unwrap_or("-"),
            "lines": lines,
            "pickup_by": order.pickup_by(),
        }),
    )
}

/// The handover confirmation: what was handed, of how much ordered.
pub fn confirmation(
    order: &Order,
    handed: &[HandedLine],
    partial: bool,
    staff: &str,
    handed_at: &str,
    language: Language,
) -> Content {
    let lines: Vec<_> = order
        .document
        .items
        .iter()
        .map(|item| {
            let quantity_handed: i64 = handed
                .iter()
                .filter(|h| h.line_id == item.line_id)
                .map(|h| h.quantity)
                .sum();
            json!({"name": item.name, "quantity_handed": quantity_handed, "quantity_ordered": item.quantity})
        })
        .collect();
    Content::template(
        Template::HandoverConfirmation,
        language,
        json!({
            "order_id": order.order_id,
            "customer": order.document.customer.display_name,
            "lines": lines,
            "partial": partial,
            "staff": staff,
            "handed_at": handed_at,
        }),
    )
}

/// Queues `content` on `printer` as the service's own job (no caller, no
/// key), inside the caller's transaction. The job's id.
pub fn queue(
    ctx: &mut WriteCtx<'_>,
    printer: &str,
    content: &Content,
    now: i64,
) -> Result<i64, PickupError> {
    let document = content.to_json();
    Ok(print_jobs::enqueue(
        ctx,
        &NewJob {
            printer_id: printer,
            document_kind: content.kind(),
            document: &document,
            token_hash: None,
            idempotency: None,
            now,
        },
    )?
    .id())
}

/// "Print slip again": the order's slip once more, on `[pickup]
/// slip_printer`. Only for an order that was made ready and is still
/// waiting (ready or partly handed over is where a slip is on a shelf).
pub fn slip_again(
    ctx: &mut WriteCtx<'_>,
    order_id: &str,
    printouts: &Printouts,
    now: i64,
) -> Result<i64, PickupError> {
    let Some(printer) = printouts.slip_printer.as_deref() else {
        return Err(PickupError::Invalid(
            "no slip printer: set [pickup] slip_printer in the config".into(),
        ));
    };
    let order = must_get(ctx.reader(), order_id)?;
    if order.local.location.is_none() || !matches!(order.state, State::Ready | State::NoShow) {
        return Err(PickupError::Invalid(format!(
            "order {order_id} is {}: a slip is printed for a ready order",
            order.state.as_str()
        )));
    }
    queue(ctx, printer, &slip(&order, printouts.language), now)
}
