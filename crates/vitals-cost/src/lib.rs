//! The `cost` section of vitals and its source trait
