//! Helpers shared by the integration tests.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::Value;

/// Opens a database for reading.
pub(crate) fn open(path: &Path) -> Connection {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// A single integer.
pub(crate) fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// Every row of `sql`, each rendered as one line.
pub(crate) fn rows(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        let values: Vec<Value> = (0..columns).map(|i| row.get(i)).collect::<Result<_, _>>()?;
        Ok(format!("{values:?}"))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Every row of the three tables, in id order.
pub(crate) fn dump(path: &Path) -> Vec<String> {
    let conn = open(path);
    ["tasks", "jobs", "agent_runs"]
        .iter()
        .flat_map(|table| {
            rows(
                &conn,
                &format!("SELECT '{table}', * FROM {table} ORDER BY id"),
            )
        })
        .collect()
}
