//! Read-only SQLite implementation of the vitals standard sources
