//! The reference schema, as one SQL file split at compile time.

use rusqlite::Connection;

use crate::RefDbError;

/// The reference orchestrator schema, verbatim: the tables `tasks`, `jobs`
/// and `agent_runs`, the four indexes a careful orchestrator has, and the
/// meaning of each contract field as queries over these tables.
///
/// This is the single source of truth; [`TABLES_SQL`] and [`INDEXES_SQL`] are
/// slices of it computed at compile time.
pub const SCHEMA_SQL: &str = include_str!("../sql/schema.sql");

/// Byte offset of the first line of [`SCHEMA_SQL`] that starts with
/// `CREATE INDEX`, or its length when there is none.
const INDEX_SPLIT: usize = first_line_starting_with(SCHEMA_SQL.as_bytes(), b"CREATE INDEX");

/// The table part of [`SCHEMA_SQL`]: everything before the first
/// `CREATE INDEX` line.
pub const TABLES_SQL: &str = match SCHEMA_SQL.split_at_checked(INDEX_SPLIT) {
    Some((tables, _)) => tables,
    None => SCHEMA_SQL,
};

/// The index part of [`SCHEMA_SQL`]: from the first `CREATE INDEX` line to
/// the end (the trailing comments included).
pub const INDEXES_SQL: &str = match SCHEMA_SQL.split_at_checked(INDEX_SPLIT) {
    Some((_, indexes)) => indexes,
    None => "",
};

/// The names of the indexes [`INDEXES_SQL`] creates, in file order.
pub const INDEX_NAMES: [&str; 4] = [
    "idx_tasks_active_stage",
    "idx_jobs_status",
    "idx_jobs_running",
    "idx_agent_runs_job_id",
];

const _: () = assert!(
    INDEX_SPLIT < SCHEMA_SQL.len(),
    "schema.sql must contain CREATE INDEX lines"
);

/// Offset of the first line of `haystack` that starts with `needle`, or
/// `haystack.len()`.
const fn first_line_starting_with(haystack: &[u8], needle: &[u8]) -> usize {
    let mut start = 0;
    while start + needle.len() <= haystack.len() {
        if start == 0 || haystack[start - 1] == b'\n' {
            let mut k = 0;
            while k < needle.len() && haystack[start + k] == needle[k] {
                k += 1;
            }
            if k == needle.len() {
                return start;
            }
        }
        start += 1;
    }
    haystack.len()
}

/// Creates the reference tables on `conn`, and the four reference indexes
/// when `indexes` is true.
///
/// Without indexes the database is what a careless orchestrator has, which is
/// what `vitals doctor` needs to be tested against.
///
/// # Errors
///
/// [`RefDbError::Sqlite`] when a statement fails, for example because a table
/// already exists.
pub fn create_schema(conn: &Connection, indexes: bool) -> Result<(), RefDbError> {
    conn.execute_batch(TABLES_SQL)?;
    if indexes {
        create_indexes(conn)?;
    }
    Ok(())
}

/// Creates the four reference indexes on tables that already exist.
///
/// # Errors
///
/// [`RefDbError::Sqlite`] when a statement fails, for example because an
/// index already exists.
pub fn create_indexes(conn: &Connection) -> Result<(), RefDbError> {
    conn.execute_batch(INDEXES_SQL)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(conn: &Connection, kind: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = ?1 ORDER BY rowid")
            .unwrap();
        stmt.query_map([kind], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_split_is_exact() {
        assert_eq!(format!("{TABLES_SQL}{INDEXES_SQL}"), SCHEMA_SQL);
        assert_eq!(TABLES_SQL.matches("CREATE TABLE").count(), 3);
        assert_eq!(TABLES_SQL.matches("CREATE INDEX").count(), 0);
        assert_eq!(
            INDEXES_SQL.matches("CREATE INDEX").count(),
            INDEX_NAMES.len()
        );
        assert_eq!(INDEXES_SQL.matches("CREATE TABLE").count(), 0);
        assert!(INDEXES_SQL.starts_with("CREATE INDEX"));
    }

    #[test]
    fn indexes_only_on_request() {
        let bare = Connection::open_in_memory().unwrap();
        create_schema(&bare, false).unwrap();
        assert_eq!(names(&bare, "table"), ["tasks", "jobs", "agent_runs"]);
        assert!(names(&bare, "index").is_empty());

        let careful = Connection::open_in_memory().unwrap();
        create_schema(&careful, true).unwrap();
        assert_eq!(names(&careful, "index"), INDEX_NAMES);

        create_indexes(&bare).unwrap();
        assert_eq!(names(&bare, "index"), INDEX_NAMES);
        assert!(matches!(
            create_schema(&bare, false),
            Err(RefDbError::Sqlite(_))
        ));
    }
}
