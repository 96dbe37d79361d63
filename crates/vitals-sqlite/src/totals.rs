//! The cost and token totals over `agent_runs` (`cost.aggregate`): the sums
//! they are made of, and the two queries that compute them.
//!
//! Any column may hold any type, and the totals must tell a bad value (a
//! text cost, a real or text token count) from a good one: bad values are
//! skipped and counted, exactly. Checking the type of every value in SQL
//! ([`exact_totals`], `typeof` in a `CASE` per column) costs about four
//! times the plain scan. So [`totals_sums`] first runs [`cheap_totals`]:
//! one scan with `TOTAL(cost_usd)` and one aggregate of this crate,
//! `vitals_checked_sums` ([`register`] adds it to every connection the
//! store opens), which sees the type of each value as SQLite stores it and,
//! with one call per row, counts the rows, counts the bad costs and bad
//! tokens, and sums each token column's integers in scan order with
//! SQLite's own overflow rule (`SUM` fails once its running sum leaves the
//! 64-bit range; <https://sqlite.org/lang_aggfunc.html#sumunc>). One
//! function call per row instead of one built-in aggregate per column and
//! a `typeof(MAX(..))` per checked column is what makes it cheaper than
//! even the plain `SUM`s of the reference schema (docs/performance.md).
//!
//! When it finds no bad value and no overflow, its answer *is* the exact
//! query's: the same rows, the same integers added in the same order, and
//! the costs through SQLite's own `TOTAL` (which, with no text or blob
//! among them, adds exactly the values the exact query's `CASE` keeps).
//! Otherwise (a bad value, an infinite cost, an overflow, any error but an
//! interruption) the exact query runs and its answer, or error, stands.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
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
/// expression computed in the same scan: the cheap query when it finds the
/// values clean ([`cheap_totals`]), else the exact query.
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

/// The SQL name of the aggregate [`register`] adds to a connection.
const CHECKED_SUMS: &str = "vitals_checked_sums";

/// What [`CheckedSums`] computes over the rows it is given: the row count,
/// the bad costs (a TEXT or BLOB), and for each token column the sum of its
/// INTEGER values in scan order (`None` once that running sum has left the
/// 64-bit range, where SQLite's `SUM` fails) and its bad values (anything
/// but an INTEGER or a NULL): what the exact query checks with a `CASE` per
/// value, computed with one function call per row instead of one
/// aggregate per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checked {
    runs: i64,
    bad_cost: i64,
    tokens: [Option<i64>; 4],
    bad_tokens: [i64; 4],
}

impl Checked {
    /// No row yet: every sum zero.
    const EMPTY: Checked = Checked {
        runs: 0,
        bad_cost: 0,
        tokens: [Some(0); 4],
        bad_tokens: [0; 4],
    };
}

/// Its bytes, as the aggregate returns them: 14 little-endian `i64`s (the
/// runs, the bad costs, each token sum with a flag for an overflow, the
/// bad tokens).
const CHECKED_BYTES: usize = 14 * 8;

impl Checked {
    fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHECKED_BYTES);
        out.extend_from_slice(&self.runs.to_le_bytes());
        out.extend_from_slice(&self.bad_cost.to_le_bytes());
        for sum in self.tokens {
            out.extend_from_slice(&sum.unwrap_or(0).to_le_bytes());
            out.extend_from_slice(&i64::from(sum.is_none()).to_le_bytes());
        }
        for bad in self.bad_tokens {
            out.extend_from_slice(&bad.to_le_bytes());
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Checked> {
        if bytes.len() != CHECKED_BYTES {
            return None;
        }
        let mut words = bytes
            .chunks_exact(8)
            .map(|chunk| <[u8; 8]>::try_from(chunk).ok().map(i64::from_le_bytes));
        let mut next = || words.next().flatten();
        let mut checked = Checked {
            runs: next()?,
            bad_cost: next()?,
            ..Checked::EMPTY
        };
        for sum in &mut checked.tokens {
            let (value, overflowed) = (next()?, next()?);
            *sum = (overflowed == 0).then_some(value);
        }
        for bad in &mut checked.bad_tokens {
            *bad = next()?;
        }
        Some(checked)
    }
}

/// The aggregate behind [`CHECKED_SUMS`]: `vitals_checked_sums(cost_usd,
/// input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)`.
struct CheckedSums;

impl Aggregate<Checked, Vec<u8>> for CheckedSums {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Checked> {
        Ok(Checked::EMPTY)
    }

    fn step(&self, ctx: &mut Context<'_>, checked: &mut Checked) -> rusqlite::Result<()> {
        // SQLite calls it with the five arguments it was registered with.
        if ctx.len() != 5 {
            return Err(rusqlite::Error::InvalidParameterCount(ctx.len(), 5));
        }
        checked.runs = checked.runs.saturating_add(1);
        if matches!(ctx.get_raw(0), ValueRef::Text(_) | ValueRef::Blob(_)) {
            checked.bad_cost = checked.bad_cost.saturating_add(1);
        }
        for (i, (sum, bad)) in checked
            .tokens
            .iter_mut()
            .zip(checked.bad_tokens.iter_mut())
            .enumerate()
        {
            match ctx.get_raw(i + 1) {
                ValueRef::Integer(n) => *sum = sum.and_then(|s| s.checked_add(n)),
                ValueRef::Null => {}
                _ => *bad = bad.saturating_add(1),
            }
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, checked: Option<Checked>) -> rusqlite::Result<Vec<u8>> {
        // No row: SQLite never called `init`.
        Ok(checked.unwrap_or(Checked::EMPTY).to_bytes())
    }
}

/// Adds the aggregate the cheap totals query calls to `conn` (every
/// connection the store opens has it). Pure and read-only: it only looks at
/// the values it is given.
///
/// # Errors
///
/// SQLite's, when the function cannot be created.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_aggregate_function(
        CHECKED_SUMS,
        5,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        CheckedSums,
    )
}

/// The totals of `rows` in one scan, when no value is bad and no token sum
/// overflows (see the module documentation); `extra` is computed in the
/// same scan. An interruption is an error; any other error (the aggregate
/// missing on a connection the store did not open, say) is
/// [`Cheap::NotProven`] (the exact query then gives its own).
pub(crate) fn cheap_totals(
    conn: &Connection,
    path: &Path,
    extra: Option<&str>,
    rows: Rows,
) -> Result<Cheap, SqliteError> {
    let columns = std::iter::once("cost_usd")
        .chain(TOKEN_COLUMNS.iter().map(|(column, _)| *column))
        .collect::<Vec<_>>()
        .join(", ");
    let (range, bounds) = match rows {
        Rows::All => ("", None),
        Rows::Between(low, high) => (" WHERE rowid BETWEEN ?1 AND ?2", Some([low, high])),
    };
    let sql = format!(
        "SELECT {CHECKED_SUMS}({columns}), TOTAL(cost_usd), {} FROM agent_runs{range}",
        extra.unwrap_or("NULL")
    );
    let run = || -> rusqlite::Result<Option<(Sums, Option<i64>)>> {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut found = match bounds {
            Some(bounds) => stmt.query(bounds)?,
            None => stmt.query([])?,
        };
        let Some(row) = found.next()? else {
            return Ok(None);
        };
        let ValueRef::Blob(bytes) = row.get_ref(0)? else {
            return Ok(None);
        };
        let Some(checked) = Checked::from_bytes(bytes) else {
            return Ok(None);
        };
        // `TOTAL` stands for the exact query's only when every cost it
        // added is a number (it reads a text as one).
        let cost = match row.get_ref(1)? {
            ValueRef::Real(f) if f.is_finite() && checked.bad_cost == 0 => f,
            _ => return Ok(None),
        };
        if checked.bad_tokens.iter().any(|&bad| bad != 0) {
            return Ok(None);
        }
        let mut tokens = [0_i128; 4];
        for (slot, sum) in tokens.iter_mut().zip(checked.tokens) {
            let Some(sum) = sum else {
                return Ok(None);
            };
            *slot = i128::from(sum);
        }
        let extra = match row.get_ref(2)? {
            ValueRef::Integer(i) => Some(i),
            _ => None,
        };
        let sums = Sums {
            runs: checked.runs,
            cost,
            cost_compensation: 0.0,
            bad_cost: 0,
            tokens,
            bad_tokens: [0; 4],
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_sums_go_through_their_bytes_unchanged() {
        let checked = Checked {
            runs: 7,
            bad_cost: 1,
            tokens: [Some(i64::MAX), None, Some(-3), Some(0)],
            bad_tokens: [0, 2, 0, i64::MAX],
        };
        assert_eq!(Checked::from_bytes(&checked.to_bytes()), Some(checked));
        assert_eq!(Checked::from_bytes(&checked.to_bytes()[1..]), None);
        assert_eq!(Checked::from_bytes(&[]), None);
    }
}
