//! `lsync-analyzers`: the SQLite store, ingest, and the queries behind every report.
//!
//! Architecture invariants: only this crate touches SQLite; all polars code is in `miners`.

pub mod ingest;
pub mod miners;
pub mod query;
mod read;
pub mod segment;
pub mod store;

pub use store::{open, open_existing, StoreError};
