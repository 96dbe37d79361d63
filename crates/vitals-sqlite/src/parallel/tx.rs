//! A read transaction of the store's connection, as the full passes see it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rusqlite::Connection;

use crate::connection::SamePoint;

/// A read transaction of the store's connection, as the aggregates see it.
#[derive(Clone, Copy)]
pub(crate) struct Tx<'a> {
    /// The store's connection, inside the transaction.
    pub(crate) conn: &'a Connection,
    /// The database path.
    pub(crate) path: &'a Path,
    /// When the transaction was begun (it tells one transaction from the next).
    pub(crate) began: Instant,
    /// What a twin needs to read the same point in time, if it can.
    pub(crate) same_point: Option<SamePoint>,
    /// Set when the request running in the transaction is given up.
    pub(crate) cancel: &'a Arc<AtomicBool>,
}
