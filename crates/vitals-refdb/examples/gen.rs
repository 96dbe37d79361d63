//! Generates a reference orchestrator database and prints what it wrote.
//!
//! ```text
//! cargo run --release -p vitals-refdb --example gen -- <S|M|L> <path> [seed] [--history N] [--no-indexes] [--no-wal]
//! ```
//!
//! `--history N` keeps the scale's active work and multiplies its history by
//! N. The path must not exist. Use a release build for `L` (a million jobs).

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::error::Error;
use std::path::PathBuf;

use vitals_refdb::{GenOptions, Scale, Shape, generate};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: gen <S|M|L> <path> [seed] [--history N] [--no-indexes] [--no-wal]";
    let scale: Scale = args.next().ok_or(usage)?.parse()?;
    let path = PathBuf::from(args.next().ok_or(usage)?);
    let mut opts = GenOptions::new(Shape::of(scale), 0);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-indexes" => opts.indexes = false,
            "--no-wal" => opts.wal = false,
            "--history" => {
                let factor: u64 = args.next().ok_or(usage)?.parse()?;
                opts.shape = opts.shape.with_history(factor);
            }
            seed => opts.seed = seed.parse()?,
        }
    }
    let summary = generate(&path, &opts)?;
    println!("{}: {:?}", path.display(), opts.shape);
    println!("{summary:#?}");
    println!("elapsed: {:.2?}", summary.elapsed);
    Ok(())
}
