//! The cost and token totals over `agent_runs` (`cost.aggregate`): the sums
//! they are made of, and the two queries that compute them.
//!
//! Any column may hold any type, and the totals must tell a bad value (a
//! text cost, a real or text token count) from a good one: bad values are
//! skipped and counted, exactly. Checking the type of every value of every
//! row ([`exact_totals`], `typeof` in a `CASE` per column) costs about four
//! times the plain scan. So [`totals_sums`] first runs the plain aggregates
//! ([`cheap_totals`]) and trusts SQLite's own result types where they prove
//! that no bad value is there
//! (<https://sqlite.org/lang_aggfunc.html#sumunc>):
//!
//! - `SUM(x)` returns an integer only when every non-NULL value it added
//!   had a numeric type of INTEGER, and fails with `integer overflow` when
//!   its running sum leaves the 64-bit range. A REAL, a BLOB or a text that
//!   does not look like a number makes it return a REAL.
//! - A text that looks like an integer is added as one, but a column with
//!   numeric affinity (declared `INTEGER`, `REAL`, `NUMERIC`, ... in an
//!   ordinary table; `INT`, `INTEGER` or `REAL` in a STRICT one) never
//!   holds such a text: SQLite converts it when it is stored
//!   (<https://sqlite.org/datatype3.html#type_affinity>). For a column
//!   without numeric affinity (or when `agent_runs` is not an ordinary
//!   table), `typeof(MAX(x))` says whether a TEXT or BLOB is there: they
//!   sort after every number.
//! - The cost is summed with `TOTAL()`, which adds numbers of either type,
//!   and `typeof(MAX(cost_usd))` says whether a TEXT or BLOB is there.
//!
//! - A `SUM` of NULL is a column of NULLs, or a NaN: SQLite returns NaN as
//!   NULL, and adding `+inf` and `-inf` gives one. A search for a non-NULL
//!   value tells which (it scans the rows only when the column is all NULL).
//!
//! When the plain aggregates prove the values clean, their answer *is* the
//! exact query's: the same values, in the same order, through the same
//! `TOTAL` and `SUM`, and no value skipped. Otherwise (a bad value, an
//! infinite cost, an overflow, any error but an interruption) the exact
//! query runs and its answer, or error, stands. A database without bad
//! values pays the plain scan plus one `MAX`.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use vitals_cost::CostTotals;

use crate::decode::Issues;
use crate::error::SqliteError;
use crate::queries::{Decoded, int_col};

const TOKEN_COLUMNS: [(&str, &str); 4] = [
    ("input_tokens", "agent_runs.input_tokens"),
    ("output_tokens", "agent_runs.output_tokens"),
    ("cache_read_tokens", "agent_runs.cache_read_tokens"),
    ("cache_creation_tokens", "agent_runs.cache_creation_tokens"),
];

/// The running sums behind [`CostTotals`], with the counts of skipped values:
/// what the totals query computes, in a form that can also be accumulated
/// row by row and combined (the incremental aggregates).
///
/// The cost is a compensated (Kahan-Babuska-Neumaier) sum, like SQLite's
/// `TOTAL()`; token sums are kept in `i128` and checked against `i64` only
/// when the answer is made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sums {
    pub(crate) runs: i64,
    cost: f64,
    cost_compensation: f64,
    bad_cost: i64,
    tokens: [i128; 4],
    bad_tokens: [i64; 4],
}

impl Sums {
    fn add_cost(&mut self, x: f64) {
        let t = self.cost + x;
        if self.cost.abs() >= x.abs() {
            self.cost_compensation += (self.cost - t) + x;
        } else {
            self.cost_compensation += (x - t) + self.cost;
        }
        self.cost = t;
    }

    /// Adds one row: its cost and its four token values, in the order of
    /// the token columns. Only numbers (cost) and integers (tokens) are
    /// summed; NULLs are skipped; other values are counted as bad.
    pub(crate) fn add_row(&mut self, cost: ValueRef<'_>, tokens: [ValueRef<'_>; 4]) {
        self.runs = self.runs.saturating_add(1);
        match cost {
            ValueRef::Real(f) => self.add_cost(f),
            // As SQLite's TOTAL() does: an integer cost is summed as a float.
            ValueRef::Integer(i) => self.add_cost(i as f64),
            ValueRef::Null => {}
            ValueRef::Text(_) | ValueRef::Blob(_) => {
                self.bad_cost = self.bad_cost.saturating_add(1)
            }
        }
        for (i, value) in tokens.into_iter().enumerate() {
            match value {
                ValueRef::Integer(n) => self.tokens[i] += i128::from(n),
                ValueRef::Null => {}
                _ => self.bad_tokens[i] = self.bad_tokens[i].saturating_add(1),
            }
        }
    }

    /// Whether every token sum lies strictly between `-limit` and `limit`.
    pub(crate) fn tokens_below(&self, limit: i128) -> bool {
        self.tokens.iter().all(|t| t.abs() < limit)
    }

    /// Whether the cost sum is a finite number.
    pub(crate) fn cost_is_finite(&self) -> bool {
        (self.cost + self.cost_compensation).is_finite()
    }

    /// Adds (`sign` 1) or subtracts (`sign` -1) other sums.
    pub(crate) fn combine(&mut self, other: &Sums, sign: i8) {
        let f = f64::from(sign);
        let n = i64::from(sign);
        self.runs = self.runs.saturating_add(n.saturating_mul(other.runs));
        self.add_cost(f * other.cost);
        self.add_cost(f * other.cost_compensation);
        self.bad_cost = self
            .bad_cost
            .saturating_add(n.saturating_mul(other.bad_cost));
        for i in 0..4 {
            self.tokens[i] += i128::from(sign) * other.tokens[i];
            self.bad_tokens[i] =
                self.bad_tokens[i].saturating_add(n.saturating_mul(other.bad_tokens[i]));
        }
    }

    /// The answer of the totals query: the totals and the skipped values as
    /// issues, or `overflow` when a sum does not fit the contract's types.
    pub(crate) fn decoded(&self) -> Result<Decoded<CostTotals>, SqliteError> {
        let cost_usd = self.cost + self.cost_compensation;
        if !cost_usd.is_finite() {
            return Err(SqliteError::Overflow {
                what: "the sum of agent_runs.cost_usd".to_owned(),
                source: None,
            });
        }
        let mut issues = Issues::default();
        let bad_cost = self.bad_cost;
        issues.note_many(
            "agent_runs.cost_usd",
            "bad_value",
            u64::try_from(bad_cost).unwrap_or(0),
            format!("{bad_cost} runs have a non-numeric cost_usd; skipped"),
        );
        let mut sums = [0_i64; 4];
        for (i, (column, qualified)) in TOKEN_COLUMNS.iter().enumerate() {
            sums[i] = i64::try_from(self.tokens[i]).map_err(|_| SqliteError::Overflow {
                what: format!("the sum of {qualified}"),
                source: None,
            })?;
            let bad = self.bad_tokens[i];
            issues.note_many(
                qualified,
                "bad_value",
                u64::try_from(bad).unwrap_or(0),
                format!("{bad} runs have a non-integer {column}; skipped"),
            );
        }
        let totals = CostTotals {
            runs: self.runs,
            cost_usd,
            input_tokens: sums[0],
            output_tokens: sums[1],
            cache_read_tokens: sums[2],
            cache_creation_tokens: sums[3],
        };
        Ok(Decoded {
            rows: totals,
            issues,
        })
    }
}

/// Totals over all `agent_runs`: `COUNT(*)`, `TOTAL(cost_usd)` (a REAL that
/// cannot overflow to an error) and `SUM` of each token column, zeros on an
/// empty table. Only numbers (cost) and integers (tokens) take part; other
/// values are skipped and reported. A token sum beyond `i64` makes SQLite
/// fail with `integer overflow`: the totals are then an `overflow` error
/// rather than a wrong number.
pub(crate) fn totals(conn: &Connection, path: &Path) -> Result<Decoded<CostTotals>, SqliteError> {
    totals_sums(conn, path, None)?.0.decoded()
}

/// The totals query as [`Sums`], with one `extra` integer (or NULL)
/// expression computed in the same scan: the plain aggregates when they
/// prove the values clean ([`cheap_totals`]), else the exact query.
pub(crate) fn totals_sums(
    conn: &Connection,
    path: &Path,
    extra: Option<&str>,
) -> Result<(Sums, Option<i64>), SqliteError> {
    match cheap_totals(conn, path, extra, Rows::All)? {
        Cheap::Proven(sums, found) => Ok((sums, found)),
        Cheap::NotProven => exact_totals(conn, path, extra),
    }
}

/// Which rows of `agent_runs` a totals query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Every row.
    All,
    /// The rows whose rowid lies between the two bounds, both included.
    Between(i64, i64),
}

/// What [`cheap_totals`] found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cheap {
    /// No bad value: the sums (no value skipped) and the `extra` value,
    /// exactly as the exact query gives them.
    Proven(Sums, Option<i64>),
    /// A bad value, an infinite cost, an overflow or an error: only the
    /// exact query can answer.
    NotProven,
}

/// Whether a column's declared type gives it numeric affinity (INTEGER,
/// REAL or NUMERIC), by SQLite's rules: in a STRICT table only `INT`,
/// `INTEGER` and `REAL` do (`ANY` stores values as they come); otherwise a
/// type containing `INT` does, then one containing `CHAR`, `CLOB`, `TEXT`
/// or `BLOB` does not, nor does an empty one, and any other does.
fn numeric_affinity(declared: &str, strict: bool) -> bool {
    let t = declared.trim().to_ascii_uppercase();
    if strict {
        return matches!(t.as_str(), "INT" | "INTEGER" | "REAL");
    }
    if t.contains("INT") {
        return true;
    }
    !(t.is_empty()
        || ["CHAR", "CLOB", "TEXT", "BLOB"]
            .iter()
            .any(|s| t.contains(s)))
}

/// For each token column, whether `agent_runs` is an ordinary table in
/// which that column has numeric affinity (so that a text there never
/// looks like a number). All false when that cannot be read.
pub(crate) fn token_affinities(conn: &Connection) -> [bool; 4] {
    let mut out = [false; 4];
    let table: Option<(String, bool)> = conn
        .prepare_cached(
            "SELECT type, strict FROM pragma_table_list \
             WHERE schema = 'main' AND name = 'agent_runs'",
        )
        .and_then(|mut stmt| stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
        .ok();
    let Some((kind, strict)) = table else {
        return out;
    };
    if kind != "table" {
        return out;
    }
    let Ok(mut stmt) =
        conn.prepare_cached("SELECT name, type FROM pragma_table_xinfo('agent_runs')")
    else {
        return out;
    };
    let Ok(columns) = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
    }) else {
        return out;
    };
    for (name, declared) in columns.flatten() {
        if let Some(i) = TOKEN_COLUMNS
            .iter()
            .position(|(column, _)| column.eq_ignore_ascii_case(&name))
            && let Some(slot) = out.get_mut(i)
        {
            *slot = numeric_affinity(declared.as_deref().unwrap_or(""), strict);
        }
    }
    out
}

/// Whether a `typeof(MAX(x))` says a TEXT or BLOB is among the values.
fn text_or_blob(value: ValueRef<'_>) -> bool {
    !matches!(value, ValueRef::Text(b"integer" | b"real" | b"null"))
}

/// The totals of `rows` by the plain aggregates, when their result types
/// prove that no value is bad (see the module documentation); `extra` is
/// computed in the same scan. An interruption is an error; any other error
/// is [`Cheap::NotProven`] (the exact query then gives its own).
pub(crate) fn cheap_totals(
    conn: &Connection,
    path: &Path,
    extra: Option<&str>,
    rows: Rows,
) -> Result<Cheap, SqliteError> {
    cheap_totals_with(conn, path, extra, rows, token_affinities(conn))
}

/// [`cheap_totals`], with the token columns' affinities already read
/// ([`token_affinities`], once for many ranges).
pub(crate) fn cheap_totals_with(
    conn: &Connection,
    path: &Path,
    extra: Option<&str>,
    rows: Rows,
    numeric: [bool; 4],
) -> Result<Cheap, SqliteError> {
    let mut select = vec![
        "COUNT(*)".to_owned(),
        "TOTAL(cost_usd)".to_owned(),
        "typeof(MAX(cost_usd))".to_owned(),
    ];
    for (column, _) in TOKEN_COLUMNS {
        select.push(format!("SUM({column})"));
    }
    let checked: Vec<usize> = (0..TOKEN_COLUMNS.len())
        .filter(|&i| !numeric.get(i).copied().unwrap_or(false))
        .collect();
    for &i in &checked {
        if let Some((column, _)) = TOKEN_COLUMNS.get(i) {
            select.push(format!("typeof(MAX({column}))"));
        }
    }
    select.push(extra.unwrap_or("NULL").to_owned());
    let (range, bounds) = match rows {
        Rows::All => ("", None),
        Rows::Between(low, high) => (" WHERE rowid BETWEEN ?1 AND ?2", Some([low, high])),
    };
    let sql = format!("SELECT {} FROM agent_runs{range}", select.join(", "));
    let run = || -> rusqlite::Result<Option<(Sums, Option<i64>)>> {
        let (sums, extra, null_sums) = {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut found = match bounds {
                Some(bounds) => stmt.query(bounds)?,
                None => stmt.query([])?,
            };
            let Some(row) = found.next()? else {
                return Ok(None);
            };
            let ValueRef::Integer(runs) = row.get_ref(0)? else {
                return Ok(None);
            };
            let cost = match row.get_ref(1)? {
                ValueRef::Real(f) if f.is_finite() => f,
                _ => return Ok(None),
            };
            if text_or_blob(row.get_ref(2)?) {
                return Ok(None);
            }
            let mut tokens = [0_i128; 4];
            let mut null_sums = Vec::new();
            for (i, sum) in tokens.iter_mut().enumerate() {
                *sum = match row.get_ref(3 + i)? {
                    ValueRef::Integer(n) => i128::from(n),
                    ValueRef::Null => {
                        null_sums.push(i);
                        0
                    }
                    _ => return Ok(None),
                };
            }
            for at in 0..checked.len() {
                if text_or_blob(row.get_ref(3 + TOKEN_COLUMNS.len() + at)?) {
                    return Ok(None);
                }
            }
            let extra = match row.get_ref(3 + TOKEN_COLUMNS.len() + checked.len())? {
                ValueRef::Integer(i) => Some(i),
                _ => None,
            };
            let sums = Sums {
                runs,
                cost,
                cost_compensation: 0.0,
                bad_cost: 0,
                tokens,
                bad_tokens: [0; 4],
            };
            (sums, extra, null_sums)
        };
        // A NULL sum is a column of NULLs, or a NaN (SQLite returns NaN as
        // NULL: +inf and -inf were added, which are bad values). Which one,
        // a search for a value tells (it scans the rows only for a column
        // of NULLs).
        if sums.runs > 0 {
            for i in null_sums {
                let Some((column, _)) = TOKEN_COLUMNS.get(i) else {
                    return Ok(None);
                };
                let sql = format!(
                    "SELECT EXISTS (SELECT 1 FROM agent_runs WHERE {column} IS NOT NULL{})",
                    if bounds.is_some() {
                        " AND rowid BETWEEN ?1 AND ?2"
                    } else {
                        ""
                    }
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let any: bool = match bounds {
                    Some(bounds) => stmt.query_row(bounds, |row| row.get(0))?,
                    None => stmt.query_row([], |row| row.get(0))?,
                };
                if any {
                    return Ok(None);
                }
            }
        }
        Ok(Some((sums, extra)))
    };
    match run() {
        Ok(Some((sums, extra))) => Ok(Cheap::Proven(sums, extra)),
        Ok(None) => Ok(Cheap::NotProven),
        Err(error) => match SqliteError::from_sqlite(error, path) {
            error @ SqliteError::Interrupted { .. } => Err(error),
            _ => Ok(Cheap::NotProven),
        },
    }
}

/// The exact totals query: the type of every value checked in SQL, bad
/// values skipped and counted. Its answer (or error) is the reference the
/// cheap query must equal.
pub(crate) fn exact_totals(
    conn: &Connection,
    path: &Path,
    extra: Option<&str>,
) -> Result<(Sums, Option<i64>), SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let mut select = vec![
        "COUNT(*)".to_owned(),
        "TOTAL(CASE WHEN typeof(cost_usd) IN ('real', 'integer') THEN cost_usd END)".to_owned(),
        "COALESCE(SUM(CASE WHEN typeof(cost_usd) IN ('real', 'integer', 'null') THEN 0 ELSE 1 END), 0)"
            .to_owned(),
    ];
    for (column, _) in TOKEN_COLUMNS {
        select.push(format!(
            "COALESCE(SUM(CASE WHEN typeof({column}) = 'integer' THEN {column} END), 0)"
        ));
        select.push(format!(
            "COALESCE(SUM(CASE WHEN typeof({column}) IN ('integer', 'null') THEN 0 ELSE 1 END), 0)"
        ));
    }
    select.push(extra.unwrap_or("NULL").to_owned());
    let sql = format!("SELECT {} FROM agent_runs", select.join(", "));
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let row = rows
        .next()
        .map_err(sqlite)?
        .ok_or_else(|| SqliteError::BadValue {
            what: "the totals query returned no row".to_owned(),
        })?;
    let get = |i| row.get_ref(i).map_err(sqlite);
    let cost = match get(1)? {
        ValueRef::Real(f) if f.is_finite() => f,
        ValueRef::Real(_) => {
            return Err(SqliteError::Overflow {
                what: "the sum of agent_runs.cost_usd".to_owned(),
                source: None,
            });
        }
        other => {
            return Err(SqliteError::BadValue {
                what: format!("the sum of agent_runs.cost_usd is {other:?}"),
            });
        }
    };
    let mut sums = Sums {
        runs: int_col(get(0)?, "the count of runs")?,
        cost,
        cost_compensation: 0.0,
        bad_cost: int_col(get(2)?, "a count")?,
        tokens: [0; 4],
        bad_tokens: [0; 4],
    };
    for (i, (_, qualified)) in TOKEN_COLUMNS.iter().enumerate() {
        sums.tokens[i] = i128::from(int_col(get(3 + 2 * i)?, qualified)?);
        sums.bad_tokens[i] = int_col(get(4 + 2 * i)?, "a count")?;
    }
    let extra = match get(3 + 2 * TOKEN_COLUMNS.len())? {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    };
    Ok((sums, extra))
}
