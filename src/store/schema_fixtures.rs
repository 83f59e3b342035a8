//! The schema fixtures of `tests/fixtures/schema/`: one database file per
//! schema version, made by that version's migrations (steps 1..N of
//! `migrations::STEPS`, by `open.rs`'s own `apply_step`) and a few rows of
//! synthetic store data in the columns that version has. They are
//! committed, so a later change here cannot change what an old file looks
//! like; `tests/it/upgrades.rs` opens each with the current binary.
//!
//! Regenerate (only for a new schema version: the others must stay as
//! they are) with `scripts/gen_schema_fixtures.sh`.
//!
//! Must never: hold real customer data, clear loyalty numbers or codes.

use std::path::Path;

use rusqlite::{params, Connection};

/// The store id the fixtures belong to (the tests' `STORE_ID`).
pub const STORE_ID: &str = "test-store-01";

/// Builds the schema-`version` fixture at `path` (which must not exist).
pub fn build(version: usize, path: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    for i in 0..version {
        super::open::apply_step(&conn, i, STORE_ID, "2026-03-02T07:55:00.000Z")?;
    }
    if version >= 9 {
        super::open::finish_step_9(&conn, &mut |_, _| {})?;
        super::open::register_event_types(&conn)?;
    }
    let tx = conn.unchecked_transaction()?;
    rows(&tx, version)?;
    tx.commit()?;
    drop(conn);
    Ok(())
}

const ORDER: &str = r#"{"order_id":"W-1001","version":2,"status":"open","channel":"web","created_at":"2026-03-01T18:20:00Z","pickup_by":"2036-03-05T18:00:00Z","customer":{"display_name":"Julia M."},"items":[{"line_id":"1","sku":"SOFA-GRN","name":"Green velvet sofa","quantity":1},{"line_id":"2","sku":"CUSH-GRN","gtin":"04012345678901","name":"Cushion","quantity":2}],"verification":{"code_hash":"$argon2id$v=19$m=19456,t=2,p=1$ZGVtby1zYWx0LTAx$bVUT2XT9AwTmAUAepPmKW3steoVHwjM5h5Pz6LdiezI"}}"#;

/// A customer token's shape (43 base64url characters), not anyone's.
const TOKEN: &str = "c3ludGhldGljLWN1c3RvbWVyLXRva2VuLWZpeHR1cmU";

fn rows(c: &Connection, v: usize) -> rusqlite::Result<()> {
    let events: [(&str, Option<&str>, &str, &str, i64); 3] = [
        (
            "store.loyalty.identified",
            Some(TOKEN),
            "loyalty",
            r#"{"customer_token":"c3ludGhldGljLWN1c3RvbWVyLXRva2VuLWZpeHR1cmU","method":"barcode","device_id":"till-1-scanner","number_masked":"****4321"}"#,
            1,
        ),
        (
            "store.transaction.completed",
            Some("T-0815"),
            "decision",
            r#"{"transaction_id":"T-0815","register_id":"till-1","total_minor":4999,"currency":"EUR","item_count":3}"#,
            1,
        ),
        (
            "store.pickup.received",
            Some("W-1001"),
            "decision",
            r#"{"order_id":"W-1001","version":2,"channel":"web","item_count":3,"pickup_by":"2036-03-05T18:00:00Z"}"#,
            0,
        ),
    ];
    for (i, (ty, subject, stage, data, sent)) in events.iter().enumerate() {
        let seq = i as i64 + 1;
        let id = format!("0195a0c4-7e00-7000-8000-00000000000{seq}");
        if v >= 9 {
            // Schema 9: the lean row and the watermark (events 1 and 2 sent).
            let ms = 1_772_438_400_000i64 + seq * 60_000;
            c.execute(
                "INSERT INTO event_log (seq, id, type, subject, time, recorded, local_day, data)
                 VALUES (?1, ?2, (SELECT code FROM event_types WHERE name = ?3), ?4, ?5, ?5, '2026-03-02', ?6)",
                params![seq, &uuid::Uuid::parse_str(&id).expect("a UUID").as_bytes()[..], ty, subject, ms, data],
            )?;
            if *sent == 1 {
                c.execute("UPDATE sync_watermark SET sent_upto = ?1", [seq])?;
            }
            continue;
        }
        let time = format!("2026-03-02T08:0{seq}:00.000Z");
        c.execute(
            "INSERT INTO events (seq, id, type, subject, time, recorded_at, journeystage, data, sync_state, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9)",
            params![
                seq,
                id,
                ty,
                subject,
                time,
                stage,
                data,
                sent,
                (*sent == 1).then_some(1_772_438_700i64 + seq),
            ],
        )?;
        if v >= 7 {
            c.execute(
                "UPDATE events SET local_day = '2026-03-02' WHERE seq = ?1",
                [seq],
            )?;
        }
    }
    c.execute("UPDATE meta SET value = '3' WHERE key = 'last_seq'", [])?;
    // Tokens: SHA-256 of made-up tokens (the test does not need them).
    let hash = |s: &str| -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(s.as_bytes()).to_vec()
    };
    c.execute(
        "INSERT INTO api_tokens (name, role, hash, created_at) VALUES
           ('till-1', 'pos', ?1, '2026-03-02T07:56:00.000Z'),
           ('it', 'admin', ?2, '2026-03-02T07:56:10.000Z')",
        params![hash("se_fixture-till"), hash("se_fixture-it")],
    )?;
    if v >= 5 {
        c.execute(
            "INSERT INTO idempotency (token_hash, key, request_hash, status, response, created_at)
             VALUES (?1, 'till-1-0001', ?2, 201, '[{\"id\":\"0195a0c4-7e00-7000-8000-000000000002\",\"sequence\":\"2\"}]', 1772438520)",
            params![hash("se_fixture-till"), hash("body")],
        )?;
    } else {
        c.execute(
            "INSERT INTO idempotency (key, request_hash, status, response, created_at)
             VALUES ('till-1-0001', ?1, 201, '{\"id\":\"0195a0c4-7e00-7000-8000-000000000002\",\"sequence\":\"2\"}', 1772438520)",
            [hash("body")],
        )?;
    }
    if v >= 2 {
        c.execute(
            "INSERT INTO pickup_orders (order_id, version, central_status, document, received_at, updated_at)
             VALUES ('W-1001', 2, 'open', ?1, '2026-03-02T08:03:00.000Z', '2026-03-02T08:03:00.000Z')",
            [ORDER],
        )?;
        c.execute(
            "INSERT INTO pickup_keys (kid, public_key, fetched_at) VALUES ('k-2026', ?1, '2026-03-02T08:00:00.000Z')",
            [[7u8; 32].to_vec()],
        )?;
        c.execute(
            "INSERT INTO uplink_batches (idempotency_key, first_seq, last_seq, created_at) VALUES ('0195a0c4-batch-3', 3, 3, 1772438600)",
            [],
        )?;
    }
    if v >= 3 {
        c.execute(
            "UPDATE pickup_orders SET state = 'ready', revision = 3,
                    local = '{\"picked\":{\"1\":1,\"2\":2},\"location\":\"B-07\"}'
             WHERE order_id = 'W-1001'",
            [],
        )?;
        c.execute(
            "INSERT INTO staff (id, name, pin_hash, created_at) VALUES
               ('anna', 'Anna K.', '$argon2id$v=19$m=19456,t=2,p=1$Zml4dHVyZS1zYWx0$notarealhashnotarealhashnotarealhash0000', '2026-03-02T07:50:00.000Z')",
            [],
        )?;
        c.execute(
            "INSERT INTO api_tokens (name, role, hash, created_at, register)
             VALUES ('counter tablet #0421', 'staff', ?1, '2026-03-02T07:57:00.000Z', 'counter-1')",
            [hash("se_fixture-tablet")],
        )?;
    }
    if v >= 6 {
        c.execute(
            "INSERT INTO print_jobs (printer_id, document_kind, document, state, queue_pos, created_at, updated_at, attempts, printed)
             VALUES ('counter-printer', 'pickup_slip', '{\"template\":\"pickup_slip\",\"language\":\"de\",\"data\":{\"order_id\":\"W-1001\"}}', 'printed', 1, 1772438590, 1772438592, 1, 1)",
            [],
        )?;
    }
    if v >= 7 {
        c.execute(
            "INSERT INTO kpi_daily (day, metric, dim, n) VALUES ('2026-03-02', 'events', '', 3)",
            [],
        )?;
    }
    if v >= 8 {
        c.execute(
            "INSERT INTO api_tokens (name, role, hash, created_at) VALUES ('office', 'manager', ?1, '2026-03-02T07:58:00.000Z')",
            [hash("se_fixture-manager")],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Writes `tests/fixtures/schema/v<N>.db` for every schema version that
    /// has no fixture yet (`scripts/gen_schema_fixtures.sh`; existing ones
    /// are never rewritten: they are what those versions wrote).
    #[test]
    #[ignore = "writes the committed fixtures; run by scripts/gen_schema_fixtures.sh"]
    fn write_missing_schema_fixtures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema");
        std::fs::create_dir_all(&dir).unwrap();
        for v in 1..=crate::store::migrations::LATEST as usize {
            let path = dir.join(format!("v{v}.db"));
            if !path.exists() {
                super::build(v, &path).unwrap();
                eprintln!("wrote {}", path.display());
            }
        }
    }

    /// Every version's fixture can be built (the committed ones were).
    #[test]
    fn every_version_builds() {
        let dir = tempfile::tempdir().unwrap();
        for v in 1..=crate::store::migrations::LATEST as usize {
            super::build(v, &dir.path().join(format!("v{v}.db"))).unwrap();
        }
    }
}
