//! The module layout: every module names only modules below it, so no two
//! modules depend on each other (see "Module layout" in the crate
//! documentation). A new module takes its place in [`LAYERS`] or
//! [`FOLDERS`]; this test fails until it does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules, lowest first: each may name (`crate::x`) only
/// the modules before it, never an item of the crate root.
const LAYERS: &[&str] = &[
    "error",
    "options",
    "stats",
    "decode",
    "columns",
    "queries",
    "totals",
    "connection",
    "parallel",
    "aggregate",
    "worker",
    "incremental",
    "client",
    "bench",
    "doctor",
];

/// Modules that are folders: their child files, lowest first. A child may
/// name (`super::x`) only the siblings before it, never an item of its
/// `mod.rs`, which alone names the children.
const FOLDERS: &[(&str, &[&str])] = &[
    (
        "connection",
        &["descriptors", "open", "unix", "unsupported", "sidecars"],
    ),
    ("parallel", &["tx", "groups", "scan", "twin", "split"]),
    (
        "incremental",
        &["refusal", "marks", "jobs", "runs", "table", "recount"],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its comments and its `#[cfg(test)] mod
/// tests` (whose `super` is the file itself).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment of every `prefix` path in `code`, a `use
/// prefix{a, b::c}` group included (`*` for a glob).
fn named(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        let s = s.trim_start();
        if s.starts_with('*') {
            return "*".to_owned();
        }
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0_usize;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out.remove("self");
    out
}

/// Every library file with its top-level module and, inside a folder
/// module, its child name (`None` for `mod.rs` and plain files).
fn library_files() -> Vec<(PathBuf, String, Option<String>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if stem == "tests" {
                continue;
            }
            for child in std::fs::read_dir(&path).unwrap() {
                let child = child.unwrap().path();
                let name = child.file_stem().unwrap().to_string_lossy().into_owned();
                let name = (name != "mod").then_some(name);
                out.push((child, stem.clone(), name));
            }
        } else if stem != "lib" {
            out.push((path, stem, None));
        }
    }
    out.sort();
    out
}

#[test]
fn every_module_names_only_the_modules_below_it() {
    let mut problems = Vec::new();
    for (path, module, child) in library_files() {
        let shown = path.strip_prefix(src()).unwrap().display().to_string();
        let Some(rank) = LAYERS.iter().position(|m| *m == module) else {
            problems.push(format!("{shown}: module `{module}` is not in LAYERS"));
            continue;
        };
        let code = code_of(&path);
        for name in named(&code, "crate::") {
            if !LAYERS[..rank].contains(&name.as_str()) {
                problems.push(format!(
                    "{shown}: names crate::{name}, which is not a module below `{module}`"
                ));
            }
        }
        let Some(child) = child else {
            continue;
        };
        let Some((_, children)) = FOLDERS.iter().find(|(m, _)| *m == module) else {
            problems.push(format!("{shown}: folder `{module}` is not in FOLDERS"));
            continue;
        };
        let Some(place) = children.iter().position(|c| *c == child) else {
            problems.push(format!(
                "{shown}: `{child}` is not among the children of `{module}` in FOLDERS"
            ));
            continue;
        };
        for name in named(&code, "super::") {
            if !children[..place].contains(&name.as_str()) {
                problems.push(format!(
                    "{shown}: names super::{name}, which is not a sibling below `{child}`"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_layout_check_reads_paths_and_groups() {
    let code = "use crate::{error::SqliteError, queries::{self, Decoded}};\n\
                use super::marks::Marks; let x = crate::stats::Stats::default();\n\
                use super::*; $crate::ignored; some_crate::ignored;";
    assert_eq!(
        named(code, "crate::"),
        ["error", "queries", "stats"].map(str::to_owned).into()
    );
    assert_eq!(
        named(code, "super::"),
        ["*", "marks"].map(str::to_owned).into()
    );
}
