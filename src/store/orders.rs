//! The `pickup_orders` table: one row per click-and-collect order, as the
//! pickup workflow (`pickup/`) reads and writes it. The row is plain data
//! here; what the state names and the JSON columns mean is `pickup/`'s.
//!
//! Must never: decide a transition (that is `pickup/`'s, which writes the
//! row and records the event in the same writer op).

use rusqlite::OptionalExtension;

use super::{ReadConn, StoreError, WriteCtx};

/// One stored order, column by column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: String,
    pub version: i64,
    /// Central's status: `open` or `cancelled`.
    pub central_status: String,
    /// Central's document (JSON).
    pub document: String,
    /// The store's state (`pickup::State`'s name).
    pub state: String,
    pub revision: i64,
    /// The deadline in unix seconds (0 when unknown).
    pub pickup_by_unix: i64,
    /// What the store added (JSON).
    pub local: String,
    pub code_failures: i64,
    pub code_locked_until: Option<i64>,
    pub received_at: String,
    pub updated_at: String,
}

/// A first version of an order, as inserted (revision 1, nothing local).
#[derive(Debug, Clone)]
pub struct NewOrderRow<'a> {
    pub order_id: &'a str,
    pub version: i64,
    pub central_status: &'a str,
    pub document: &'a str,
    pub state: &'a str,
    pub pickup_by_unix: i64,
    /// `received_at` and `updated_at`.
    pub now: &'a str,
}

const COLUMNS: &str = "order_id, version, central_status, document, state, revision, pickup_by_unix, local, code_failures, code_locked_until, received_at, updated_at";

/// The states in which an order still waits for its customer.
pub(super) const OPEN: &str = "state IN ('received', 'picking', 'ready')";

fn from_row(r: &rusqlite::Row<'_>) -> Result<OrderRow, rusqlite::Error> {
    Ok(OrderRow {
        order_id: r.get(0)?,
        version: r.get(1)?,
        central_status: r.get(2)?,
        document: r.get(3)?,
        state: r.get(4)?,
        revision: r.get(5)?,
        pickup_by_unix: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
        local: r.get(7)?,
        code_failures: r.get(8)?,
        code_locked_until: r.get(9)?,
        received_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

/// The order, if there is one with this id.
pub fn get(conn: &ReadConn, order_id: &str) -> Result<Option<OrderRow>, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM pickup_orders WHERE order_id = ?1"
        ))?
        .query_row([order_id], from_row)
        .optional()?)
}

/// Which orders a list holds, and in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query<'a> {
    /// Every order, the newest change first.
    All,
    /// Orders in this state, by deadline.
    State(&'a str),
    /// Open orders due from `now` until `until` (unix seconds), by deadline.
    Due { now: i64, until: i64 },
    /// Open orders whose deadline has passed, by deadline.
    Overdue { now: i64 },
    /// Order id or customer name containing the text, newest change first.
    Search(&'a str),
}

/// At most `limit` orders of the query.
pub fn list(conn: &ReadConn, query: &Query<'_>, limit: u32) -> Result<Vec<OrderRow>, StoreError> {
    let (clause, args): (String, Vec<rusqlite::types::Value>) = match query {
        Query::All => ("1 = 1 ORDER BY updated_at DESC, order_id".into(), vec![]),
        Query::State(s) => (
            "state = ?1 ORDER BY pickup_by_unix, order_id".into(),
            vec![(*s).to_owned().into()],
        ),
        Query::Due { now, until } => (
            format!("{OPEN} AND pickup_by_unix >= ?1 AND pickup_by_unix <= ?2 ORDER BY pickup_by_unix, order_id"),
            vec![(*now).into(), (*until).into()],
        ),
        Query::Overdue { now } => (
            format!("{OPEN} AND pickup_by_unix < ?1 ORDER BY pickup_by_unix, order_id"),
            vec![(*now).into()],
        ),
        Query::Search(q) => {
            let pattern = format!(
                "%{}%",
                q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
            );
            (
                "(order_id LIKE ?1 ESCAPE '\\' OR json_extract(document, '$.customer.display_name') LIKE ?1 ESCAPE '\\') ORDER BY updated_at DESC, order_id".into(),
                vec![pattern.into()],
            )
        }
    };
    let sql = format!("SELECT {COLUMNS} FROM pickup_orders WHERE {clause} LIMIT {limit}");
    let mut stmt = conn.sql().prepare_cached(&sql)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Ids of open orders whose deadline plus `grace_s` has passed at `now`
/// and whose customer did not arrive within the last `hold_s` (the
/// `arrived_unix` the workflow keeps in `local`), the earliest deadline
/// first.
pub fn no_show_candidates(
    conn: &ReadConn,
    now: i64,
    grace_s: i64,
    hold_s: i64,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&format!(
        "SELECT order_id FROM pickup_orders WHERE {OPEN} AND pickup_by_unix + ?2 < ?1 AND coalesce(json_extract(local, '$.arrived_unix'), 0) < ?1 - ?3 ORDER BY pickup_by_unix"
    ))?;
    let rows = stmt
        .query_map(rusqlite::params![now, grace_s, hold_s], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// Inserts an order's first version inside the writer's transaction.
pub fn insert(ctx: &mut WriteCtx<'_>, row: &NewOrderRow<'_>) -> Result<(), StoreError> {
    ctx.conn()
        .prepare_cached(
            "INSERT INTO pickup_orders (order_id, version, central_status, document, received_at, updated_at, state, pickup_by_unix) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
        )?
        .execute(rusqlite::params![
            row.order_id,
            row.version,
            row.central_status,
            row.document,
            row.now,
            row.state,
            row.pickup_by_unix
        ])?;
    Ok(())
}

/// Writes the whole row (all but `order_id` and `received_at`) inside the
/// writer's transaction.
pub fn update(ctx: &mut WriteCtx<'_>, row: &OrderRow) -> Result<(), StoreError> {
    ctx.conn()
        .prepare_cached(
            "UPDATE pickup_orders SET version = ?2, central_status = ?3, document = ?4, state = ?5, revision = ?6, pickup_by_unix = ?7, local = ?8, code_failures = ?9, code_locked_until = ?10, updated_at = ?11 WHERE order_id = ?1",
        )?
        .execute(rusqlite::params![
            row.order_id,
            row.version,
            row.central_status,
            row.document,
            row.state,
            row.revision,
            row.pickup_by_unix,
            row.local,
            row.code_failures,
            row.code_locked_until,
            row.updated_at,
        ])?;
    Ok(())
}

/// The next `n` for the store's own reservations (`S-<store>-<n>`),
/// counted in `meta` inside the writer's transaction.
pub fn next_reservation_number(ctx: &mut WriteCtx<'_>) -> Result<i64, StoreError> {
    use super::meta::{self, Key};
    let n = meta::get_raw(ctx.conn(), Key::ReservationSeq.as_str())?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
        + 1;
    meta::set(ctx, &[(Key::ReservationSeq, Some(n.to_string()))])?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn an_inserted_order_reads_back_and_lists_by_query() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("t.db"), "t").unwrap();
        let row = NewOrderRow {
            order_id: "W-1",
            version: 1,
            central_status: "open",
            document: r#"{"order_id":"W-1","customer":{"display_name":"Julia 100% M_"}}"#,
            state: "received",
            pickup_by_unix: 1_800_000_000,
            now: "2030-01-01T00:00:00Z",
        };
        insert_raw(db.sql(), &row);
        let got = get(&db, "W-1").unwrap().expect("stored");
        assert_eq!(
            (got.revision, got.local.as_str(), got.pickup_by_unix),
            (1, "{}", 1_800_000_000)
        );
        assert_eq!(get(&db, "W-2").unwrap(), None);
        let ids = |q: Query<'_>| -> Vec<String> {
            list(&db, &q, 10)
                .unwrap()
                .into_iter()
                .map(|r| r.order_id)
                .collect()
        };
        assert_eq!(ids(Query::State("received")), ["W-1"]);
        assert!(ids(Query::State("ready")).is_empty());
        assert_eq!(
            ids(Query::Due {
                now: 1_799_999_000,
                until: 1_800_000_000
            }),
            ["W-1"]
        );
        assert_eq!(ids(Query::Overdue { now: 1_800_000_001 }), ["W-1"]);
        assert_eq!(
            ids(Query::Search("100% M_")),
            ["W-1"],
            "LIKE wildcards are text"
        );
        assert!(ids(Query::Search("100%%")).is_empty());
        assert_eq!(
            no_show_candidates(&db, 1_800_000_001, 0, 3600).unwrap(),
            ["W-1"]
        );
        assert!(no_show_candidates(&db, 1_800_000_001, 60, 3600)
            .unwrap()
            .is_empty());
    }

    /// The test's stand-in for [`insert`] on a command's connection.
    fn insert_raw(conn: &Connection, row: &NewOrderRow<'_>) {
        conn.execute(
            "INSERT INTO pickup_orders (order_id, version, central_status, document, received_at, updated_at, state, pickup_by_unix) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
            rusqlite::params![row.order_id, row.version, row.central_status, row.document, row.now, row.state, row.pickup_by_unix],
        )
        .unwrap();
    }
}
