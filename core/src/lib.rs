//! `lsync-core`: the formats and the chain model of lsync.
//!
//! Architecture invariant: this crate does no I/O. Parsers take bytes and return events; they
//! never fail on a bad line, they report it as a `malformed` or `unknown` event.

#![deny(unsafe_code)]

// The one exception to "no unsafe": SSE2 scans of bytes (each `unsafe` block states its
// precondition; property tests hold each scan to a plain byte search).
#[allow(unsafe_code)]
pub mod bytes;
pub mod chain;
pub mod cid_bytes;
pub mod cids;
pub mod detect;
pub mod event;
pub mod go_text;
pub mod journal;
pub mod json_scan;
pub mod log;
pub mod messages;
pub mod time;

pub use detect::{detect_format, FileFormat};
pub use event::{ClassCounts, Event, EventKind, HeadChange, JournalMeta, LineStats, ReorgClass};
pub use journal::{JournalOptions, JournalParser};
pub use log::{LineClass, LogParser};
pub use time::Timestamp;
