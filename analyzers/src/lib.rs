//! `lsync-analyzers`: the SQLite store, ingest, and the queries behind every report.
//!
//! Architecture invariants: only this crate touches SQLite; all polars code is in `miners`.

#![forbid(unsafe_code)]

pub mod ingest;
pub mod miners;
pub mod query;
mod read;
pub mod rows;
pub mod segment;
pub mod store;

pub use store::{open, open_existing, StoreError};
