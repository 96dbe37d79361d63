//! Reading values with explicit type handling, and the record of bad ones.
//!
//! SQLite lets any column hold any type. Every value is read as a
//! [`ValueRef`] and decoded by hand: a value of the wrong type becomes
//! `None` for that field of that row, and the problem is noted in [`Issues`]
//! so that the section reading the field reports it as degraded.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::ValueRef;
use vitals_core::Collect;

/// One kind of problem with one column, over all rows of one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    /// The column, as `table.column`.
    pub(crate) column: &'static str,
    /// `bad_value`, `overflow` or `missing_column`.
    pub(crate) kind: &'static str,
    /// How many rows had it.
    pub(crate) count: u64,
    /// The first occurrence, described.
    pub(crate) first: String,
}

/// The problems met while decoding the rows of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Issues(Vec<Issue>);

impl Issues {
    /// Notes one problem with `column` (merged with earlier ones of the same column and kind).
    pub(crate) fn note(
        &mut self,
        column: &'static str,
        kind: &'static str,
        what: impl FnOnce() -> String,
    ) {
        if let Some(issue) = self
            .0
            .iter_mut()
            .find(|i| i.column == column && i.kind == kind)
        {
            issue.count += 1;
        } else {
            self.0.push(Issue {
                column,
                kind,
                count: 1,
                first: what(),
            });
        }
    }

    /// Notes `count` rows at once (from an SQL count).
    pub(crate) fn note_many(
        &mut self,
        column: &'static str,
        kind: &'static str,
        count: u64,
        what: String,
    ) {
        if count > 0 {
            self.0.push(Issue {
                column,
                kind,
                count,
                first: what,
            });
        }
    }

    /// Whether nothing was noted.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The issues noted.
    #[cfg(test)]
    pub(crate) fn list(&self) -> &[Issue] {
        &self.0
    }

    /// Records each issue whose column `fields` maps to a field name, as a
    /// degraded field of the section collecting with `cx`.
    pub(crate) fn record(&self, cx: &Collect, fields: &[(&str, &str)]) {
        self.record_under(cx, None, fields);
    }

    /// Like [`record`](Self::record), for fields of the entries of the
    /// section's array field `parent` (recorded as `parent.field`).
    pub(crate) fn record_in(&self, cx: &Collect, parent: &str, fields: &[(&str, &str)]) {
        self.record_under(cx, Some(parent), fields);
    }

    fn record_under(&self, cx: &Collect, parent: Option<&str>, fields: &[(&str, &str)]) {
        for issue in &self.0 {
            let Some((_, field)) = fields.iter().find(|(column, _)| *column == issue.column) else {
                continue;
            };
            let message = if issue.count > 1 {
                format!("{} (and {} more rows)", issue.first, issue.count - 1)
            } else {
                issue.first.clone()
            };
            match parent {
                Some(parent) => {
                    cx.record_field_failure(&format!("{parent}.{field}"), issue.kind, &message);
                }
                None => cx.record_field_failure(field, issue.kind, &message),
            }
        }
    }

    /// Records every issue under one field name.
    pub(crate) fn record_all(&self, cx: &Collect, field: &str) {
        for issue in &self.0 {
            let message = if issue.count > 1 {
                format!("{} (in {} rows)", issue.first, issue.count)
            } else {
                issue.first.clone()
            };
            cx.record_field_failure(field, issue.kind, &message);
        }
    }
}

/// Where a value comes from, for messages: `table.column` and the row's key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) column: &'static str,
    pub(crate) row: &'a str,
}

fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "null".to_owned(),
        ValueRef::Integer(i) => format!("integer {i}"),
        ValueRef::Real(f) => format!("real {f}"),
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            let short: String = text.chars().take(40).collect();
            format!("text {short:?}")
        }
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

/// An INTEGER column: only the INTEGER storage class is accepted (SQLite's
/// affinity already turned integer-looking text into integers, so anything
/// else is not an integer). NULL is `None` silently unless `not_null`.
pub(crate) fn int(
    value: ValueRef<'_>,
    at: At<'_>,
    not_null: bool,
    issues: &mut Issues,
) -> Option<i64> {
    match value {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Null => {
            if not_null {
                null_in_not_null(at, issues);
            }
            None
        }
        ValueRef::Real(f) if f.is_finite() && f.fract() == 0.0 && !fits_i64(f) => {
            issues.note(at.column, "overflow", || {
                format!(
                    "{} of {} is {}, beyond the 64-bit integer range",
                    at.column,
                    at.row,
                    describe(value)
                )
            });
            None
        }
        other => {
            issues.note(at.column, "bad_value", || {
                format!(
                    "{} of {} is {}, not an integer",
                    at.column,
                    at.row,
                    describe(other)
                )
            });
            None
        }
    }
}

/// Whether an integral float lies within `i64`.
pub(crate) fn fits_i64(f: f64) -> bool {
    // 2^63 is exactly representable; i64::MAX is not.
    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
}

/// A REAL column (INTEGER values are accepted and widened). Infinities do
/// not serialize as JSON numbers: they are reported as an overflow.
pub(crate) fn real(value: ValueRef<'_>, at: At<'_>, issues: &mut Issues) -> Option<f64> {
    match value {
        ValueRef::Null => None,
        #[expect(
            clippy::cast_precision_loss,
            reason = "a cost in dollars; f64 is the contract's type"
        )]
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) if f.is_finite() => Some(f),
        ValueRef::Real(_) => {
            issues.note(at.column, "overflow", || {
                format!(
                    "{} of {} is {}, not a finite number",
                    at.column,
                    at.row,
                    describe(value)
                )
            });
            None
        }
        other => {
            issues.note(at.column, "bad_value", || {
                format!(
                    "{} of {} is {}, not a number",
                    at.column,
                    at.row,
                    describe(other)
                )
            });
            None
        }
    }
}

/// A TEXT column. Numbers are rendered as text (a column without affinity
/// may hold them); invalid UTF-8 is decoded lossily (U+FFFD) and reported;
/// a blob is reported and dropped.
pub(crate) fn text(
    value: ValueRef<'_>,
    at: At<'_>,
    not_null: bool,
    issues: &mut Issues,
) -> Option<String> {
    match value {
        ValueRef::Null => {
            if not_null {
                null_in_not_null(at, issues);
            }
            None
        }
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(bytes) => match String::from_utf8_lossy(bytes) {
            Cow::Borrowed(s) => Some(s.to_owned()),
            Cow::Owned(s) => {
                issues.note(at.column, "bad_value", || {
                    format!(
                        "{} of {} is not valid utf-8 (invalid bytes replaced)",
                        at.column, at.row
                    )
                });
                Some(s)
            }
        },
        ValueRef::Blob(_) => {
            issues.note(at.column, "bad_value", || {
                format!(
                    "{} of {} is {}, not text",
                    at.column,
                    at.row,
                    describe(value)
                )
            });
            None
        }
    }
}

/// A timestamp column: text as [`parse_timestamp`] reads it.
pub(crate) fn timestamp(
    value: ValueRef<'_>,
    at: At<'_>,
    not_null: bool,
    issues: &mut Issues,
) -> Option<DateTime<Utc>> {
    match value {
        ValueRef::Null => {
            if not_null {
                null_in_not_null(at, issues);
            }
            None
        }
        ValueRef::Text(bytes) => {
            let parsed = std::str::from_utf8(bytes).ok().and_then(parse_timestamp);
            if parsed.is_none() {
                issues.note(at.column, "bad_value", || {
                    format!(
                        "{} of {} is {}, not a timestamp",
                        at.column,
                        at.row,
                        describe(value)
                    )
                });
            }
            parsed
        }
        other => {
            issues.note(at.column, "bad_value", || {
                format!(
                    "{} of {} is {}, not a timestamp",
                    at.column,
                    at.row,
                    describe(other)
                )
            });
            None
        }
    }
}

fn null_in_not_null(at: At<'_>, issues: &mut Issues) {
    issues.note(at.column, "bad_value", || {
        format!(
            "{} of {} is null (not null in the schema)",
            at.column, at.row
        )
    });
}

/// Parses SQLite's `datetime('now')` text, `YYYY-MM-DD HH:MM:SS`, as UTC.
/// Also accepted: a `T` separator, fractional seconds, and a trailing `Z`.
#[must_use]
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .unwrap_or(text);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn check(input: &str, expected: Option<(u32, u32, u32, u32)>) {
        let got = parse_timestamp(input);
        let want = expected
            .map(|(d, h, m, s)| Utc.with_ymd_and_hms(2026, 11, d, h, m, s).single().unwrap());
        match (got, want) {
            (Some(g), Some(w)) => assert_eq!(g.timestamp(), w.timestamp(), "{input}"),
            (g, w) => assert_eq!(g.is_some(), w.is_some(), "{input}: {g:?}"),
        }
    }

    #[test]
    fn timestamps() {
        check("2026-11-28 02:40:13", Some((28, 2, 40, 13)));
        check("2026-11-28T02:40:13", Some((28, 2, 40, 13)));
        check("2026-11-28T02:40:13Z", Some((28, 2, 40, 13)));
        check("2026-11-28 02:40:13.250", Some((28, 2, 40, 13)));
        check("2026-11-28T02:40:13.5Z", Some((28, 2, 40, 13)));
        check(" 2026-11-28 02:40:13 ", Some((28, 2, 40, 13)));
        check("2026-11-28", None);
        check("yesterday", None);
        check("2026-13-28 02:40:13", None);
        check("", None);
        assert_eq!(
            parse_timestamp("2026-11-28 02:40:13.250").map(|t| t.timestamp_subsec_millis()),
            Some(250)
        );
    }

    #[test]
    fn integers_accept_only_integers() {
        let at = At {
            column: "jobs.pid",
            row: "job 1",
        };
        let mut issues = Issues::default();
        assert_eq!(int(ValueRef::Integer(7), at, true, &mut issues), Some(7));
        assert_eq!(int(ValueRef::Null, at, false, &mut issues), None);
        assert!(issues.is_empty());
        assert_eq!(int(ValueRef::Text(b"abc"), at, false, &mut issues), None);
        assert_eq!(int(ValueRef::Text(b"def"), at, false, &mut issues), None);
        assert_eq!(int(ValueRef::Real(1e30), at, false, &mut issues), None);
        assert_eq!(int(ValueRef::Real(2.5), at, false, &mut issues), None);
        assert_eq!(int(ValueRef::Null, at, true, &mut issues), None);
        let kinds: Vec<_> = issues.list().iter().map(|i| (i.kind, i.count)).collect();
        assert_eq!(kinds, [("bad_value", 4), ("overflow", 1)]);
        assert!(issues.list()[0].first.contains("text \"abc\""));
    }

    #[test]
    fn text_is_lossy_on_invalid_utf8() {
        let at = At {
            column: "jobs.agent",
            row: "job 1",
        };
        let mut issues = Issues::default();
        assert_eq!(
            text(ValueRef::Text(b"ok"), at, true, &mut issues).as_deref(),
            Some("ok")
        );
        assert_eq!(
            text(ValueRef::Integer(42), at, true, &mut issues).as_deref(),
            Some("42")
        );
        assert!(issues.is_empty());
        assert_eq!(
            text(ValueRef::Text(b"a\xffb"), at, true, &mut issues).as_deref(),
            Some("a\u{fffd}b")
        );
        assert_eq!(text(ValueRef::Blob(b"x"), at, true, &mut issues), None);
        assert_eq!(issues.list()[0].count, 2);
    }

    #[test]
    fn reals_reject_infinity_and_text() {
        let at = At {
            column: "agent_runs.cost_usd",
            row: "run 1",
        };
        let mut issues = Issues::default();
        assert_eq!(real(ValueRef::Real(1e30), at, &mut issues), Some(1e30));
        assert_eq!(real(ValueRef::Integer(2), at, &mut issues), Some(2.0));
        assert_eq!(real(ValueRef::Real(f64::INFINITY), at, &mut issues), None);
        assert_eq!(real(ValueRef::Text(b"x"), at, &mut issues), None);
        let kinds: Vec<_> = issues.list().iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["overflow", "bad_value"]);
    }
}
