//! The `queue` section of vitals and its source trait
