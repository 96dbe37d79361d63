//! The README's embedding snippet, run as written (minus the server): a host
//! that copies it gets a non-null `clk_tck` on Linux without wiring it twice.

use std::path::PathBuf;
use std::sync::Arc;

use vitals::prelude::ProcSource;

/// The lines of the README's "Mount `/metrics` in your axum app" snippet
/// that compose the assembler; the test below runs exactly these.
const SNIPPET: [&str; 7] = [
    "let resources = vitals::sqlite::SqliteStore::open(\"orchestrator.db\")",
    "    .resources()",
    "    .with::<Arc<dyn ProcSource>>(Arc::new(vitals::proc::LinuxProc::new()));",
    "let assembler = vitals::Assembler::builder()",
    "    .descriptors(vitals::BUILTIN.iter(), &resources)",
    "    .build()?;",
    "let app = axum::Router::new()",
];

#[test]
fn the_readme_still_shows_the_snippet_this_test_runs() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let block = SNIPPET.join("\n");
    assert!(
        readme.contains(&block),
        "README.md's embedding snippet changed; update this test with it:\n{block}"
    );
    assert!(
        !readme.contains(".clk_tck("),
        "the README wires clk_tck by hand"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_readme_snippet_gives_a_non_null_clk_tck() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orchestrator.db");
    let options = vitals_refdb::GenOptions::new(vitals_refdb::Shape::of(vitals_refdb::Scale::S), 1);
    vitals_refdb::generate(&db, &options).expect("generate");

    // The snippet, with the path of the generated database.
    let resources = vitals::sqlite::SqliteStore::open(&db)
        .resources()
        .with::<Arc<dyn ProcSource>>(Arc::new(vitals::proc::LinuxProc::new()));
    let assembler = vitals::Assembler::builder()
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .build()
        .unwrap();

    let snapshot = assembler.build().await;
    let clk_tck = snapshot.body()["clk_tck"].as_u64();
    assert!(clk_tck.is_some_and(|t| t > 0), "clk_tck: {clk_tck:?}");
    assert_eq!(snapshot.clk_tck(), clk_tck);
}
