//! Any bytes, split into lines, through the daemon-log parser: no panic, and every event names a
//! line that exists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lsync_core::LogParser;

fuzz_target!(|data: &[u8]| {
    let mut p = LogParser::new();
    let mut out = Vec::new();
    let mut n = 0u64;
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        n = i as u64 + 1;
        p.push_line(n, line, &mut out);
    }
    p.finish(&mut out);
    for e in &out {
        assert!(e.line >= 1 && e.line <= n, "event on line {} of {}", e.line, n);
    }
});
