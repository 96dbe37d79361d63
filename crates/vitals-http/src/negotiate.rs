//! Content negotiation: JSON (the default), OpenMetrics, or the Prometheus text format.
//!
//! The rules, in order:
//! 1. A query parameter `format=json`, `format=openmetrics` or
//!    `format=prometheus` (percent-decoded, case-insensitive) decides; any
//!    other value is ignored.
//! 2. Otherwise the `Accept` header(s) decide, with q-values (RFC 9110 §12.5.1).
//!    Three representations are offered, in this order on a tie:
//!    `application/json`, `application/openmetrics-text` (any `version`) and
//!    `text/plain` with `version=0.0.4` or no version (the Prometheus text
//!    format). Each takes the q of the most specific range that matches it
//!    (`type/subtype` over `type/*` over `*/*`; equally specific ranges: the
//!    highest q). The representation with the highest q wins, then the one
//!    matched more specifically, then the earlier one.
//! 3. JSON when there is no `Accept`, when nothing in it matches, or when every
//!    match has `q=0` (the endpoint never answers 406).

/// The representation a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The JSON snapshot.
    Json,
    /// The OpenMetrics 1.0 text format.
    OpenMetrics,
    /// The Prometheus text format 0.0.4.
    Text,
}

/// Picks the format from the raw query string and the `Accept` header values.
pub(crate) fn negotiate<'a>(
    query: Option<&str>,
    accept: impl IntoIterator<Item = &'a str>,
) -> Format {
    if let Some(format) = query.and_then(from_query) {
        return format;
    }
    let ranges: Vec<MediaRange<'_>> = accept.into_iter().flat_map(parse_accept).collect();
    from_accept(&ranges)
}

/// The first `format` parameter of the query with a value we know.
fn from_query(query: &str) -> Option<Format> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if percent_decode(key)? != "format" {
            return None;
        }
        let value = percent_decode(value)?;
        [
            ("json", Format::Json),
            ("openmetrics", Format::OpenMetrics),
            ("prometheus", Format::Text),
        ]
        .into_iter()
        .find_map(|(name, format)| value.eq_ignore_ascii_case(name).then_some(format))
    })
}

/// Decodes `application/x-www-form-urlencoded` text: `%XX` escapes and `+`
/// for a space. `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'%' => {
                let high = char::from(bytes.next()?).to_digit(16)?;
                let low = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(high * 16 + low).ok()?);
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

/// One element of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    /// Media type parameters (before `q`), names lowercased, quotes removed.
    params: Vec<(String, &'a str)>,
    /// The weight, 0.0 to 1.0.
    q: f32,
}

/// Splits `s` on `sep` outside double-quoted strings.
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

/// Parses one `Accept` header value; malformed elements are skipped.
pub(crate) fn parse_accept(header: &str) -> Vec<MediaRange<'_>> {
    split_unquoted(header, ',')
        .filter_map(parse_range)
        .collect()
}

fn parse_range(element: &str) -> Option<MediaRange<'_>> {
    let mut parts = split_unquoted(element, ';');
    let (kind, subtype) = parts.next()?.trim().split_once('/')?;
    let (kind, subtype) = (kind.trim(), subtype.trim());
    if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
        return None;
    }
    let mut params = Vec::new();
    let mut q = 1.0;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if name == "q" {
            q = parse_q(value)?;
            // Anything after q is an accept extension, not a media type parameter.
            break;
        }
        params.push((name, value));
    }
    Some(MediaRange {
        kind,
        subtype,
        params,
        q,
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
fn parse_q(value: &str) -> Option<f32> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "0" => {
            let digits = format!("{frac:0<3}");
            let thousandths: u16 = digits.parse().ok()?;
            Some(f32::from(thousandths) / 1000.0)
        }
        "1" if frac.bytes().all(|b| b == b'0') => Some(1.0),
        _ => None,
    }
}

/// A representation the endpoint can produce.
#[derive(Debug, Clone, Copy)]
struct Offer {
    kind: &'static str,
    subtype: &'static str,
    /// Which values of the `version` parameter a range may ask for (`None`: any).
    versions: Option<&'static [&'static str]>,
    format: Format,
}

/// In order of preference on a tie.
const OFFERS: [Offer; 3] = [
    Offer {
        kind: "application",
        subtype: "json",
        versions: None,
        format: Format::Json,
    },
    Offer {
        kind: "application",
        subtype: "openmetrics-text",
        versions: None,
        format: Format::OpenMetrics,
    },
    Offer {
        kind: "text",
        subtype: "plain",
        versions: Some(&["0.0.4"]),
        format: Format::Text,
    },
];

/// How specifically `range` matches `offer`: `None` when it does not match.
fn specificity(range: &MediaRange<'_>, offer: &Offer) -> Option<u8> {
    if range.kind == "*" {
        return Some(0);
    }
    if !range.kind.eq_ignore_ascii_case(offer.kind) {
        return None;
    }
    if range.subtype == "*" {
        return Some(1);
    }
    if !range.subtype.eq_ignore_ascii_case(offer.subtype) {
        return None;
    }
    let version = range
        .params
        .iter()
        .find(|(name, _)| name == "version")
        .map(|(_, v)| *v);
    match (offer.versions, version) {
        (Some(allowed), Some(v)) if !allowed.contains(&v) => None,
        (_, Some(_)) => Some(3),
        (_, None) => Some(2),
    }
}

fn from_accept(ranges: &[MediaRange<'_>]) -> Format {
    let mut best: Option<(f32, u8, Format)> = None;
    for offer in &OFFERS {
        // The most specific matching range decides the offer's q.
        let mut matched: Option<(u8, f32)> = None;
        for range in ranges {
            if let Some(spec) = specificity(range, offer) {
                matched = match matched {
                    Some((s, q)) if s > spec || (s == spec && q >= range.q) => Some((s, q)),
                    _ => Some((spec, range.q)),
                };
            }
        }
        let Some((spec, q)) = matched else { continue };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((bq, bs, _)) => q > bq || (q == bq && spec > bs),
        };
        if better {
            best = Some((q, spec, offer.format));
        }
    }
    best.map_or(Format::Json, |(_, _, format)| format)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    #[track_caller]
    fn check(query: Option<&str>, accept: &[&str], expected: Format) {
        assert_eq!(
            negotiate(query, accept.iter().copied()),
            expected,
            "query {query:?}, accept {accept:?}"
        );
    }

    use Format::{Json, OpenMetrics as Om, Text};

    #[test]
    fn accept_headers() {
        check(None, &[], Json);
        check(None, &[""], Json);
        check(None, &["*/*"], Json);
        check(None, &["application/json"], Json);
        check(None, &["text/html"], Json);
        check(None, &[PROMETHEUS_2], Om);
        check(None, &[PROMETHEUS_3], Om);
        check(None, &["application/openmetrics-text"], Om);
        check(None, &["Application/OpenMetrics-Text; Version=1.0.0"], Om);
        check(None, &["text/plain; version=0.0.4"], Text);
        check(None, &["text/plain;version=0.0.4;q=0.3,*/*;q=0.2"], Text);
        check(None, &["text/plain"], Text);
        check(None, &["text/plain; charset=utf-8"], Text);
        check(None, &["text/plain; version=1.0.0"], Json);
        check(None, &["text/*"], Text);
        check(
            None,
            &["text/plain;q=0.9, application/openmetrics-text;q=0.5"],
            Text,
        );
        check(
            None,
            &["text/plain;q=0.5, application/openmetrics-text;q=0.9"],
            Om,
        );
        check(None, &["text/plain, application/openmetrics-text"], Om);
        check(None, &["text/plain, application/json"], Json);
        check(None, &["text/plain;q=0, text/*"], Json);
        check(None, &["application/json;q=0.1, text/plain;q=0.2"], Text);
        check(None, &["application/*"], Json);
        check(None, &["application/openmetrics-text, */*"], Om);
        check(
            None,
            &["application/json, application/openmetrics-text"],
            Json,
        );
        check(
            None,
            &["application/openmetrics-text, application/json"],
            Json,
        );
        check(
            None,
            &["application/json;q=0.9, application/openmetrics-text;q=0.5"],
            Json,
        );
        check(
            None,
            &["application/json;q=0.4, application/openmetrics-text;q=0.5"],
            Om,
        );
        check(
            None,
            &[
                "application/openmetrics-text;q=0.8",
                "application/json;q=0.9",
            ],
            Json,
        );
        check(None, &["application/json;q=0, */*"], Om);
        check(None, &["application/openmetrics-text;q=0, */*"], Json);
        check(None, &["application/openmetrics-text;q=0"], Json);
        check(None, &["application/json;q=0"], Json);
        check(
            None,
            &["application/openmetrics-text;q=0.1, application/*;q=0.9"],
            Json,
        );
        check(None, &["garbage, application/openmetrics-text"], Om);
        check(None, &["application/openmetrics-text;q=2"], Json);
        check(None, &["application/openmetrics-text;q=0.0001"], Json);
        check(None, &["application/openmetrics-text;q=1.000"], Om);
        check(
            None,
            &["application/openmetrics-text; x=\"a,b;c\"; q=0.7"],
            Om,
        );
    }

    #[test]
    fn query_overrides_accept() {
        check(Some("format=openmetrics"), &[], Om);
        check(Some("a=1&format=OpenMetrics"), &["application/json"], Om);
        check(Some("format=json"), &[PROMETHEUS_2], Json);
        check(Some("format=xml"), &[PROMETHEUS_2], Om);
        check(Some("format=xml"), &[], Json);
        check(Some("formats=openmetrics"), &[], Json);
        check(Some(""), &[], Json);
        check(Some("format=prometheus"), &[PROMETHEUS_2], Text);
        check(Some("format=Prometheus"), &[], Text);
        check(Some("format=json"), &["text/plain"], Json);
        check(Some("format=text"), &["text/plain"], Text);
        check(Some("format=text"), &[], Json);
        // Percent-decoded, key and value.
        check(Some("format=open%6Detrics"), &[], Om);
        check(Some("%66ormat=prometheus"), &[], Text);
        check(Some("format=%4A%53%4F%4E"), &[PROMETHEUS_2], Json);
        check(Some("format=prometheus%20"), &[], Json);
        check(Some("format=%zz"), &[], Json);
        check(Some("format=%"), &[PROMETHEUS_2], Om);
        check(Some("format=%ff"), &[], Json);
        // The first known value wins.
        check(Some("format=xml&format=prometheus&format=json"), &[], Text);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%g0"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("").as_deref(), Some(""));
    }

    #[test]
    fn parses_ranges_with_parameters_and_q() {
        let ranges = parse_accept(PROMETHEUS_2);
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[0].subtype, "openmetrics-text");
        assert_eq!(ranges[0].params, vec![("version".to_owned(), "1.0.0")]);
        assert!((ranges[0].q - 0.5).abs() < f32::EPSILON);
        assert_eq!((ranges[3].kind, ranges[3].subtype), ("*", "*"));
        assert!(parse_accept("*/json, /, a/, json").is_empty());
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1.0));
        assert_eq!(parse_q("1.000"), Some(1.0));
        assert_eq!(parse_q("0.5"), Some(0.5));
        assert_eq!(parse_q("0.25"), Some(0.25));
        assert_eq!(parse_q("0"), Some(0.0));
        assert_eq!(parse_q("0."), Some(0.0));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("2"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("-0.5"), None);
        assert_eq!(parse_q("abc"), None);
    }
}
