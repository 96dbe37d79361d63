//! Core of vitals: the Section trait, the registry and the isolating assembler
