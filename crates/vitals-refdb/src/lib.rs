//! The reference orchestrator schema: a deterministic database generator and a simulated orchestrator for demos, tests and benchmarks
