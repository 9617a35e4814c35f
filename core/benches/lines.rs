//! Cost of one line through the log parser, by kind of line: which lines the ingest spends its
//! time on. Each figure is the median of several rounds over the same line repeated, fed as one
//! run of lines (`push_lines`, as ingest feeds a chunk), so it measures the parser's own work,
//! not I/O. Not a test. Instructions per line: run it under callgrind at two values of
//! `LSYNC_BENCH_N` and divide the difference (bench/RESULTS.md has the procedure).
//!
//! `cargo bench -p lsync-core --bench lines`

use lsync_core::{Event, LogParser};
use std::time::Instant;

// As the `lsync` binary: allocation costs are part of a line's cost.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const A: &str = "bafy2bzacebt7qtalxbowrtvyvtzr2aedxqibmrjyjiyaq5inceoc72mtzekyo";

fn main() {
    let lines: Vec<(&str, String)> = vec![
        ("ordinary (mpool)", format!("2021-11-26T09:40:01.438+0800\tINFO\tmpool\tmessagepool/messagepool.go:1043\tmpool add: nonce gap for {A}")),
        ("ordinary (JSON)", format!("{{\"level\":\"info\",\"ts\":\"2021-12-09T20:17:00.911+0800\",\"logger\":\"mpool\",\"caller\":\"messagepool/messagepool.go:1043\",\"msg\":\"mpool add: nonce gap for {A}\"}}")),
        // A record and its continuation lines, as a multi-line error writes them.
        ("error + 2 continuation lines", "2021-11-26T09:40:15.602+0800\tERROR\tevents\tevents/observer.go:66\tfailed to apply tipset: loading state:\n    github.com/filecoin-project/lotus/chain/events.(*observer).applyChanges\n        /lotus/chain/events/observer.go:66".to_string()),
        ("foreign", "[DEBUG]<StorageMiner::1000> deadline 45 open".to_string()),
        ("decoy (worker N done, migration)", "2021-11-26T09:40:02.964+0800\tINFO\tmigration\tmigration/util.go:88\tworker 2 done; took 1.2s".to_string()),
        ("selected_target", format!("2021-11-26T09:40:01.074+0800\tINFO\tchain\tchain/sync_manager.go:236\tselected sync target: [{A}]")),
        ("worker_start", format!("2021-11-26T09:40:01.075+0800\tINFO\tchain\tchain/sync_manager.go:318\tworker 1042 syncing in [{A}]")),
        ("block_validation", "2021-11-26T09:40:01.438+0800\tINFO\tchain\tchain/sync.go:644\tblock validation\t{\"took\": 0.0184, \"height\": \"1319480\", \"age\": 1.374}".to_string()),
        ("new_heaviest", format!("2021-11-26T09:40:01.443+0800\tINFO\tchainstore\tstore/store.go:685\tNew heaviest tipset! [{A}] (height=1319480)")),
        ("worker_done", "2021-11-26T09:40:01.445+0800\tINFO\tchain\tchain/sync_manager.go:326\tworker 1042 done; took 117.831817ms".to_string()),
        ("new_heaviest (JSON)", format!("{{\"level\":\"info\",\"ts\":\"2021-12-09T20:17:01.295+0800\",\"logger\":\"chainstore\",\"caller\":\"store/store.go:685\",\"msg\":\"New heaviest tipset! [{A}] (height=1358194)\"}}")),
    ];
    let n: u64 = std::env::var("LSYNC_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    // `LSYNC_BENCH_LINE=continuation` runs one kind of line (for profiling).
    let only = std::env::var("LSYNC_BENCH_LINE").ok();
    // Entries with `\n` are several physical lines, fed in order; the figure is per entry.
    println!("| line | ns/line |");
    println!("|---|---|");
    for (name, line) in &lines {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        // The line repeated, as one run of lines: what ingest hands the parser.
        let run = format!("{line}\n").repeat(n as usize).into_bytes();
        let mut rounds = Vec::new();
        for _ in 0..5 {
            let mut p = LogParser::new();
            let mut out: Vec<Event> = Vec::with_capacity(1024);
            let t = Instant::now();
            p.push_lines(1, &run, &mut out, |o| o.clear());
            p.finish(&mut out);
            rounds.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
        rounds.sort_by(f64::total_cmp);
        println!("| {name} | {:.0} |", rounds[2]);
    }
}
