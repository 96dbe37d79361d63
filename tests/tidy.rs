//! Architecture invariants that check themselves (after rust-analyzer's
//! `tidy` tests). Each test names the invariant of `docs/architecture.md` it holds.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's resolved dependency graph: package name -> its normal
/// (non-dev, non-build) dependencies by name, and each member's declared
/// dependencies with their features.
struct Metadata {
    normal: BTreeMap<String, BTreeSet<String>>,
    raw: Value,
}

fn metadata() -> Metadata {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--all-features"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let names: BTreeMap<&str, &str> = raw["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut normal = BTreeMap::new();
    for node in raw["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(name) = node["id"].as_str().and_then(|id| names.get(id)) else {
            continue;
        };
        let deps: BTreeSet<String> = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|kind| kind["kind"].is_null())
            })
            .filter_map(|dep| names.get(dep["pkg"].as_str()?).map(|n| (*n).to_owned()))
            .collect();
        normal.insert((*name).to_owned(), deps);
    }
    Metadata { normal, raw }
}

impl Metadata {
    /// Every package `name` depends on, directly or not, through normal dependencies.
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        while let Some(next) = stack.pop() {
            for dep in self.normal.get(&next).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    stack.push(dep.clone());
                }
            }
        }
        seen
    }

    fn direct_vitals(&self, name: &str) -> BTreeSet<String> {
        self.normal
            .get(name)
            .into_iter()
            .flatten()
            .filter(|d| d.starts_with("vitals"))
            .cloned()
            .collect()
    }
}

/// **Architecture Invariant:** core knows nothing of SQLite, `/proc`, HTTP.
#[test]
fn core_depends_on_no_storage_proc_or_http_crate() {
    let meta = metadata();
    let all = meta.closure("vitals-core");
    for banned in ["rusqlite", "libsqlite3-sys", "axum", "hyper", "procfs"] {
        assert!(
            !all.contains(banned),
            "vitals-core depends on {banned} (directly or not)"
        );
    }
    assert!(
        meta.direct_vitals("vitals-core").is_empty(),
        "vitals-core depends on another vitals crate"
    );
}

/// **Architecture Invariant:** a section crate depends on core (and agents
/// and process on proc) only, and never on rusqlite or axum.
#[test]
fn section_crates_depend_on_core_and_proc_only() {
    let meta = metadata();
    let sections = [
        ("vitals-stages", vec!["vitals-core"]),
        ("vitals-queue", vec!["vitals-core"]),
        ("vitals-cost", vec!["vitals-core"]),
        ("vitals-agents", vec!["vitals-core", "vitals-proc"]),
        ("vitals-process", vec!["vitals-core", "vitals-proc"]),
    ];
    for (name, allowed) in sections {
        let allowed: BTreeSet<String> = allowed.into_iter().map(str::to_owned).collect();
        assert_eq!(
            meta.direct_vitals(name),
            allowed,
            "{name} depends on other vitals crates than it may"
        );
        let all = meta.closure(name);
        for banned in ["rusqlite", "libsqlite3-sys", "axum", "hyper"] {
            assert!(!all.contains(banned), "{name} depends on {banned}");
        }
    }
}

/// **Architecture Invariant:** no collector crate depends on vitals-refdb
/// (the only crate that writes SQLite); only tests, benches and the CLI do.
#[test]
fn no_collector_crate_depends_on_the_database_generator() {
    let meta = metadata();
    for name in [
        "vitals",
        "vitals-core",
        "vitals-proc",
        "vitals-stages",
        "vitals-queue",
        "vitals-agents",
        "vitals-cost",
        "vitals-process",
        "vitals-sqlite",
        "vitals-http",
    ] {
        assert!(
            !meta.closure(name).contains("vitals-refdb"),
            "{name} depends on vitals-refdb"
        );
    }
}

/// Cargo unifies features: a library that turned on serde_json's
/// `preserve_order` would change every `serde_json::Map` of its host.
#[test]
fn no_member_turns_on_serde_json_preserve_order() {
    let meta = metadata();
    let members: BTreeSet<&str> = meta.raw["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for package in meta.raw["packages"].as_array().into_iter().flatten() {
        if !package["id"]
            .as_str()
            .is_some_and(|id| members.contains(id))
        {
            continue;
        }
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if dep["name"] != "serde_json" {
                continue;
            }
            let features: Vec<&str> = dep["features"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                !features.contains(&"preserve_order"),
                "{} turns on serde_json's preserve_order",
                package["name"]
            );
        }
    }
}

/// Library sources: `crates/*/src/**/*.rs` and the facade's `src/`, with
/// each file's path relative to the workspace root.
fn library_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    for krate in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        walk(&krate.path().join("src"), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(&root).unwrap().to_owned(), text)
        })
        .collect()
}

/// **Architecture Invariant:** only vitals-proc reads `/proc`: no other
/// library code names it outside comments (the CLI takes
/// `LinuxProc::DEFAULT_ROOT`).
#[test]
fn only_vitals_proc_names_proc_in_library_code() {
    let mut offenders = Vec::new();
    for (path, text) in library_sources() {
        if path.starts_with("crates/vitals-proc")
            || path.components().any(|c| c.as_os_str() == "tests")
        {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("\"/proc") {
                offenders.push(format!(
                    "{}:{}: {}",
                    path.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "library code outside vitals-proc names /proc:\n{}",
        offenders.join("\n")
    );
}

/// The longest a source file may be without saying why at its top.
const MAX_LINES: usize = 700;

/// The marker a long file carries in its first lines, followed by the reason.
const LONG_FILE_MARKER: &str = "tidy: long file:";

/// Files of one idea: a file under `crates/*/src` longer than [`MAX_LINES`]
/// says why in a comment at its top (`// tidy: long file: <reason>`).
#[test]
fn long_files_say_why_they_are_long() {
    let mut offenders = Vec::new();
    for (path, text) in library_sources() {
        let lines = text.lines().count();
        if lines <= MAX_LINES {
            continue;
        }
        let says_why = text.lines().take(10).any(|line| {
            line.trim_start().starts_with("//")
                && line
                    .split_once(LONG_FILE_MARKER)
                    .is_some_and(|(_, reason)| reason.trim().len() > 10)
        });
        if !says_why {
            offenders.push(format!("{} ({lines} lines)", path.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "split these files, or say at their top why they are long \
         (`// {LONG_FILE_MARKER} <reason>`):\n{}",
        offenders.join("\n")
    );
}

/// **Architecture Invariant:** vitals-client is a consumer of the contract,
/// not of the collector: it links no collector crate (nor their storage or
/// `/proc` readers), whatever its features.
#[test]
fn the_client_depends_on_no_collector_crate() {
    let meta = metadata();
    let all = meta.closure("vitals-client");
    let linked: Vec<&String> = all.iter().filter(|dep| dep.starts_with("vitals")).collect();
    assert!(
        linked.is_empty(),
        "vitals-client depends on {linked:?} (directly or not)"
    );
    for banned in ["rusqlite", "libsqlite3-sys", "procfs", "axum", "inventory"] {
        assert!(
            !all.contains(banned),
            "vitals-client depends on {banned} (directly or not)"
        );
    }
}
