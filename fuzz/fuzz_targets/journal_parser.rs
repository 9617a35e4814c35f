//! Any bytes, split into lines, through the journal parser: no panic, events on real lines.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lsync_core::{JournalOptions, JournalParser};

fuzz_target!(|data: &[u8]| {
    let mut p = JournalParser::new(JournalOptions { keep_raw: data.first().map(|b| b & 1 == 1).unwrap_or(false) });
    let mut out = Vec::new();
    let mut n = 0u64;
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        n = i as u64 + 1;
        p.push_line(n, line, &mut out);
    }
    p.finish(&mut out);
    for e in &out {
        assert!(e.line >= 1 && e.line <= n);
    }
});
