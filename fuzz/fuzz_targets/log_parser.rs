//! Any bytes, split into lines, through the daemon-log parser:
//! - no panic, and every event names a line that exists;
//! - the fast paths decide exactly as the full parser (`LogParser::reference`): same events,
//!   line classes and counters, line by line and as one run (`push_lines`, what ingest feeds);
//! - parsing in parts cut at `LogParser::starts_record` lines (as ingest does on several
//!   threads) gives what one parser gives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lsync_core::{Event, LineStats, LogParser};

fn run(mut p: LogParser, lines: &[&[u8]]) -> (Vec<Event>, Vec<lsync_core::LineClass>, LineStats) {
    let mut out = Vec::new();
    let classes = lines.iter().enumerate().map(|(i, l)| p.push_line(i as u64 + 1, l, &mut out)).collect();
    p.finish(&mut out);
    (out, classes, p.stats().clone())
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let (fast, fast_classes, fast_stats) = run(LogParser::new(), &lines);
    for e in &fast {
        assert!(e.line >= 1 && e.line <= lines.len() as u64, "event on line {} of {}", e.line, lines.len());
    }
    let (full, full_classes, full_stats) = run(LogParser::reference(), &lines);
    assert_eq!(fast_classes, full_classes);
    assert_eq!(fast_stats, full_stats);
    // Debug text, so that a NaN delay compares equal to itself.
    assert_eq!(format!("{fast:?}"), format!("{full:?}"));
    // As one run of lines, the way ingest feeds a chunk.
    let mut run_data = data.to_vec();
    run_data.push(b'\n');
    let (mut out, mut whole_run) = (Vec::new(), Vec::new());
    let mut p = LogParser::new();
    let n = p.push_lines(1, &run_data, &mut out, |o| whole_run.append(o));
    assert_eq!(n, lines.len() as u64);
    p.finish(&mut whole_run);
    assert_eq!(p.stats(), &full_stats);
    assert_eq!(format!("{whole_run:?}"), format!("{full:?}"));
    // In parts, at every record start.
    let mut parts = Vec::new();
    let mut stats = LineStats::default();
    let mut p = LogParser::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 && LogParser::starts_record(l) {
            p.finish(&mut parts);
            stats.add(p.stats());
            p = LogParser::new();
        }
        p.push_line(i as u64 + 1, l, &mut parts);
    }
    p.finish(&mut parts);
    stats.add(p.stats());
    assert_eq!(stats, fast_stats);
    assert_eq!(format!("{parts:?}"), format!("{fast:?}"));
});
