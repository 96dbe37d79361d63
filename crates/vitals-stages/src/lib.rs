//! The `stages` section of vitals and its source trait
