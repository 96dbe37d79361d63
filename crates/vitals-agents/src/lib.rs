//! The `agents` section of vitals and its source trait
