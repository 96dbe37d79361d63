//! The cheap totals query against the exact one: whenever the cheap query
//! says the values are clean, its answer is the exact query's, bit for bit;
//! on every kind of bad value it steps aside.

use proptest::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::{SCHEMA, db_with, lax_schema};
use crate::error::SqliteError;
use crate::totals::{Cheap, Rows, Sums, cheap_totals, exact_totals, totals_sums};

/// The first-unfinished expression the incremental cold pass adds.
const EXTRA: &str = "MIN(rowid) FILTER (WHERE finished_at IS NULL)";

/// `agent_runs` as the reference schema has it, as an untyped table (no
/// affinity: text stays text), and as a STRICT table whose token columns
/// are `ANY`.
fn schemas() -> [String; 3] {
    let untyped = "CREATE TABLE agent_runs (id INTEGER PRIMARY KEY, job_id, agent, started_at, \
                   finished_at, cost_usd, input_tokens, output_tokens, cache_read_tokens, \
                   cache_creation_tokens);";
    let strict = "CREATE TABLE agent_runs (id INTEGER PRIMARY KEY, job_id INTEGER, agent TEXT, \
                  started_at TEXT, finished_at TEXT, cost_usd REAL, input_tokens ANY, \
                  output_tokens INTEGER, cache_read_tokens ANY, cache_creation_tokens ANY) STRICT;";
    [lax_schema(), untyped.to_owned(), strict.to_owned()]
}

fn t(text: &str) -> SqlValue {
    SqlValue::Text(text.to_owned())
}

fn insert(writer: &Connection, rows: &[[SqlValue; 5]]) -> rusqlite::Result<()> {
    let mut stmt = writer.prepare(
        "INSERT INTO agent_runs (job_id, agent, finished_at, cost_usd, input_tokens, \
         output_tokens, cache_read_tokens, cache_creation_tokens) \
         VALUES (1, 'a', CASE WHEN ?1 IS NULL THEN NULL ELSE 'f' END, ?1, ?2, ?3, ?4, ?5)",
    )?;
    for row in rows {
        stmt.execute(rusqlite::params_from_iter(row.iter()))?;
    }
    Ok(())
}

/// What a totals query answered, comparable bit for bit (`Debug` tells
/// `-0.0` from `0.0`) and errors by kind and message.
fn shown(out: &Result<(Sums, Option<i64>), SqliteError>) -> String {
    match out {
        Ok((sums, extra)) => format!("{sums:?} {extra:?}"),
        Err(error) => format!("error {}: {error}", vitals_core::SourceError::kind(error)),
    }
}

/// The cheap query's answer, when it has one, is the exact query's; and
/// the answer of [`totals_sums`] is always the exact query's.
fn check_against_exact(writer: &Connection, path: &std::path::Path) -> Option<bool> {
    let exact = exact_totals(writer, path, Some(EXTRA));
    let combined = totals_sums(writer, path, Some(EXTRA));
    assert_eq!(shown(&combined), shown(&exact));
    match cheap_totals(writer, path, Some(EXTRA), Rows::All).unwrap() {
        Cheap::Proven(sums, extra) => {
            assert_eq!(shown(&Ok((sums, extra))), shown(&exact));
            Some(true)
        }
        Cheap::NotProven => Some(false),
    }
}

fn proven(writer: &Connection, path: &std::path::Path) -> bool {
    check_against_exact(writer, path).unwrap_or(false)
}

#[test]
fn clean_values_are_proven_by_the_cheap_query() {
    for schema in [SCHEMA.to_owned(), lax_schema()] {
        let (_dir, path, writer) = db_with(&schema);
        assert!(proven(&writer, &path), "an empty table");
        insert(
            &writer,
            &[
                [0.5.into(), 1.into(), 2.into(), 3.into(), 4.into()],
                [
                    SqlValue::Null,
                    SqlValue::Null,
                    SqlValue::Null,
                    SqlValue::Null,
                    SqlValue::Null,
                ],
                [2.into(), 10.into(), SqlValue::Null, 0.into(), (-4).into()],
            ],
        )
        .unwrap();
        assert!(proven(&writer, &path), "{schema}");
    }
}

/// A connection the store did not open lacks the cheap query's aggregate:
/// the cheap query steps aside, and the answer is the exact query's.
#[test]
fn without_the_aggregate_the_exact_query_answers() {
    let (_dir, path, writer) = db_with(SCHEMA);
    insert(
        &writer,
        &[[0.5.into(), 1.into(), 2.into(), 3.into(), 4.into()]],
    )
    .unwrap();
    let plain = Connection::open(&path).unwrap();
    assert_eq!(
        cheap_totals(&plain, &path, None, Rows::All).unwrap(),
        Cheap::NotProven
    );
    assert_eq!(
        shown(&totals_sums(&plain, &path, None)),
        shown(&exact_totals(&writer, &path, None))
    );
}

#[test]
fn every_kind_of_bad_value_needs_the_exact_query() {
    let bad: Vec<(&str, [SqlValue; 5])> = vec![
        (
            "text cost",
            [t("x"), 1.into(), 1.into(), 1.into(), 1.into()],
        ),
        (
            "blob cost",
            [vec![1_u8].into(), 1.into(), 1.into(), 1.into(), 1.into()],
        ),
        (
            "real token",
            [1.0.into(), 1.5.into(), 1.into(), 1.into(), 1.into()],
        ),
        (
            "huge real token",
            [1.0.into(), 1e30.into(), 1.into(), 1.into(), 1.into()],
        ),
        (
            "text token",
            [1.0.into(), t("many"), 1.into(), 1.into(), 1.into()],
        ),
        (
            "blob token",
            [1.0.into(), 1.into(), 1.into(), 1.into(), vec![7_u8].into()],
        ),
        (
            "infinite cost",
            [f64::INFINITY.into(), 1.into(), 1.into(), 1.into(), 1.into()],
        ),
    ];
    for schema in schemas() {
        for (what, row) in &bad {
            let (_dir, path, writer) = db_with(&schema);
            insert(
                &writer,
                &[[0.5.into(), 1.into(), 2.into(), 3.into(), 4.into()]],
            )
            .unwrap();
            if insert(&writer, std::slice::from_ref(row)).is_err() {
                // A STRICT column refuses it: there is nothing bad to find.
                assert!(schema.contains("STRICT"), "{what} in {schema}");
                continue;
            }
            assert!(!proven(&writer, &path), "{what} in {schema}");
        }
    }
}

#[test]
fn infinities_summing_to_nan_are_bad_values_and_a_column_of_nulls_is_clean() {
    let null = || SqlValue::Null;
    for schema in schemas() {
        let (_dir, path, writer) = db_with(&schema);
        // A column of NULLs: its SUM is NULL, and the values are clean.
        insert(&writer, &[[0.5.into(), 1.into(), 2.into(), null(), null()]]).unwrap();
        assert!(proven(&writer, &path), "{schema}");
        // +inf and -inf: SQLite's SUM is NaN, which it returns as NULL.
        let infinities = [
            [0.5.into(), 1.into(), 2.into(), f64::INFINITY.into(), null()],
            [
                0.5.into(),
                1.into(),
                2.into(),
                f64::NEG_INFINITY.into(),
                null(),
            ],
        ];
        if insert(&writer, &infinities).is_err() {
            assert!(schema.contains("STRICT"), "{schema}");
            continue;
        }
        assert!(!proven(&writer, &path), "{schema}");
    }
}

#[test]
fn text_that_looks_like_a_number_is_caught_where_affinity_keeps_it_text() {
    // With numeric affinity, '12' is stored as the integer 12 (both queries
    // agree it is clean); without, it stays text (both say bad).
    for (schema, clean) in [(lax_schema(), true), (schemas()[1].clone(), false)] {
        let (_dir, path, writer) = db_with(&schema);
        insert(
            &writer,
            &[[t("0.5"), t("12"), t(" 3 "), t("1e3"), 4.into()]],
        )
        .unwrap();
        assert_eq!(proven(&writer, &path), clean, "{schema}");
    }
    // STRICT: `ANY` keeps text as text, `INTEGER` converts it.
    let (_dir, path, writer) = db_with(&schemas()[2]);
    insert(
        &writer,
        &[[0.5.into(), 1.into(), t("12"), 1.into(), 1.into()]],
    )
    .unwrap();
    assert!(proven(&writer, &path));
    insert(
        &writer,
        &[[0.5.into(), t("12"), 1.into(), 1.into(), 1.into()]],
    )
    .unwrap();
    assert!(!proven(&writer, &path));
}

#[test]
fn an_integral_real_token_is_bad_where_it_stays_real() {
    // INTEGER affinity stores 5.0 as the integer 5; no affinity keeps a REAL.
    for (schema, clean) in [(lax_schema(), true), (schemas()[1].clone(), false)] {
        let (_dir, path, writer) = db_with(&schema);
        insert(
            &writer,
            &[[1.into(), 5.0.into(), 1.into(), 1.into(), 1.into()]],
        )
        .unwrap();
        assert_eq!(proven(&writer, &path), clean, "{schema}");
    }
}

#[test]
fn an_overflowing_token_sum_is_the_exact_querys_overflow() {
    let (_dir, path, writer) = db_with(&lax_schema());
    insert(
        &writer,
        &[
            [1.into(), i64::MAX.into(), 1.into(), 1.into(), 1.into()],
            [1.into(), 1.into(), 1.into(), 1.into(), 1.into()],
            [1.into(), (-1).into(), 1.into(), 1.into(), 1.into()],
        ],
    )
    .unwrap();
    assert!(!proven(&writer, &path));
    let out = totals_sums(&writer, &path, None);
    assert!(matches!(out, Err(SqliteError::Overflow { .. })), "{out:?}");
}

#[test]
fn a_range_reads_only_its_rows() {
    let (_dir, path, writer) = db_with(&lax_schema());
    insert(
        &writer,
        &(1..=10)
            .map(|i: i64| [SqlValue::Real(0.25), i.into(), 1.into(), 1.into(), 1.into()])
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let Cheap::Proven(part, _) = cheap_totals(&writer, &path, None, Rows::Between(3, 5)).unwrap()
    else {
        panic!("clean rows are proven");
    };
    let totals = part.decoded().unwrap().rows;
    assert_eq!(
        (totals.runs, totals.input_tokens, totals.cost_usd),
        (3, 12, 0.75)
    );
}

fn any_value() -> impl Strategy<Value = SqlValue> {
    prop_oneof![
        3 => Just(SqlValue::Null),
        4 => (-1000_i64..1_000_000).prop_map(SqlValue::Integer),
        1 => prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(i64::MAX / 2 + 1)]
            .prop_map(SqlValue::Integer),
        2 => prop_oneof![
            any::<f64>(),
            Just(5.0),
            Just(-0.0),
            Just(1e30),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (0_u32..1000).prop_map(|c| f64::from(c) / 100.0),
        ]
        .prop_map(SqlValue::Real),
        1 => prop_oneof![
            Just("12".to_owned()),
            Just(" 7 ".to_owned()),
            Just("1.5".to_owned()),
            Just("1e3".to_owned()),
            Just("0x10".to_owned()),
            Just(String::new()),
            "[a-z0-9.]{0,6}",
        ]
        .prop_map(SqlValue::Text),
        1 => proptest::collection::vec(any::<u8>(), 0..4).prop_map(SqlValue::Blob),
    ]
}

fn any_row() -> impl Strategy<Value = [SqlValue; 5]> {
    [
        any_value(),
        any_value(),
        any_value(),
        any_value(),
        any_value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary values under each schema: the cheap query's answer, when it
    /// gives one, is the exact query's; the combined answer always is.
    #[test]
    fn the_cheap_query_answers_only_what_the_exact_query_would(
        rows in proptest::collection::vec(any_row(), 0..12),
        schema in 0_usize..3,
    ) {
        let (_dir, path, writer) = db_with(&schemas()[schema]);
        // A STRICT table refuses some values; what it took is the input.
        for row in &rows {
            let _ = insert(&writer, std::slice::from_ref(row));
        }
        check_against_exact(&writer, &path);
    }

    /// Clean values (integers, reals for the cost, NULLs) are always proven
    /// under the reference schema: the fast path is the common path.
    #[test]
    fn clean_values_are_always_proven(
        rows in proptest::collection::vec(
            (
                prop_oneof![Just(SqlValue::Null), (0_u32..100_000).prop_map(|c| SqlValue::Real(f64::from(c) / 1e6))],
                proptest::collection::vec(
                    prop_oneof![Just(SqlValue::Null), (0_i64..1 << 40).prop_map(SqlValue::Integer)],
                    4,
                ),
            ),
            0..20,
        ),
    ) {
        let (_dir, path, writer) = db_with(SCHEMA);
        let rows: Vec<[SqlValue; 5]> = rows
            .into_iter()
            .map(|(cost, t)| [cost, t[0].clone(), t[1].clone(), t[2].clone(), t[3].clone()])
            .collect();
        insert(&writer, &rows).unwrap();
        prop_assert!(proven(&writer, &path));
    }
}
