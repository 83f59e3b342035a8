//! Sample pickup orders for the demo's built-in fake central: a laptop
//! shows the order feed without a real platform. Names are invented; the
//! code hashes are argon2id of "123456" (demo only).

use serde_json::{json, Value};

/// argon2id PHC string of the demo pickup code "123456".
pub const DEMO_CODE_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ZGVtby1zYWx0LTAx$bVUT2XT9AwTmAUAepPmKW3steoVHwjM5h5Pz6LdiezI";

pub fn orders() -> Vec<Value> {
    let now = time::OffsetDateTime::now_utc();
    let at = |hours: i64| crate::events::format_time(now + time::Duration::hours(hours));
    vec![
        json!({
            "order_id": "W-1001", "version": 1, "status": "open", "channel": "chat",
            "created_at": at(-20), "pickup_by": at(52),
            "customer": {"display_name": "Julia M.", "phone_last4": "4711"},
            "items": [{"line_id": "1", "sku": "SOFA-VELVET-GRN", "gtin": "04012345678901", "name": "Sofa, green velvet", "quantity": 1}],
            "verification": {"code_hash": DEMO_CODE_HASH, "require_id_check": true},
            "paid": true, "notes": "Reserved in the web chat"
        }),
        json!({
            "order_id": "W-1002", "version": 1, "status": "open", "channel": "web",
            "created_at": at(-5), "pickup_by": at(20),
            "customer": {"display_name": "Ali K."},
            "items": [
                {"line_id": "1", "sku": "LAMP-OAK", "name": "Floor lamp, oak", "quantity": 1},
                {"line_id": "2", "sku": "BULB-E27", "name": "LED bulb E27", "quantity": 3}
            ],
            "verification": {"code_hash": DEMO_CODE_HASH},
            "paid": false
        }),
    ]
}
