//! Any bytes, split into lines, through the journal parser: no panic, events on real lines, and
//! parsing in parts cut at `JournalParser::starts_record` lines gives what one parser gives, and
//! the fast paths decide exactly what the reference parser (serde for every record) decides.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lsync_core::{JournalOptions, JournalParser, LineStats};

fuzz_target!(|data: &[u8]| {
    let opts = JournalOptions { keep_raw: data.first().map(|b| b & 1 == 1).unwrap_or(false) };
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let mut p = JournalParser::new(opts);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        p.push_line(i as u64 + 1, line, &mut out);
    }
    p.finish(&mut out);
    for e in &out {
        assert!(e.line >= 1 && e.line <= lines.len() as u64);
    }
    let whole = p.stats().clone();
    let mut r = JournalParser::reference(opts);
    let mut reference = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        r.push_line(i as u64 + 1, line, &mut reference);
    }
    r.finish(&mut reference);
    assert_eq!(format!("{reference:?}"), format!("{out:?}"));
    assert_eq!(r.stats(), &whole);
    let mut parts = Vec::new();
    let mut stats = LineStats::default();
    let mut q = JournalParser::new(opts);
    for (i, l) in lines.iter().enumerate() {
        if i > 0 && JournalParser::starts_record(l) {
            q.finish(&mut parts);
            stats.add(q.stats());
            q = JournalParser::new(opts);
        }
        q.push_line(i as u64 + 1, l, &mut parts);
    }
    q.finish(&mut parts);
    stats.add(q.stats());
    assert_eq!(stats, whole);
    assert_eq!(format!("{parts:?}"), format!("{out:?}"));
});
