//! Durations written the way people and command lines write them: `90s`,
//! `10m`, `1h30m`, `500ms`, `2d`.

use std::time::Duration;

use crate::error::DurationError;

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses a duration: one or more `<integer><unit>` parts, units `ms`, `s`,
/// `m`, `h`, `d` (`"90s"`, `"10m"`, `"1h30m"`). A bare `0` is zero.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(vitals_client::duration::parse("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(vitals_client::duration::parse("250ms"), Ok(Duration::from_millis(250)));
/// assert!(vitals_client::duration::parse("10").is_err());
/// ```
///
/// # Errors
///
/// [`DurationError`] when the text is empty, a part has no unit or an
/// unknown one, or the total overflows.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let invalid = || DurationError::Invalid {
        text: text.to_owned(),
    };
    let overflow = || DurationError::Overflow {
        text: text.to_owned(),
    };
    let mut rest = trimmed;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, ms)| *ms)
            .ok_or_else(invalid)?;
        let value: u64 = number.parse().map_err(|_| overflow())?;
        total_ms = value
            .checked_mul(scale)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(overflow)?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Writes a duration the way [`parse`] reads it, largest units first
/// (`5400 s` is `"1h30m"`); below a millisecond is dropped, zero is `"0s"`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(vitals_client::duration::format(Duration::from_secs(600)), "10m");
/// assert_eq!(vitals_client::duration::format(Duration::from_millis(1500)), "1s500ms");
/// ```
#[must_use]
pub fn format(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, scale) in UNITS.iter().rev() {
        let count = ms / scale;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(unit);
            ms %= scale;
        }
    }
    out
}

/// `#[serde(with = ...)]` for a `Duration` written as text (`"10m"`).
pub(crate) mod text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*duration))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<u64>) {
        assert_eq!(
            parse(text)
                .ok()
                .map(|d| u64::try_from(d.as_millis()).unwrap()),
            expected,
            "{text:?}"
        );
    }

    #[test]
    fn parses() {
        check("90s", Some(90_000));
        check("10m", Some(600_000));
        check("1h30m", Some(5_400_000));
        check("500ms", Some(500));
        check("2d", Some(172_800_000));
        check(" 15m ", Some(900_000));
        check("0", Some(0));
        check("0s", Some(0));
        check("", None);
        check("10", None);
        check("m", None);
        check("10x", None);
        check("1.5s", None);
        check("-1s", None);
        check("99999999999999999999s", None);
        check("999999999999999d", None);
    }

    #[test]
    fn formats_what_it_parses() {
        for ms in [
            0, 1, 999, 1_000, 90_000, 600_000, 5_400_000, 86_400_000, 90_061_001,
        ] {
            let duration = Duration::from_millis(ms);
            assert_eq!(parse(&format(duration)), Ok(duration), "{ms} ms");
        }
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
    }
}
