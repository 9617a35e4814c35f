//! `lsync-analyzers`: the SQLite store, ingest, and the queries behind every report.
//!
//! Architecture invariants: only this crate touches SQLite; all polars code is in `miners` and
//! `export`.

// `unsafe` only where rusqlite's virtual-table traits require it (`sql`), nowhere else.
#![deny(unsafe_code)]

pub mod chain_view;
pub mod compare;
pub mod export;
pub mod finality;
pub mod ingest;
pub mod miners;
pub mod orphans;
pub mod query;
pub mod report;
mod read;
pub mod rows;
pub mod segment;
#[allow(unsafe_code)]
pub mod sql;
pub mod store;

pub use store::{open, open_existing, open_for_reading, StoreError};
