//! Ingest pipeline benchmark, stage by stage, in one process:
//!
//! 1. the floor: read the file and split it into lines (what any ingest must do);
//! 2. the parsers alone (LogParser / JournalParser) over those lines;
//! 3. the whole `ingest` into a fresh SQLite file (parse thread + writer).
//!
//! Each stage is printed as MB/s and as a fraction of the floor measured in the same run, so a
//! busy machine moves all figures together. Not a test: nothing here asserts a timing.
//!
//! ```sh
//! cargo bench -p lsync-analyzers --bench pipeline                       # generates ~64 MiB inputs
//! LSYNC_BENCH_LOG=daemon.log LSYNC_BENCH_JOURNAL=journal.ndjson cargo bench -p lsync-analyzers --bench pipeline
//! ```

use lsync_analyzers::ingest::{self, IngestOptions, InputFile, NoProgress};
use lsync_core::{Event, JournalOptions, JournalParser, LogParser};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn lines(data: &[u8], mut f: impl FnMut(u64, &[u8])) {
    let mut n = 0u64;
    let mut pos = 0;
    while let Some(i) = memchr::memchr(b'\n', &data[pos..]) {
        n += 1;
        f(n, &data[pos..pos + i]);
        pos += i + 1;
    }
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1048576.0 / secs.max(1e-9)
}

/// Best of `runs` timings of `f` (the least disturbed one).
fn best(runs: usize, mut f: impl FnMut() -> u64) -> (f64, u64) {
    let mut out = (f64::MAX, 0);
    for _ in 0..runs {
        let t = Instant::now();
        let n = f();
        out = (out.0.min(t.elapsed().as_secs_f64()), n);
    }
    out
}

fn generate(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("daemon.log");
    let journal = dir.join("journal.ndjson");
    if !log.exists() || !journal.exists() {
        std::fs::create_dir_all(dir).unwrap();
        let mut sc = lsync_fixtures::Scenario::new(42, 0, lsync_fixtures::Style::V129Text);
        sc.noise_per_epoch = 40;
        sc.mpool_per_epoch = 10;
        sc.widen_rate = 0.05;
        sc.deep_reorg_rate = 0.002;
        sc.max_blocks = 8;
        sc.json_section = true;
        sc.target_bytes = Some((64 << 20, 64 << 20));
        let w = |p: &Path| std::io::BufWriter::new(std::fs::File::create(p).unwrap());
        lsync_fixtures::generate(&sc, w(&log), w(&journal)).unwrap();
    }
    (log, journal)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not use.
    let tmp = std::env::temp_dir().join("lsync-bench-pipeline");
    let (glog, gjournal) = generate(&tmp.join("data"));
    let log = std::env::var_os("LSYNC_BENCH_LOG").map(PathBuf::from).unwrap_or(glog);
    let journal = std::env::var_os("LSYNC_BENCH_JOURNAL").map(PathBuf::from).unwrap_or(gjournal);
    let runs: usize = std::env::var("LSYNC_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    // `LSYNC_BENCH_ONLY=log-parse` (or journal-parse, log-ingest, …) runs one stage: for profiling.
    let only = std::env::var("LSYNC_BENCH_ONLY").ok();
    let want = |input: &str, stage: &str| only.as_deref().is_none_or(|o| o == format!("{input}-{stage}"));
    println!("| input | stage | MB/s | vs. split | detail |");
    println!("|---|---|---|---|---|");
    for (name, path, is_log) in [("log", &log, true), ("journal", &journal, false)] {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (split_s, n_lines) = best(runs, || {
            let mut n = 0;
            lines(&data, |_, l| n += l.len() as u64 & 1);
            n
        });
        let _ = n_lines;
        println!("| {name} | read + split lines | {:.0} | 1.00 | {} MiB |", mbps(data.len(), split_s), data.len() >> 20);
        if want(name, "parse") {
        let (parse_s, n_events) = best(runs, || {
            let mut out: Vec<Event> = Vec::with_capacity(4096);
            let mut n = 0u64;
            if is_log {
                // As ingest feeds it: the whole run at once (its facts are checked once).
                let mut p = LogParser::new();
                p.push_lines(1, &data, &mut out, |out| {
                    if out.len() >= 4096 {
                        n += out.len() as u64;
                        out.clear();
                    }
                });
                p.finish(&mut out);
            } else {
                let mut p = JournalParser::new(JournalOptions::default());
                lines(&data, |no, l| {
                    p.push_line(no, l, &mut out);
                    if out.len() >= 4096 {
                        n += out.len() as u64;
                        out.clear();
                    }
                });
                p.finish(&mut out);
            }
            n + out.len() as u64
        });
        println!(
            "| {name} | parse | {:.0} | {:.2} | {:.2} M events/s ({n_events} events) |",
            mbps(data.len(), parse_s),
            split_s / parse_s,
            n_events as f64 / parse_s / 1e6
        );
        }
        if !want(name, "ingest") {
            continue;
        }
        let (ingest_s, stored) = best(runs, || {
            let db = tmp.join(format!("{name}.db"));
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
            }
            let mut conn = lsync_analyzers::open(&db).unwrap();
            let opts = IngestOptions { node: "bench".into(), ..Default::default() };
            let r = ingest::ingest(&mut conn, &[InputFile { path: path.to_path_buf() }], &opts, &mut NoProgress).unwrap();
            r.events
        });
        println!("| {name} | ingest (parse ∥ write) | {:.0} | {:.2} | {stored} events stored |", mbps(data.len(), ingest_s), split_s / ingest_s);
    }
}
