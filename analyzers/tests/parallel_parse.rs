//! Files cut into many chunks and parsed by several threads store exactly what one parser
//! reading the whole file stores: the same events (every field), counters and checkpoints.

use lsync_analyzers::ingest::{self, IngestOptions, InputFile, NoProgress};
use lsync_analyzers::query::{self, Filter};
use lsync_fixtures::{generate, Scenario, Style};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsync-par-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Everything a report can see of a database, as text.
fn snapshot(db: &Path) -> String {
    let conn = lsync_analyzers::open(db).unwrap();
    let events = query::events(&conn, &Filter { all_kinds: true, ..Default::default() }).unwrap();
    let mut out: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
    let summary = query::summary(&conn, None).unwrap();
    out.push(serde_json::to_string(&summary).unwrap());
    let reorgs = query::reorgs(&conn, 0, 0, &Filter::default()).unwrap();
    out.push(format!("{reorgs:?}"));
    let mut stmt = conn.prepare("SELECT path, byte_offset, next_line, lines, blank, other_records, continuation_lines, events, malformed, unknown FROM sources ORDER BY id").unwrap();
    let rows = stmt
        .query_map([], |r| Ok(format!("{:?}", (r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?, r.get::<_, i64>(7)?, r.get::<_, i64>(8)?, r.get::<_, i64>(9)?))))
        .unwrap();
    out.extend(rows.map(|r| r.unwrap()));
    out.join("\n")
}

fn ingest(db: &Path, files: &[PathBuf], threads: usize, chunk_bytes: usize) {
    let mut conn = lsync_analyzers::open(db).unwrap();
    let opts = IngestOptions { node: "n".into(), keep_raw: true, parse_threads: Some(threads), chunk_bytes: Some(chunk_bytes), batch_bytes: None, force_text: false };
    let inputs: Vec<InputFile> = files.iter().map(|p| InputFile { path: p.clone() }).collect();
    ingest::ingest(&mut conn, &inputs, &opts, &mut NoProgress).unwrap();
}

#[test]
fn many_chunks_on_many_threads_store_what_one_parser_stores() {
    for style in [Style::Pasted, Style::V09Legacy, Style::V111Colour, Style::Syslog] {
        let dir = tmp(style.name());
        let mut sc = Scenario::new(11, 700, style);
        sc.noise_per_epoch = 20;
        sc.mpool_per_epoch = 6;
        sc.json_section = true;
        let (log, journal) = (dir.join("daemon.log"), dir.join("lotus-journal.ndjson"));
        let w = |p: &Path| std::io::BufWriter::new(std::fs::File::create(p).unwrap());
        generate(&sc, w(&log), w(&journal)).unwrap();
        let files = vec![log.clone(), journal.clone()];
        let one = dir.join("one.db");
        ingest(&one, &files, 1, usize::MAX / 2);
        let many = dir.join("many.db");
        ingest(&many, &files, 3, 8 * 1024);
        // Chunks smaller than the few bytes a chunk may start into its buffer (reads are aligned).
        let tiny = dir.join("tiny.db");
        ingest(&tiny, &files, 2, 16);
        let a = snapshot(&one);
        assert!(a.lines().count() > 2000, "{style:?}: too little data to cut");
        for (name, b) in [("8 KiB", snapshot(&many)), ("16 B", snapshot(&tiny))] {
            if a != b {
                let first = a.lines().zip(b.lines()).position(|(x, y)| x != y);
                panic!("{style:?}, chunks of {name}: first difference at row {first:?}:\n{:?}\n{:?}", first.map(|i| a.lines().nth(i)), first.map(|i| b.lines().nth(i)));
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
