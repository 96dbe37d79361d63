//! A small YAML writer for rule files: the few shapes a rule file has,
//! written so that any YAML 1.2 parser (Prometheus' among them) reads back
//! exactly the strings given.
//!
//! * Names (`record`, `alert`, group names), durations and label values
//!   the generator controls are plain scalars only when they match a safe
//!   pattern; anything else is double-quoted.
//! * Expressions are literal block scalars (`|-`), line by line, so that
//!   they read as PromQL; an expression a block cannot hold exactly
//!   (leading or trailing blanks on a line, a control character) is
//!   double-quoted instead.
//! * Annotations are always double-quoted (templates start with `{`).

use std::fmt::Write as _;

use super::{Rule, RuleFile};
use crate::duration::format as duration;

/// Writes `file`.
pub(super) fn write(file: &RuleFile) -> String {
    let mut out = String::new();
    for line in &file.comment {
        out.push('#');
        if !line.is_empty() {
            out.push(' ');
            out.push_str(&line.replace(['\n', '\r'], " "));
        }
        out.push('\n');
    }
    out.push_str("groups:\n");
    for group in &file.groups {
        let _ = writeln!(out, "  - name: {}", scalar(&group.name));
        out.push_str("    rules:\n");
        for rule in &group.rules {
            match rule {
                Rule::Record(record) => {
                    let _ = writeln!(out, "      - record: {}", scalar(&record.record));
                    expr(&mut out, &record.expr);
                }
                Rule::Alert(alert) => {
                    let _ = writeln!(out, "      - alert: {}", scalar(&alert.alert));
                    expr(&mut out, &alert.expr);
                    if !alert.for_.is_zero() {
                        let _ = writeln!(out, "        for: {}", duration(alert.for_));
                    }
                    out.push_str("        labels:\n");
                    let _ = writeln!(
                        out,
                        "          severity: {}",
                        scalar(alert.severity.as_str())
                    );
                    out.push_str("        annotations:\n");
                    let _ = writeln!(out, "          summary: {}", quoted(&alert.summary));
                    let _ = writeln!(out, "          description: {}", quoted(&alert.description));
                }
            }
        }
    }
    out
}

/// `expr: |-` and the expression's lines, or `expr: "..."` when a block
/// cannot hold it exactly.
fn expr(out: &mut String, text: &str) {
    let blockable = !text.is_empty()
        && !text.starts_with([' ', '\t'])
        && text.split('\n').all(|line| {
            !line.is_empty()
                && line.trim_end() == line
                && !line.chars().any(|c| c.is_control() || breaks_a_line(c))
        });
    if blockable {
        out.push_str("        expr: |-\n");
        for line in text.lines() {
            out.push_str("          ");
            out.push_str(line);
            out.push('\n');
        }
    } else {
        let _ = writeln!(out, "        expr: {}", quoted(text));
    }
}

/// Characters YAML 1.1 parsers (go-yaml v2, Prometheus') take for a line
/// break, besides `\n` and `\r`.
fn breaks_a_line(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// A plain scalar when `text` is made of `[A-Za-z0-9_:.-]`, starts with a
/// letter or `_` and cannot read as another type; double-quoted otherwise.
fn scalar(text: &str) -> String {
    let safe = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if safe { text.to_owned() } else { quoted(text) }
}

/// A YAML double-quoted scalar holding exactly `text`.
pub(super) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || breaks_a_line(c) => {
                let code = u32::from(c);
                if code <= 0xff {
                    let _ = write!(out, "\\x{code:02x}");
                } else {
                    let _ = write!(out, "\\u{code:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let check = |text: &str, expected: &str| assert_eq!(quoted(text), expected, "{text:?}");
        check("plain", r#""plain""#);
        check(
            r#"{{ printf "%.2f" $value }}"#,
            r#""{{ printf \"%.2f\" $value }}""#,
        );
        check("a\\b\nc\td", r#""a\\b\nc\td""#);
        check("\u{7f}\u{0}\u{85}", r#""\x7f\x00\x85""#);
        check("\u{2028}é", "\"\\u2028é\"");
    }

    #[test]
    fn scalars_are_plain_only_when_safe() {
        let check = |text: &str, expected: &str| assert_eq!(scalar(text), expected, "{text:?}");
        check(
            "agent:vitals_agent_cpu:rate2m",
            "agent:vitals_agent_cpu:rate2m",
        );
        check("vitals.rules", "vitals.rules");
        check("warning", "warning");
        check("yes", r#""yes""#);
        check("1m", r#""1m""#);
        check("a b", r#""a b""#);
        check("", r#""""#);
        check(":x", r#"":x""#);
    }

    #[test]
    fn expressions_are_blocks_when_a_block_holds_them_exactly() {
        let check = |text: &str, expected: &str| {
            let mut out = String::new();
            expr(&mut out, text);
            assert_eq!(out, expected, "{text:?}");
        };
        check(
            "up == 0\nor\n  vector(1)",
            "        expr: |-\n          up == 0\n          or\n            vector(1)\n",
        );
        check(" up", "        expr: \" up\"\n");
        check("up \nor x", "        expr: \"up \\nor x\"\n");
        check("up\n\nx", "        expr: \"up\\n\\nx\"\n");
        check("up\n", "        expr: \"up\\n\"\n");
    }
}
