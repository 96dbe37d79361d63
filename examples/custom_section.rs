//! An orchestrator adds its own section, `disk` (free and total bytes of a
//! path), next to the built-in ones, without touching any other crate, and
//! checks with the contract shape test that the change is additive (no
//! `schema_version` bump needed).
//!
//! Run it with `cargo run --example custom_section [PATH]` (default: `.`).
//! The built-in sections read in-memory fakes here; a real host passes its
//! `SqliteStore` instead.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its results"
)]

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use vitals::core::testing::shape::{Golden, Verdict};
use vitals::{Assembler, Collect, Fallback, Section, SectionError, SectionValue, async_trait};

/// Free and total bytes of the file system holding `path`.
#[derive(Debug)]
struct DiskSection {
    path: PathBuf,
}

/// The section's value; serde writes the keys in this order.
#[derive(Debug, Serialize)]
struct Disk {
    path: String,
    free_bytes: u64,
    total_bytes: u64,
}

#[async_trait]
impl Section for DiskSection {
    fn key(&self) -> &str {
        "disk"
    }

    fn fallback(&self) -> Fallback {
        Fallback::Null
    }

    // After the built-ins (10..40), before anything else at the default 100.
    fn order(&self) -> i32 {
        50
    }

    // `statvfs` on a hung network mount can block: keep the deadline short.
    fn deadline(&self) -> Option<Duration> {
        Some(Duration::from_millis(500))
    }

    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        let path = self.path.clone();
        // Blocking system call: off the async threads.
        let stat = tokio::task::spawn_blocking(move || nix::sys::statvfs::statvfs(&path))
            .await
            .map_err(|e| SectionError::new("join", e))?
            .map_err(|e| SectionError::new("statvfs", e))?;
        let fragment = stat.fragment_size();
        SectionValue::from_serialize(&Disk {
            path: self.path.display().to_string(),
            free_bytes: stat.blocks_available().saturating_mul(fragment),
            total_bytes: stat.blocks().saturating_mul(fragment),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let resources = vitals::fake::populated();

    let assembler = Assembler::builder()
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .section(DiskSection { path })
        .build()?;
    let snapshot = assembler.build().await;
    if let Some(disk) = snapshot.section("disk") {
        println!("{disk}");
    }

    // The same check as tests/contract.rs: is this still contract v1?
    let golden_file = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/contract/v1.shape.json");
    let golden: Golden = serde_json::from_str(&std::fs::read_to_string(golden_file)?)?;
    match golden.verdict(snapshot.body()) {
        Verdict::Additive(paths) => println!("additive, no version bump needed: {paths:?}"),
        Verdict::Same => println!("same shape as contract v1"),
        other => {
            eprintln!("not compatible with contract v1: {other:?}");
            std::process::exit(1);
        }
    }
    Ok(())
}
