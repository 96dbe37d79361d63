//! SQLite `datetime('now')` text without going through a formatter.

/// Formats Unix seconds as SQLite's `datetime()` text in UTC:
/// `YYYY-MM-DD HH:MM:SS`.
///
/// Generating a large database writes millions of timestamps, so this is
/// plain integer arithmetic (Howard Hinnant's `civil_from_days`) rather than
/// a general formatter. Years outside 0..=9999 are not padded meaningfully;
/// nothing here comes close to them.
pub(crate) fn sql_ts(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(19);
    push_digits(&mut out, year, 4);
    out.push('-');
    push_digits(&mut out, month, 2);
    out.push('-');
    push_digits(&mut out, day, 2);
    out.push(' ');
    push_digits(&mut out, sod / 3600, 2);
    out.push(':');
    push_digits(&mut out, sod % 3600 / 60, 2);
    out.push(':');
    push_digits(&mut out, sod % 60, 2);
    out
}

/// Pushes the last `width` decimal digits of `value` (taken as non-negative).
fn push_digits(out: &mut String, value: i64, width: u32) {
    let value = value.unsigned_abs();
    for place in (0..width).rev() {
        let digit = value / 10u64.pow(place) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::sql_ts;

    fn check(secs: i64) {
        let expected = chrono::DateTime::from_timestamp(secs, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        assert_eq!(sql_ts(secs), expected, "secs = {secs}");
    }

    #[test]
    fn matches_chrono() {
        check(0);
        check(-1);
        check(951_782_400); // 2000-02-29
        check(1_709_164_799); // 2024-02-28 23:59:59
        check(1_709_251_200); // 2024-03-01
        check(4_102_444_799); // 2099-12-31 23:59:59
        let mut secs = -86_400 * 366;
        while secs < 5_000_000_000 {
            check(secs);
            secs += 7_777_777;
        }
    }
}
