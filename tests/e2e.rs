//! End-to-end tests: drive the `lsync` binary on generated and bundled data.

mod common;

use common::{lsync, lsync_raw, root, TempDir};
use lsync_fixtures::{generate, Answers, Scenario, Style};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

fn write_scenario(dir: &Path, sc: &Scenario) -> Answers {
    std::fs::create_dir_all(dir.join("journal")).unwrap();
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let j = std::fs::File::create(dir.join("journal/lotus-journal.ndjson")).unwrap();
    generate(sc, std::io::BufWriter::new(log), std::io::BufWriter::new(j)).unwrap()
}

fn counts_by_kind(rows: &[Value]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r["kind"].as_str().unwrap().to_string()).or_default() += 1;
    }
    m
}

/// The operators' jq filter, implemented independently over the raw journal files:
/// `select(.Event == "head_change" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)`.
fn jq_equivalent(journal_dir: &Path) -> Vec<Value> {
    let mut names: Vec<_> = std::fs::read_dir(journal_dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort(); // the shell glob order jq would see
    let mut out = Vec::new();
    for p in names {
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["Event"] == "head_change" && v["Data"]["ApplyCount"].as_i64().unwrap() > 1 && v["Data"]["RevertCount"].as_i64().unwrap() > 0 {
                out.push(v);
            }
        }
    }
    out
}

fn cids_of(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|c| c["/"].as_str().map(str::to_string).unwrap_or_else(|| c.as_str().unwrap().to_string())).collect()
}

#[test]
fn every_style_finds_exactly_the_known_events() {
    let tmp = TempDir::new("styles");
    for (i, style) in Style::ALL.into_iter().enumerate() {
        let mut sc = Scenario::new(100 + i as u64, 80, style);
        sc.deep_reorg_rate = 0.08;
        sc.offset_secs = [8, -7, 0, 9, -3, 1, 5][i] * 3600;
        let dir = tmp.join(style.name());
        let answers = write_scenario(&dir, &sc);
        let db = tmp.join("styles.db");
        lsync(&db, &["ingest", "-q", dir.to_str().unwrap(), "--node", style.name()]).ok();
        let rows = lsync(&db, &["events", "--all", "--json", "--node", style.name()]).ok().json_lines();
        let got = counts_by_kind(&rows);
        let mut want: BTreeMap<String, u64> = answers.log_events.clone();
        want.insert("head_change".into(), answers.journal_head_changes);
        want.insert("journal_other".into(), answers.journal_other);
        if answers.unknown_lines > 0 {
            want.insert("unknown".into(), answers.unknown_lines);
        }
        assert_eq!(got, want, "style {}", style.name());
        // Late miners come out with their counts.
        let miners = lsync(&db, &["miners", "--json", "--node", style.name()]).ok().json_lines();
        let got_late: BTreeMap<String, u64> = miners.iter().map(|m| (m["miner"].as_str().unwrap().to_string(), m["late_blocks"].as_u64().unwrap())).collect();
        assert_eq!(got_late, answers.late_by_miner, "style {}", style.name());
        // Reorgs equal the generator's list and the jq filter.
        let reorgs = lsync(&db, &["reorgs", "--json", "--node", style.name()]).ok().json_lines();
        assert_eq!(reorgs.len(), answers.deep_reorgs.len(), "style {}", style.name());
        for (r, e) in reorgs.iter().zip(&answers.deep_reorgs) {
            let e_change = &e.change;
            assert_eq!(cids_of(&r["from"]), e_change.from);
            assert_eq!(cids_of(&r["to"]), e_change.to);
            assert_eq!((r["from_height"].as_i64().unwrap(), r["to_height"].as_i64().unwrap()), (e_change.from_height, e_change.to_height));
            assert_eq!((r["revert_count"].as_i64().unwrap(), r["apply_count"].as_i64().unwrap()), (e_change.revert_count, e_change.apply_count));
            assert_eq!(r["class"], e.class);
        }
        let jq = jq_equivalent(&dir.join("journal"));
        assert_eq!(jq.len(), reorgs.len());
        for (r, j) in reorgs.iter().zip(&jq) {
            assert_eq!(cids_of(&r["from"]), cids_of(&j["Data"]["From"]));
            assert_eq!(cids_of(&r["to"]), cids_of(&j["Data"]["To"]));
            assert_eq!(r["ts"].as_str().unwrap(), j["Timestamp"].as_str().unwrap());
        }
    }
}

#[test]
fn reorgs_equal_real_jq_when_installed() {
    let Ok(out) = std::process::Command::new("jq").arg("--version").output() else {
        eprintln!("jq not installed; the jq-equivalent check in every_style_finds_exactly_the_known_events still runs");
        return;
    };
    assert!(out.status.success());
    let tmp = TempDir::new("jq");
    let db = tmp.join("jq.db");
    let repo = root().join("fixtures/generated/v1.29-text");
    lsync(&db, &["ingest", "-q", "fixtures/generated/v1.29-text"]).ok();
    let ours = lsync(&db, &["reorgs", "--json"]).ok().json_lines();
    let mut files: Vec<_> = std::fs::read_dir(repo.join("journal")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let jq = std::process::Command::new("jq")
        .arg("-c")
        .arg("select(.Event == \"head_change\" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)")
        .args(&files)
        .output()
        .unwrap();
    let theirs: Vec<Value> = String::from_utf8(jq.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!theirs.is_empty());
    assert_eq!(ours.len(), theirs.len());
    for (r, j) in ours.iter().zip(&theirs) {
        assert_eq!(cids_of(&r["to"]), cids_of(&j["Data"]["To"]));
        assert_eq!(r["revert_count"], j["Data"]["RevertCount"]);
        assert_eq!(r["ts"], j["Timestamp"]);
    }
}

fn total_events(db: &Path) -> u64 {
    let s = lsync(db, &["summary", "--json"]).ok().json();
    s["by_kind"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
}

#[test]
fn ingesting_twice_adds_nothing() {
    let tmp = TempDir::new("twice");
    let db = tmp.join("t.db");
    lsync(&db, &["ingest", "-q", "fixtures/generated/v1.29-text", "fixtures/logs"]).ok();
    let first = total_events(&db);
    let events1 = lsync(&db, &["events", "--all", "--json"]).ok().stdout;
    let again = lsync(&db, &["ingest", "--json", "fixtures/generated/v1.29-text", "fixtures/logs"]).ok().json();
    assert_eq!(again["events"], 0);
    assert!(again["files"].as_array().unwrap().iter().all(|f| f["status"] == "unchanged"), "{again}");
    assert_eq!(total_events(&db), first);
    assert_eq!(lsync(&db, &["events", "--all", "--json"]).ok().stdout, events1);
}

#[test]
fn appended_lines_are_picked_up_and_equal_one_full_run() {
    let tmp = TempDir::new("append");
    let full = std::fs::read_to_string(root().join("fixtures/generated/v1.11-colour/daemon.log")).unwrap();
    let lines: Vec<&str> = full.split_inclusive('\n').collect();
    let log = tmp.join("daemon.log");
    let db = tmp.join("a.db");
    // Three runs over a growing file, cut at arbitrary lines (inside multi-line records too).
    let cuts = [lines.len() / 3, lines.len() / 3 + 1, lines.len() * 2 / 3, lines.len()];
    let mut written = 0;
    for &cut in &cuts {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        f.write_all(lines[written..cut].concat().as_bytes()).unwrap();
        written = cut;
        lsync(&db, &["ingest", "-q", log.to_str().unwrap()]).ok();
    }
    let db_full = tmp.join("full.db");
    lsync(&db_full, &["ingest", "-q", log.to_str().unwrap()]).ok();
    let a = lsync(&db, &["events", "--all", "--json"]).ok().stdout;
    let b = lsync(&db_full, &["events", "--all", "--json"]).ok().stdout;
    assert_eq!(a.lines().count(), b.lines().count());
    assert_eq!(a, b);
}

#[test]
fn a_torn_last_line_waits_for_the_next_run() {
    let tmp = TempDir::new("torn");
    let j = tmp.join("journal");
    std::fs::create_dir_all(&j).unwrap();
    let full = std::fs::read_to_string(root().join("fixtures/generated/v1.29-text/journal/lotus-journal.ndjson")).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    let current = j.join("lotus-journal.ndjson");
    let head: String = lines[..10].iter().map(|l| format!("{l}\n")).collect();
    let half = &lines[10][..lines[10].len() / 2];
    std::fs::write(&current, format!("{head}{half}")).unwrap();
    let db = tmp.join("t.db");
    let r = lsync(&db, &["ingest", "--json", tmp.path().to_str().unwrap()]).ok().json();
    assert_eq!(r["files"][0]["torn_line"], 11, "{r}");
    assert_eq!(r["malformed"], 0);
    assert_eq!(r["events"], 10);
    // Human output says so too.
    std::fs::write(&current, format!("{head}{half}")).unwrap();
    // Lotus finishes the line and writes another.
    std::fs::write(&current, format!("{head}{}\n{}\n", lines[10], lines[11])).unwrap();
    let r = lsync(&db, &["ingest", "--json", tmp.path().to_str().unwrap()]).ok().json();
    assert_eq!(r["events"], 2, "{r}");
    assert_eq!(r["malformed"], 0);
    assert_eq!(total_events(&db), 12);
}

#[test]
fn a_rolled_journal_is_recognised_not_duplicated() {
    let tmp = TempDir::new("roll");
    let j = tmp.join("repo/journal");
    std::fs::create_dir_all(&j).unwrap();
    let full = std::fs::read_to_string(root().join("fixtures/generated/v1.4-legacy/journal/lotus-journal.ndjson")).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    let part = |a: usize, b: usize| lines[a..b].iter().map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(j.join("lotus-journal.ndjson"), part(0, 40)).unwrap();
    let db = tmp.join("r.db");
    let repo = tmp.join("repo");
    lsync(&db, &["ingest", "-q", repo.to_str().unwrap()]).ok();
    // Lotus restarts: renames the current file after the roll time, opens a new one.
    std::fs::rename(j.join("lotus-journal.ndjson"), j.join("lotus-journal-2021-11-26T100000+0800.ndjson")).unwrap();
    std::fs::write(j.join("lotus-journal.ndjson"), part(40, lines.len())).unwrap();
    let r = lsync(&db, &["ingest", "--json", repo.to_str().unwrap()]).ok().json();
    let statuses: Vec<&str> = r["files"].as_array().unwrap().iter().map(|f| f["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["renamed", "new"]);
    assert_eq!(total_events(&db), lines.len() as u64);
    // Reorgs still come out in journal order and match a one-shot ingest of the whole journal.
    let db2 = tmp.join("r2.db");
    lsync(&db2, &["ingest", "-q", "fixtures/generated/v1.4-legacy/journal"]).ok();
    let strip = |rows: Vec<Value>| rows.into_iter().map(|mut v| { v.as_object_mut().unwrap().remove("file"); v.as_object_mut().unwrap().remove("line"); v }).collect::<Vec<_>>();
    assert_eq!(strip(lsync(&db, &["reorgs", "--json"]).ok().json_lines()), strip(lsync(&db2, &["reorgs", "--json"]).ok().json_lines()));
}

#[test]
fn compressed_files_read_like_plain_ones() {
    let tmp = TempDir::new("gz");
    let plain = std::fs::read(root().join("fixtures/generated/v1.26-json/daemon.log")).unwrap();
    let gz = tmp.join("daemon.log.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&plain).unwrap();
    enc.finish().unwrap();
    let zst = tmp.join("daemon.log.zst");
    std::fs::write(&zst, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
    let mut outputs = Vec::new();
    for (name, p) in [("plain", root().join("fixtures/generated/v1.26-json/daemon.log")), ("gz", gz), ("zst", zst)] {
        let db = tmp.join(&format!("{name}.db"));
        let r = lsync(&db, &["ingest", "--json", p.to_str().unwrap()]).ok().json();
        assert_eq!(r["files"][0]["compression"], if name == "plain" { Value::Null } else { Value::from(name) });
        let mut rows = lsync(&db, &["events", "--all", "--json"]).ok().json_lines();
        for r in &mut rows {
            r.as_object_mut().unwrap().remove("file");
        }
        outputs.push(rows);
        // A second run over a compressed file adds nothing.
        let again = lsync(&db, &["ingest", "--json", p.to_str().unwrap()]).ok().json();
        assert_eq!(again["events"], 0, "{name}: {again}");
    }
    assert!(!outputs[0].is_empty());
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

#[test]
fn trace_follows_a_late_block_and_an_orphaned_block() {
    let tmp = TempDir::new("trace");
    let db = tmp.join("t.db");
    lsync(&db, &["ingest", "-q", "fixtures/generated/v1.29-text"]).ok();
    let answers: Value = serde_json::from_str(&std::fs::read_to_string(root().join("fixtures/generated/v1.29-text/answers.json")).unwrap()).unwrap();
    let late = answers["late_block"].as_str().unwrap();
    let t = lsync(&db, &["trace", late, "--json"]).ok().json();
    let stages: Vec<&str> = t["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(&stages[..2], &["delay_warning", "selected_target"], "{stages:?}");
    for s in ["worker_start", "worker_done", "new_heaviest"] {
        assert!(stages.contains(&s), "{s} missing in {stages:?}");
    }
    assert!(stages.iter().any(|s| s.starts_with("journal_")), "{stages:?}");
    let orphan = answers["orphaned"][0].as_str().unwrap();
    let t = lsync(&db, &["trace", orphan, "--json"]).ok().json();
    let stages: Vec<&str> = t["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages.last(), Some(&"journal_revert"), "{stages:?}");
    // Latencies are measured between stages.
    assert!(t["stages"][1]["since_prev_ms"].as_f64().unwrap() >= 0.0);
}

#[test]
fn errors_are_one_clear_sentence_and_nonzero() {
    let tmp = TempDir::new("errors");
    let db = tmp.join("e.db");
    let r = lsync(&db, &["summary"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no database at"), "{}", r.stderr);
    lsync(&db, &["ingest", "-q", "fixtures/logs/mixed-versions.log"]).ok();
    let r = lsync(&db, &["trace", "bafy-not-a-cid"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("is not a valid CID"), "{}", r.stderr);
    // A valid CID that is not in the database but shares a long prefix with one that is.
    let known = "bafy2bzacednhp3ypdh3dokrnu6bnc4fn6gfcrl5gcaskxspufqc3mti7nl62m";
    let c = cid::Cid::try_from(known).unwrap();
    let mut digest = c.hash().digest().to_vec();
    *digest.last_mut().unwrap() ^= 0xff;
    let other = cid::Cid::new_v1(0x71, cid::multihash::Multihash::<64>::wrap(0xb220, &digest).unwrap()).to_string();
    let r = lsync(&db, &["trace", &other]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("no events name"), "{}", r.stderr);
    assert!(r.stderr.contains(known), "{}", r.stderr);
    let r = lsync(&db, &["ingest", "no/such/file.log"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no/such/file.log") && r.stderr.contains("no such file"), "{}", r.stderr);
    let r = lsync(&db, &["events", "--kind", "selected"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown event kind"), "{}", r.stderr);
    let r = lsync(&db, &["events", "--since", "yesterday"]);
    assert_eq!(r.code, 1);
    let r = lsync_raw(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("lsync ingest"), "{}", r.stdout);
}

#[test]
fn events_filters_by_cid_kind_node_and_time() {
    let tmp = TempDir::new("filters");
    let db = tmp.join("f.db");
    lsync(&db, &["ingest", "-q", "fixtures/logs/mixed-versions.log", "--node", "a"]).ok();
    lsync(&db, &["ingest", "-q", "fixtures/generated/v1.29-text", "--node", "b"]).ok();
    let c = "bafy2bzacebvejsv3inwpbdhextyrllbodv6atccog4j3ju7xr6p2gngrvnwbq";
    let rows = lsync(&db, &["events", "--cid", c, "--json"]).ok().json_lines();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["selected_deferred_target", "new_heaviest"]);
    let rows = lsync(&db, &["events", "--kind", "worker_done", "--node", "a", "--json"]).ok().json_lines();
    assert_eq!(rows.len(), 3);
    let rows = lsync(&db, &["events", "--node", "a", "--since", "2025-03-02T01:03:00Z", "--until", "2025-03-02T01:03:05Z", "--json"]).ok().json_lines();
    assert_eq!(rows.len(), 6, "{rows:#?}");
    let csv = lsync(&db, &["events", "--kind", "block_delay", "--node", "a", "--csv"]).ok().stdout;
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.starts_with("kind,ts,node,file,line,"));
}

#[test]
fn inspect_car_finds_both_genesis_blocks_and_rejects_garbage() {
    let tmp = TempDir::new("car");
    for (file, root, ts) in [
        ("fixtures/lotus/lotus-genesis-mainnet.car.zst", "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2", 1598306400),
        ("fixtures/lotus/lotus-genesis-calibnet.car.zst", "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4", 1667326380),
    ] {
        let r = lsync_raw(&["inspect", "car", file, "--json"]).ok().json();
        assert_eq!(r["roots"][0], root);
        assert_eq!(r["headers"].as_array().unwrap().len(), 1);
        assert_eq!(r["headers"][0]["cid"], root);
        assert_eq!(r["headers"][0]["height"], 0);
        assert_eq!(r["headers"][0]["timestamp"], ts);
    }
    let r = lsync_raw(&["inspect", "car", "fixtures/lotus/forest-export40.car", "--json"]).ok().json();
    let h = r["headers"].as_array().unwrap();
    assert_eq!(h.len(), 49);
    let h39: Vec<&Value> = h.iter().filter(|x| x["height"] == 39).collect();
    assert_eq!(h39[0]["parent_weight"], "514290");
    assert_eq!(h39[0]["parents"][0], "bafy2bzacedlgv5y67neipi4nlhjxmh74qeb4l5s6bm4uup2tvr7ztyo2vh2rs");
    // A truncated CAR is an error naming the file, not a panic.
    let cut = tmp.join("cut.car");
    std::fs::write(&cut, &std::fs::read(root().join("fixtures/lotus/forest-export40.car")).unwrap()[..100_000]).unwrap();
    let r = lsync_raw(&["inspect", "car", cut.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cut.car") && r.stderr.contains("not a valid CAR"), "{}", r.stderr);
}

#[test]
fn an_over_long_line_is_reported_not_buffered_whole() {
    let tmp = TempDir::new("longline");
    let log = tmp.join("daemon.log");
    let head = std::fs::read_to_string(root().join("fixtures/logs/mixed-versions.log")).unwrap();
    // 12 MiB of garbage on one line between two copies of a real log.
    let mut f = std::fs::File::create(&log).unwrap();
    f.write_all(head.as_bytes()).unwrap();
    f.write_all(&vec![b'x'; 12 << 20]).unwrap();
    f.write_all(b"\n").unwrap();
    f.write_all(head.as_bytes()).unwrap();
    drop(f);
    let db = tmp.join("l.db");
    let r = lsync(&db, &["ingest", "--json", log.to_str().unwrap()]).ok().json();
    let lines = head.lines().count() as u64;
    assert_eq!(r["lines"], lines * 2 + 1);
    assert_eq!(r["files"][0]["bytes"], std::fs::metadata(&log).unwrap().len());
    let unknown = lsync(&db, &["events", "--kind", "unknown", "--json"]).ok().json_lines();
    assert!(unknown.iter().any(|e| e["line"] == lines + 1), "{unknown:?}");
    // Both copies parsed: twice the events of one.
    let ev = lsync(&db, &["events", "--json"]).ok().json_lines();
    assert_eq!(ev.len() % 2, 0);
    assert!(!ev.is_empty());
}

/// Where the reader cuts a file into chunks must not change what is stored: records cut short
/// at random points (a header cut right after its caller, an unclosed CID list, …), lines just
/// under, at and over the 4 MiB line limit, CRLF line ends and an unterminated last line, read
/// with 4 MiB, 64 KiB and 1 KB chunks (a regression test of the header-cache fix, and of the
/// reader's cuts, which read straight into chunk buffers).
#[test]
fn chunk_size_does_not_change_what_is_stored() {
    let tmp = TempDir::new("chunks");
    let log = tmp.join("daemon.log");
    let head = std::fs::read(root().join("fixtures/logs/mixed-versions.log")).unwrap();
    let mut f = std::fs::File::create(&log).unwrap();
    let mut seed = 7u64;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    for i in 0..400 {
        f.write_all(&head[..next(head.len())]).unwrap();
        f.write_all(b"\n").unwrap();
        if i % 100 == 50 {
            let long = [(4 << 20) - 1, 4 << 20, (4 << 20) + 1][i / 100 % 3];
            f.write_all(&vec![b'x'; long]).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    f.write_all(&String::from_utf8_lossy(&head).replace('\n', "\r\n").into_bytes()).unwrap();
    f.write_all(b"2025-03-02T10:00:00.101+0900\tINFO\tchain\tchain/sync_manager.go:3").unwrap();
    drop(f);
    let mut results = Vec::new();
    for chunk in ["4194304", "65536", "1000"] {
        let db = tmp.join(&format!("c{chunk}.db"));
        let r = lsync(&db, &["ingest", "--json", "--chunk-bytes", chunk, log.to_str().unwrap()]).ok().json();
        let events = lsync(&db, &["events", "--all", "--json"]).ok().json_lines();
        results.push((r["lines"].clone(), r["files"][0]["bytes"].clone(), r["files"][0]["torn_line"].clone(), events));
    }
    assert!(results[0].3.len() > 1000, "{}", results[0].3.len());
    assert!(results[0].2.is_u64(), "the unterminated last line waits: {:?}", results[0].2);
    assert_eq!(results[0], results[1], "64 KiB chunks");
    assert_eq!(results[0], results[2], "1 KB chunks");
}

/// logrotate's `copytruncate`: the log is copied aside and cut to nothing, and the daemon goes on
/// writing into it. The copy is recognised as the file already read (same first bytes), the
/// rewritten file as a new one: every line of both is stored once.
#[test]
fn a_truncated_and_rewritten_log_is_read_again_and_its_copy_is_not() {
    let tmp = TempDir::new("truncate");
    let full = std::fs::read_to_string(root().join("fixtures/generated/v1.29-text/daemon.log")).unwrap();
    let lines: Vec<&str> = full.split_inclusive('\n').collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let log = tmp.join("daemon.log");
    let db = tmp.join("t.db");
    std::fs::write(&log, first.concat()).unwrap();
    lsync(&db, &["ingest", "-q", log.to_str().unwrap()]).ok();
    // Rotate: copy, truncate, and new lines (the second half) arrive in the same path.
    let rotated = tmp.join("daemon.log.1");
    std::fs::copy(&log, &rotated).unwrap();
    std::fs::write(&log, second.concat()).unwrap();
    let r = lsync(&db, &["ingest", "--json", log.to_str().unwrap(), rotated.to_str().unwrap()]).ok().json();
    let status: Vec<&str> = r["files"].as_array().unwrap().iter().map(|f| f["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["new", "renamed"], "{r}");
    // Everything once: the same events as one file holding both halves.
    let whole = tmp.join("whole.log");
    std::fs::write(&whole, full.as_bytes()).unwrap();
    let db_whole = tmp.join("w.db");
    lsync(&db_whole, &["ingest", "-q", whole.to_str().unwrap()]).ok();
    let strip = |out: String| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .map(|l| {
                let mut e: Value = serde_json::from_str(l).unwrap();
                let o = e.as_object_mut().unwrap();
                o.remove("file");
                o.remove("line");
                e.to_string()
            })
            .collect();
        v.sort();
        v
    };
    let got = strip(lsync(&db, &["events", "--all", "--json"]).ok().stdout);
    let want = strip(lsync(&db_whole, &["events", "--all", "--json"]).ok().stdout);
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // A file cut shorter than what was read (truncated in place, not rotated) starts over.
    std::fs::write(&rotated, &first.concat().as_bytes()[..first.concat().len() / 2]).unwrap();
    let r = lsync(&db, &["ingest", "--json", rotated.to_str().unwrap()]).ok().json();
    assert_eq!(r["files"][0]["status"], "truncated", "{r}");
}

/// `--keep-raw` keeps journal records' `Data`, and `events --json` prints it as JSON.
#[test]
fn keep_raw_data_is_printed_as_json() {
    let tmp = TempDir::new("keep-raw");
    let (with, without) = (tmp.join("with.db"), tmp.join("without.db"));
    let sample = "fixtures/samples/lotus-docs-miner-journal.ndjson";
    lsync(&with, &["ingest", "-q", "--keep-raw", sample]).ok();
    lsync(&without, &["ingest", "-q", sample]).ok();
    let rows = lsync(&with, &["events", "--all", "--json"]).ok().json_lines();
    let mined = rows.iter().find(|r| r["text"] == "miner:block_mined").expect("a block_mined record");
    assert_eq!(mined["data"]["epoch"], 31437, "{mined}");
    let rows = lsync(&without, &["events", "--all", "--json"]).ok().json_lines();
    assert!(rows.iter().all(|r| r.get("data").is_none()));
}

/// Regression (issue 12): `trace` named a same-height replacement `journal_widen` by its counts
/// alone while `reorgs` called the same record `sibling`. Both now read the one classification.
#[test]
fn trace_and_reorgs_classify_every_head_change_alike() {
    let [a, b, c, d, e] = [
        "bafy2bzacebgulhh7zvqqu5gyc7wbnobwgm5wbxb4bzlbbzwgzreo5kjpspbyc",
        "bafy2bzacecnjqlgfj53ktblghxhmf6je6jndywzdrqkoq4bbmbq6hnbwv4tqm",
        "bafy2bzaced2pwtrvt3gr45iudmgyy3jdcdo5lbkj5sehlgzncymdqgbf6rcw4",
        "bafy2bzacec7txmumlzrzbgq3w6xrhz6g6s2vl3kk553a7nmxxlrnjuz3tzhna",
        "bafy2bzacec6krvs2ndixhmf2avhrjv33g3u36avtbvhe3crh5vgiodlbxyuh4",
    ];
    let key = |cids: &[&str]| cids.iter().map(|c| format!("{{\"/\":\"{c}\"}}")).collect::<Vec<_>>().join(",");
    let rec = |sec: u32, from: &[&str], fh: i64, to: &[&str], th: i64, rc: i64, ac: i64| {
        format!(
            "{{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"2026-11-24T05:00:{sec:02}.5Z\",\"Data\":{{\"From\":[{}],\"FromHeight\":{fh},\"To\":[{}],\"ToHeight\":{th},\"RevertCount\":{rc},\"ApplyCount\":{ac}}}}}\n",
            key(from),
            key(to)
        )
    };
    // extend, widen (a late block joins), sibling (same height, a different tipset), reorg.
    let journal = [rec(1, &[a], 10, &[b], 11, 0, 1), rec(2, &[b], 11, &[b, c], 11, 1, 1), rec(3, &[b, c], 11, &[d], 11, 1, 1), rec(4, &[d], 11, &[e], 12, 2, 2)].concat();
    let tmp = TempDir::new("classes");
    std::fs::create_dir_all(tmp.join("n/journal")).unwrap();
    std::fs::write(tmp.join("n/journal/lotus-journal.ndjson"), journal).unwrap();
    let db = tmp.join("c.db");
    lsync(&db, &["ingest", "-q", tmp.join("n").to_str().unwrap()]).ok();
    let rows = lsync(&db, &["reorgs", "--min-apply", "0", "--min-revert", "0", "--json"]).ok().json_lines();
    let classes: Vec<&str> = rows.iter().map(|r| r["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["extend", "widen", "sibling", "reorg"]);
    for (cid, stage) in [(b, "journal_apply"), (c, "journal_widen"), (d, "journal_sibling"), (e, "journal_apply")] {
        let t = lsync(&db, &["trace", cid, "--json"]).ok().json();
        let stages: Vec<&str> = t["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
        assert_eq!(stages.first(), Some(&stage), "{cid}: {stages:?}");
    }
}

/// A journal shaped like a real full node's (almost all head changes, chained tipsets of ~4.5
/// blocks, widen/sibling/reorg in mainnet's proportions): ingest finds every head change with
/// the generator's class, and `reorgs` equals the operators' jq filter.
#[test]
fn a_full_nodes_journal_is_read_with_every_class_and_reorg() {
    use lsync_fixtures::node_journal::{generate_node_journal, NodeJournal, NodeKind};
    let tmp = TempDir::new("full-node-journal");
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(dir.join("journal")).unwrap();
    let mut p = NodeJournal::new(11, NodeKind::FullNode);
    p.epochs = 6_000;
    let file = std::fs::File::create(dir.join("journal/lotus-journal.ndjson")).unwrap();
    let answers = generate_node_journal(&p, std::io::BufWriter::new(file)).unwrap();
    let db = tmp.path().join("db");
    let report = lsync(&db, &["ingest", "--json", dir.to_str().unwrap()]).ok().json();
    assert_eq!(report["malformed"], 0);
    assert_eq!(report["by_kind"]["head_change"].as_u64().unwrap(), answers.journal_head_changes);
    let summary = lsync(&db, &["summary", "--json"]).ok().json();
    let classes: BTreeMap<String, u64> = serde_json::from_value(summary["reorg_classes"].clone()).unwrap();
    // The summary counts classes of head changes that reverted something; extends are the rest.
    for class in ["widen", "sibling", "reorg"] {
        assert_eq!(classes.get(class).copied().unwrap_or(0), answers.classes.get(class).copied().unwrap_or(0), "{class}: {classes:?} vs {:?}", answers.classes);
    }
    let reorgs = lsync(&db, &["reorgs", "--json"]).ok().json_lines();
    assert_eq!(reorgs.len(), answers.deep_reorgs.len());
    assert_eq!(reorgs.len(), jq_equivalent(&dir.join("journal")).len());
    assert!(!reorgs.is_empty(), "the journal has deep reorgs");
}

/// Stages of one instant go in pipeline order, not file-name order: the arrival (here in a
/// file that sorts last) caused the target, the worker and the new head, logged in the same
/// millisecond.
#[test]
fn trace_orders_same_instant_stages_by_the_pipeline() {
    let tmp = TempDir::new("same-ms-trace");
    let cid = "bafy2bzacecnjqlgfj53ktblghxhmf6je6jndywzdrqkoq4bbmbq6hnbwv4tqm";
    let peer = "12D3KooWBF8cpp65hp2u9LK5mh19x67ftAam84z9LsfaquTDSBpt";
    let t = "2024-06-23T12:16:01.400Z";
    let a = tmp.path().join("a-daemon.log");
    std::fs::write(
        &a,
        format!(
            "{t}\tINFO\tchain\tchain/sync_manager.go:236\tselected sync target: [{cid}]\n\
             {t}\tINFO\tchain\tchain/sync_manager.go:318\tworker 7 syncing in [{cid}]\n\
             {t}\tINFO\tchainstore\tstore/store.go:685\tNew heaviest tipset! [{cid}] (height=5031)\n\
             {t}\tINFO\tchain\tchain/sync_manager.go:326\tworker 7 done; took 102.825µs\n"
        ),
    )
    .unwrap();
    let z = tmp.path().join("z-daemon.log");
    std::fs::write(&z, format!("{t}\tDEBUG\tsub\tsub/incoming.go:101\tnew block over pubsub\t{{\"cid\": \"{cid}\", \"source\": \"{peer}\", \"msgfetch\": 0.00125}}\n")).unwrap();
    let db = tmp.path().join("db");
    lsync(&db, &["ingest", "-q", a.to_str().unwrap(), z.to_str().unwrap(), "--node", "n"]).ok();
    let trace = lsync(&db, &["trace", cid, "--json"]).ok().json();
    let stages: Vec<&str> = trace["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["arrival", "selected_target", "worker_start", "new_heaviest", "worker_done"], "{trace}");
}

/// Hostile bytes: a binary file is skipped with a sentence (the other files are read, exit 0)
/// unless --force-text; escape sequences in a log never reach the summary's text raw.
#[test]
fn binary_files_are_skipped_and_escape_sequences_stay_inert() {
    let tmp = TempDir::new("hostile-bytes");
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    // Bytes of no text format at all: a deterministic pseudo-random block, with NULs.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let binary: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(dir.join("core.bin"), &binary).unwrap();
    let log = "2024-06-23T12:16:01.400Z\tINFO\tchain\tchain/sync_manager.go:326\tworker 7 done; took 1ms\n\
               \u{1b}]0;pwned\u{7}\u{1b}[2J not a log line\n\
               one-byte CSI \u{9b}2J and DEL \u{7f}, not a log line either\n";
    std::fs::write(dir.join("daemon.log"), log).unwrap();
    let db = tmp.path().join("db");
    let run = lsync(&db, &["ingest", dir.to_str().unwrap()]).ok();
    assert!(run.stdout.contains("core.bin: skipped: binary file"), "{}", run.stdout);
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'), "raw control bytes: {:?}", run.stdout);
    assert!(run.stdout.contains("\\x1b]0;pwned\\x07"), "shown as text: {}", run.stdout);
    let report = lsync(&db, &["ingest", "--json", dir.to_str().unwrap()]).ok().json();
    assert_eq!(report["skipped"], 1);
    let events = lsync(&db, &["events", "--kind", "worker_done", "--json"]).ok().json_lines();
    assert_eq!(events.len(), 1, "the log beside the binary file was read");
    // Every output that carries the lines' text: no control character, C1 included, reaches
    // stdout raw; JSON keeps the text (as escapes) and CSV to a pipe keeps the bytes.
    let raw_control = |out: &str| out.chars().any(|c| c.is_control() && c != '\n');
    let table = lsync(&db, &["events", "--all"]).ok().stdout;
    assert!(!raw_control(&table) && table.contains("\\u{9b}2J"), "{table:?}");
    let lines = lsync(&db, &["events", "--all", "--json"]).ok();
    assert!(!raw_control(&lines.stdout), "{:?}", lines.stdout);
    let texts: Vec<String> = lines.json_lines().iter().filter_map(|r| r["text"].as_str().map(str::to_string)).collect();
    assert!(texts.iter().any(|t| t.contains("CSI \u{9b}2J and DEL \u{7f}")), "{texts:?}");
    let csv = lsync(&db, &["events", "--all", "--csv"]).ok().stdout;
    assert!(csv.contains("CSI \u{9b}2J and DEL \u{7f}"), "a pipe keeps the bytes: {csv:?}");
    // Forced, the binary file is read as text (and is nothing but unknown lines).
    let forced = lsync(&tmp.path().join("db2"), &["ingest", "--json", "--force-text", dir.to_str().unwrap()]).ok().json();
    assert_eq!(forced["skipped"], 0);
    assert!(forced["unknown"].as_u64().unwrap() > 100, "{forced}");
}

/// `trace` reaches a block however its CID was mangled: damage in the fixed first characters
/// (which no shared prefix can find), either text damaged, and a CID given by its start.
#[test]
fn trace_finds_near_matches_and_prefixes() {
    let tmp = TempDir::new("near-cids");
    let good = "bafy2bzacecnjqlgfj53ktblghxhmf6je6jndywzdrqkoq4bbmbq6hnbwv4tqm";
    // The same CID but for one character in the middle: valid, and sharing 30 characters.
    let twin = "bafy2bzacecnjqlgfj53ktblghxhmf7je6jndywzdrqkoq4bbmbq6hnbwv4tqm";
    let other = "bafy2bzaceaxk3bklnjvictvy42gwt52e52zlxs6wj55imxmygq3xerbccon24";
    // `other` as a paste printed it: the `b` of `bzace` lost.
    let other_damaged = "bafy2zaceaxk3bklnjvictvy42gwt52e52zlxs6wj55imxmygq3xerbccon24";
    let f = tmp.path().join("pasted.log");
    std::fs::write(
        &f,
        format!(
            "2021-04-17T19:45:41.041-0700\tINFO\tchain\tchain/sync_manager.go:232\tselected sync target: [{good}]\n\
             2021-04-17T19:45:42.041-0700\tINFO\tchain\tchain/sync_manager.go:232\tselected sync target: [{twin}]\n\
             2021-04-17T19:45:43.041-0700\tINFO\tchain\tchain/sync_manager.go:232\tselected sync target: [{other_damaged}]\n"
        ),
    )
    .unwrap();
    let db = tmp.path().join("db");
    lsync(&db, &["ingest", "-q", f.to_str().unwrap()]).ok();
    let dbs = db.to_str().unwrap();
    // The intended CID finds its copy damaged in the fixed prefix, one edit away.
    let miss = lsync_raw(&["trace", other, "--db", dbs]);
    assert_eq!(miss.code, 1);
    assert!(miss.stderr.contains(&format!("{other_damaged} (damaged: it does not decode) (1 edit)")), "{}", miss.stderr);
    // A query damaged in its first characters (a character dropped at 11, another changed at 10)
    // finds the CID it meant.
    for typo in [format!("{}{}", &good[..11], &good[12..]), format!("{}x{}", &good[..10], &good[11..])] {
        let miss = lsync_raw(&["trace", &typo, "--db", dbs]);
        assert_eq!(miss.code, 1, "{typo}");
        assert!(miss.stderr.contains(&format!("{good} (1 edit)")), "{typo}: {}", miss.stderr);
        assert!(!miss.stderr.contains('\u{1b}'));
    }
    // A CID given by its start: unique, it is traced; shared, the candidates are named.
    let t = lsync(&db, &["trace", &good[..35], "--json"]).ok().json();
    assert_eq!(t["cid"], good, "{t}");
    assert_eq!(t["stages"][0]["stage"], "selected_target");
    let ambiguous = lsync_raw(&["trace", &good[..20], "--db", dbs]);
    assert_eq!(ambiguous.code, 1);
    assert!(ambiguous.stderr.contains("is the start of several known CIDs") && ambiguous.stderr.contains(twin), "{}", ambiguous.stderr);
    let short = lsync_raw(&["trace", "bafy2bzace", "--db", dbs]);
    assert_eq!(short.code, 1);
    assert!(short.stderr.contains("too short"), "{}", short.stderr);
    let none = lsync_raw(&["trace", "bafy2bzacezzzzzzzz", "--db", dbs]);
    assert_eq!(none.code, 1);
    assert!(none.stderr.contains("no events name bafy2bzacezzzzzzzz"), "{}", none.stderr);
}

/// Records copied without their timestamp (issue titles, `grep -h`) are events with no `ts`,
/// listed last, and the table says so.
#[test]
fn timestamp_less_records_are_events_listed_last() {
    let tmp = TempDir::new("untimed");
    let f = tmp.path().join("pasted.log");
    std::fs::write(
        &f,
        "ERROR chain chain/sync.go:235 Received block with impossibly large height 478596\n\
         2024-06-23T12:16:01.401Z\tINFO\tchain\tchain/sync_manager.go:324\tworker 4981 done; took 16.411698ms\n",
    )
    .unwrap();
    let db = tmp.path().join("db");
    lsync(&db, &["ingest", "-q", f.to_str().unwrap()]).ok();
    let rows = lsync(&db, &["events", "--json"]).ok().json_lines();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["worker_done", "impossible_height"]);
    assert!(rows[1]["ts"].is_null());
    assert_eq!(rows[1]["height"], 478596);
    let table = lsync(&db, &["events"]).ok().stdout;
    assert!(table.contains("1 without a timestamp"), "{table}");
}

/// A CID damaged in a paste (a character dropped, doubled) no longer costs the event: it keeps
/// its kind and fields, the CID is kept as printed and flagged, ingest warns with file:line,
/// and `trace` of the damaged text reaches it. An elided CID (`bafy…...`) is still malformed.
#[test]
fn a_damaged_cid_keeps_its_event() {
    let tmp = TempDir::new("damaged-cid");
    let good = "bafy2bzacecnjqlgfj53ktblghxhmf6je6jndywzdrqkoq4bbmbq6hnbwv4tqm";
    let dropped = "bafy2bzacecnjqlgfj53ktblghxhmf6je6jndywzdrqkoq4bbmbq6hnbwv4tq"; // last char lost
    let doubled = "bafy2bzaceaxk3bklnjvictvy42gwt52e52zlxs6wj55imxmygq3xerbcccon24"; // a c doubled
    let f = tmp.path().join("pasted.log");
    std::fs::write(
        &f,
        format!(
            "2021-04-17T19:45:41.041-0700\tINFO\tchain\tchain/sync_manager.go:232\tselected sync target: [{dropped}]\n\
             2021-04-17T19:45:41.041-0700\tINFO\tchain\tchain/sync_manager.go:314\tworker 77197 syncing in [{good} {doubled}]\n\
             2021-04-17T19:45:41.077-0700\tINFO\tchain\tchain/sync_manager.go:232\tselected sync target: [bafy2bzacecd6...]\n"
        ),
    )
    .unwrap();
    let db = tmp.path().join("db");
    let report = lsync(&db, &["ingest", "--json", f.to_str().unwrap()]).ok().json();
    assert_eq!(report["warnings"], 2, "{report}");
    assert_eq!(report["malformed"], 1, "the elided CID is still malformed: {report}");
    let problems = report["files"][0]["problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p[0] == 1 && p[1] == "warning"), "{problems:?}");
    let rows = lsync(&db, &["events", "--json"]).ok().json_lines();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["selected_target", "worker_start"]);
    assert_eq!(rows[0]["cids"], serde_json::json!([dropped]));
    assert_eq!(rows[0]["cids_invalid"], serde_json::json!([dropped]));
    assert_eq!(rows[1]["worker"], 77197);
    assert_eq!(rows[1]["cids_invalid"], serde_json::json!([doubled]));
    let table = lsync(&db, &["events"]).ok().stdout;
    assert!(table.contains(&format!("{dropped} (damaged)")), "{table}");
    let trace = lsync(&db, &["trace", dropped, "--json"]).ok().json();
    assert_eq!(trace["stages"][0]["stage"], "selected_target", "{trace}");
    // Tracing the CID as it should have been printed points at the damaged copy.
    let intended = "bafy2bzaceaxk3bklnjvictvy42gwt52e52zlxs6wj55imxmygq3xerbccon24";
    let miss = lsync_raw(&["trace", intended, "--db", db.to_str().unwrap()]);
    assert_eq!(miss.code, 1);
    assert!(miss.stderr.contains(&format!("{doubled} (damaged: it does not decode)")), "{}", miss.stderr);
}

/// `lsync sql` answers what the reports answer, from the same store, and its constraints on
/// CID, kind, node, time and id go to the store's indexes (pinned by EXPLAIN QUERY PLAN).
#[test]
fn sql_answers_equal_the_reports_and_use_the_indexes() {
    use lsync_fixtures::node_journal::{generate_node_journal, NodeJournal, NodeKind};
    let tmp = TempDir::new("sql");
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(dir.join("journal")).unwrap();
    let mut p = NodeJournal::new(5, NodeKind::FullNode);
    p.epochs = 3_000;
    let file = std::fs::File::create(dir.join("journal/lotus-journal.ndjson")).unwrap();
    generate_node_journal(&p, std::io::BufWriter::new(file)).unwrap();
    let db = tmp.join("s.db");
    lsync(&db, &["ingest", "-q", dir.to_str().unwrap(), "--node", "full"]).ok();
    lsync(&db, &["ingest", "-q", "fixtures/logs/mixed-versions.log", "--node", "a"]).ok();
    lsync(&db, &["ingest", "-q", "fixtures/generated/v1.29-text", "--node", "b"]).ok();
    let sql = |q: &str| lsync(&db, &["sql", "--json", q]).ok().json_lines();

    // Counts by kind equal `events --all`.
    let all = lsync(&db, &["events", "--all", "--json"]).ok().json_lines();
    let by_kind: BTreeMap<String, u64> = sql("SELECT kind, count(*) AS n FROM events GROUP BY kind")
        .iter()
        .map(|r| (r["kind"].as_str().unwrap().to_string(), r["n"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_kind, counts_by_kind(&all));
    assert!(by_kind["head_change"] > 3_000, "{by_kind:?}");
    let n = sql("SELECT count(*) AS n FROM events WHERE kind = 'head_change'");
    assert_eq!(n[0]["n"].as_u64().unwrap(), lsync(&db, &["events", "--kind", "head_change", "--json"]).ok().json_lines().len() as u64);

    // The operators' reorg query in SQL equals `lsync reorgs`, row for row.
    let reorgs = lsync(&db, &["reorgs", "--json"]).ok().json_lines();
    let rows = sql("SELECT node, line, from_height, to_height, revert_count, apply_count FROM head_changes WHERE apply_count >= 2 AND revert_count >= 1 ORDER BY node, file, line");
    assert!(!reorgs.is_empty());
    assert_eq!(rows.len(), reorgs.len());
    let key = |r: &Value| (r["node"].as_str().unwrap().to_string(), r["line"].as_u64().unwrap());
    let mut want: Vec<_> = reorgs.iter().map(key).collect();
    want.sort();
    let mut got: Vec<_> = rows.iter().map(key).collect();
    got.sort();
    assert_eq!(got, want);
    // Every head change is a row (not only those main.head_changes keeps), classes as `summary`.
    let classes = sql("SELECT class, count(*) AS n FROM head_changes WHERE revert_count > 0 GROUP BY class");
    let summary = lsync(&db, &["summary", "--json"]).ok().json();
    for c in &classes {
        assert_eq!(summary["reorg_classes"][c["class"].as_str().unwrap()], c["n"], "{c}");
    }

    // A CID: the events naming it (inside tipset lists too), as `events --cid`.
    let c = "bafy2bzacebvejsv3inwpbdhextyrllbodv6atccog4j3ju7xr6p2gngrvnwbq";
    let want: Vec<String> = lsync(&db, &["events", "--all", "--cid", c, "--json"]).ok().json_lines().iter().map(|r| r["kind"].as_str().unwrap().to_string()).collect();
    let got: Vec<String> = sql(&format!("SELECT kind FROM events WHERE cid = '{c}' ORDER BY ts_ns, line")).iter().map(|r| r["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, want);
    let joined = sql(&format!("SELECT e.kind FROM event_cids AS x JOIN events AS e ON e.event_id = x.event_id WHERE x.cid = '{c}' ORDER BY e.ts_ns"));
    assert_eq!(joined.len(), want.len());
    // A head change's CID, found through the index like trace finds it.
    let hc = sql("SELECT to_cids FROM head_changes WHERE node = 'full' AND class = 'extend' LIMIT 1 OFFSET 1500");
    let tipset: Vec<String> = serde_json::from_str(hc[0]["to_cids"].as_str().unwrap()).unwrap();
    let naming = sql(&format!("SELECT count(*) AS n FROM events WHERE cid = '{}' AND kind = 'head_change'", tipset[tipset.len() - 1]));
    assert!(naming[0]["n"].as_u64().unwrap() >= 2, "applied by one head change, the From of the next: {naming:?}");

    // Time and node bounds equal `events --since/--until --node`.
    let want = lsync(&db, &["events", "--all", "--node", "a", "--since", "2025-03-02T01:03:00Z", "--until", "2025-03-02T01:03:05Z", "--json"]).ok().json_lines();
    let got = sql("SELECT count(*) AS n FROM events WHERE node = 'a' AND ts_ns BETWEEN ns('2025-03-02T01:03:00Z') AND ns('2025-03-02T01:03:05Z')");
    assert_eq!(got[0]["n"].as_u64().unwrap(), want.len() as u64);

    // The plans: no scan of the store for a CID, a kind with a time, a join on the event id.
    // idx_num (the mask of columns the query reads) is not what these pin: written as N.
    let plan = |q: &str| {
        let p = sql(&format!("EXPLAIN QUERY PLAN {q}")).iter().map(|r| r["detail"].as_str().unwrap().to_string()).collect::<Vec<_>>().join(" | ");
        p.split(' ').map(|w| match w.split_once(':') { Some((n, rest)) if n.parse::<u64>().is_ok() => format!("N:{rest}"), _ => w.to_string() }).collect::<Vec<_>>().join(" ")
    };
    assert_eq!(plan(&format!("SELECT * FROM events WHERE cid = '{c}'")), "SCAN events VIRTUAL TABLE INDEX N:cid");
    assert_eq!(plan("SELECT * FROM events WHERE kind = 'block_delay' AND ts >= '2025-03-01' AND node = 'a'"), "SCAN events VIRTUAL TABLE INDEX N:kind,node,ts_since");
    assert_eq!(plan("SELECT * FROM events WHERE kind = 'block_delay' AND ts_ns >= 5 AND ts_ns < 9"), "SCAN events VIRTUAL TABLE INDEX N:kind,since,until");
    assert_eq!(plan("SELECT * FROM head_changes WHERE revert_count >= 2"), "SCAN head_changes VIRTUAL TABLE INDEX N:min_revert");
    assert_eq!(
        plan(&format!("SELECT e.kind FROM event_cids AS x JOIN events AS e ON e.event_id = x.event_id WHERE x.cid = '{c}'")),
        "SCAN x VIRTUAL TABLE INDEX N:cid | SCAN e VIRTUAL TABLE INDEX N:id"
    );
    // A pushed-down bound is a superset: SQLite still checks the text of `ts`.
    let n_text = sql("SELECT count(*) AS n FROM events WHERE node = 'a' AND ts >= '2025-03-02T02:01:30'");
    let n_scan = sql("SELECT count(*) AS n FROM (SELECT ts FROM events WHERE node = 'a') WHERE ts >= '2025-03-02T02:01:30'");
    assert_eq!(n_text, n_scan);
}

#[test]
fn sql_refuses_writes_and_points_at_errors() {
    let tmp = TempDir::new("sql-errors");
    let db = tmp.join("e.db");
    lsync(&db, &["ingest", "-q", "fixtures/logs/mixed-versions.log", "--node", "a"]).ok();
    let before = lsync(&db, &["sql", "--csv", "SELECT count(*) FROM events; SELECT count(*) FROM nodes"]).ok().stdout;
    for q in ["DELETE FROM nodes", "SELECT 1; INSERT INTO nodes(name) VALUES ('x')", "PRAGMA user_version = 3", "CREATE TABLE t(x)", "DROP TABLE segments", "UPDATE main.sources SET path = 'x'"] {
        let r = lsync(&db, &["sql", q]);
        assert_eq!(r.code, 1, "{q}: {}", r.stdout);
        assert!(r.stderr.contains("lsync sql only reads"), "{q}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
    let attached = tmp.join("other.db");
    let r = lsync(&db, &["sql", &format!("ATTACH '{}' AS o", attached.display())]);
    assert_eq!(r.code, 1);
    assert!(!attached.exists(), "ATTACH would create the file");
    assert_eq!(lsync(&db, &["sql", "--csv", "SELECT count(*) FROM events; SELECT count(*) FROM nodes"]).ok().stdout, before);
    assert_eq!(before, "count(*)\n39\ncount(*)\n1\n");

    let r = lsync(&db, &["sql", "SELECT kind,\n  FROM events"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("near \"FROM\": syntax error"), "{}", r.stderr);
    assert!(r.stderr.contains("line 2, column 3"), "{}", r.stderr);
    let r = lsync(&db, &["sql", "SELECT * FROM evnts"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no such table: evnts"), "{}", r.stderr);
    let r = lsync(&db, &["sql", "SELECT ns('yesterday-ish')"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid timestamp"), "{}", r.stderr);
    let r = lsync(&db, &["sql", "  -- nothing\n"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("the query is empty"), "{}", r.stderr);
    let r = lsync(&tmp.join("missing.db"), &["sql", "SELECT 1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no database at"), "{}", r.stderr);
    // A query from a file; the table listing.
    let f = tmp.join("q.sql");
    std::fs::write(&f, "SELECT name FROM nodes;").unwrap();
    assert_eq!(lsync(&db, &["sql", "--csv", "--file", f.to_str().unwrap()]).ok().stdout, "name\na\n");
    let tables = lsync(&db, &["sql", "--tables", "--json"]).ok().json_lines();
    let names: Vec<&str> = tables.iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["events", "event_cids", "head_changes", "blocks", "sources", "nodes"]);
    assert!(tables[0]["columns"].as_array().unwrap().iter().any(|c| c == "delay_s"));
}

/// Runs a query in DuckDB (Python's `duckdb`), rows as JSON arrays; `None` when DuckDB is not
/// installed and `LSYNC_REQUIRE_DUCKDB` is unset (CI sets it: there the test cannot skip).
fn duckdb(query: &str) -> Option<Vec<Vec<Value>>> {
    let script = "import duckdb, json, sys\nprint(json.dumps(duckdb.sql(sys.argv[1]).fetchall(), default=str))";
    python_json("duckdb", "LSYNC_REQUIRE_DUCKDB", script, &[query])
}

/// Runs a Python script that imports `module` and prints JSON; its output parsed. `None` (with a
/// message) when python3 or the module is missing and `require_var` is unset; CI sets it, so
/// there a missing reader fails the test instead of skipping it.
fn python_json<T: serde::de::DeserializeOwned>(module: &str, require_var: &str, script: &str, args: &[&str]) -> Option<T> {
    let may_skip = std::env::var_os(require_var).is_none();
    match std::process::Command::new("python3").arg("-c").arg(script).args(args).output() {
        Ok(o) if o.status.success() => Some(serde_json::from_slice(&o.stdout).unwrap()),
        Ok(o) if may_skip && String::from_utf8_lossy(&o.stderr).contains(&format!("No module named '{module}'")) => {
            eprintln!("{module} not installed (pip install {module}): skipping that half of this test");
            None
        }
        Ok(o) => panic!("{module} failed on {args:?}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) if may_skip => {
            eprintln!("no python3 ({e}): skipping the {module} half of this test");
            None
        }
        Err(e) => panic!("python3: {e}"),
    }
}

/// Loads an export into an embedded ClickHouse (Python's `chdb`) with the DDL and the INSERTs
/// `lsync export --schema` prints, as the README's recipe does; the row count of each table.
/// `None` when chdb is missing and `LSYNC_REQUIRE_CHDB` is unset (CI sets it).
fn clickhouse_counts(schema: &str, dir: &Path) -> Option<BTreeMap<String, u64>> {
    let script = r#"
import json, re, sys
from chdb import session
schema, d = sys.argv[1], sys.argv[2]
s = session.Session()
s.query("CREATE DATABASE IF NOT EXISTS l ENGINE = Atomic")
for stmt in [x for x in re.sub(r'(?m)^--.*$', '', schema).split(';') if x.strip()]:
    s.query(stmt.replace("CREATE TABLE ", "CREATE TABLE l."))
out = {}
for line in schema.splitlines():
    if line.startswith("-- INSERT INTO "):
        t = line.split()[3]
        s.query(line[3:].rstrip(';').replace("INSERT INTO ", "INSERT INTO l.").replace("DIR/", d + "/"))
        out[t] = int(str(s.query(f"SELECT count() FROM l.{t}", "CSV")).strip())
out["deep_reorgs"] = int(str(s.query("SELECT countIf(apply_count > 1 AND revert_count > 0) FROM l.head_changes", "CSV")).strip())
print(json.dumps(out))
"#;
    python_json("chdb", "LSYNC_REQUIRE_CHDB", script, &[schema, dir.to_str().unwrap()])
}

fn files_with_hashes(dir: &Path) -> BTreeMap<String, u64> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap().hash(&mut h);
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), h.finish());
            }
        }
    }
    out
}

/// The Parquet export, read by a real DuckDB: typed columns, Hive partitions, the jq reorg
/// query and the per-miner delays equal lsync's own reports; an incremental export adds new
/// files only and removes an interrupted run's.
#[test]
fn parquet_export_reads_in_duckdb_like_the_reports() {
    use lsync_fixtures::node_journal::{generate_node_journal, NodeJournal, NodeKind};
    let tmp = TempDir::new("export");
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(dir.join("journal")).unwrap();
    let mut p = NodeJournal::new(7, NodeKind::FullNode);
    p.epochs = 3_000;
    let file = std::fs::File::create(dir.join("journal/lotus-journal.ndjson")).unwrap();
    generate_node_journal(&p, std::io::BufWriter::new(file)).unwrap();
    let log = tmp.path().join("daemon.log");
    std::fs::copy(root().join("fixtures/logs/mixed-versions.log"), &log).unwrap();
    let db = tmp.join("x.db");
    lsync(&db, &["ingest", "-q", dir.to_str().unwrap(), "--node", "full"]).ok();
    lsync(&db, &["ingest", "-q", log.to_str().unwrap(), "--node", "a"]).ok();
    lsync(&db, &["ingest", "-q", "fixtures/generated/v1.29-text", "--node", "b"]).ok();
    let out = tmp.path().join("export");
    let report = lsync(&db, &["export", "--out", out.to_str().unwrap(), "--json"]).ok().json();
    let total = lsync(&db, &["sql", "--json", "SELECT count(*) AS n FROM events"]).ok().json_lines()[0]["n"].as_u64().unwrap();
    assert_eq!(report["tables"]["events"]["rows"].as_u64().unwrap(), total);
    assert!(out.join("events/node=full").is_dir() && out.join("events/node=a").is_dir());
    // Exporting into it again without --since-last-export is refused; an incremental one into
    // a directory without an export too.
    let r = lsync(&db, &["export", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already holds an export"), "{}", r.stderr);
    let r = lsync(&db, &["export", "--since-last-export", "--out", tmp.join("empty").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("holds no export"), "{}", r.stderr);
    // A first export killed before its manifest left part files only: a new run cleans them up.
    let dead = tmp.path().join("dead");
    std::fs::create_dir_all(dead.join("events/node=a/date=2025-03-02")).unwrap();
    std::fs::write(dead.join("events/node=a/date=2025-03-02/part-0001-000000.parquet"), b"half").unwrap();
    std::fs::write(dead.join("events/node=a/date=2025-03-02/part-0001-000001.parquet.tmp"), b"half").unwrap();
    let r = lsync(&db, &["export", "--json", "--table", "nodes", "--out", dead.to_str().unwrap()]).ok().json();
    assert_eq!(r["removed_leftovers"], 2, "{r}");
    assert!(!dead.join("events/node=a/date=2025-03-02/part-0001-000000.parquet").exists());
    // Anything else in the directory: refused, nothing removed.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(foreign.join("events")).unwrap();
    std::fs::write(foreign.join("events/part-0001-000000.parquet"), b"x").unwrap();
    std::fs::write(foreign.join("notes.txt"), b"mine").unwrap();
    let r = lsync(&db, &["export", "--out", foreign.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not empty"), "{}", r.stderr);
    assert!(foreign.join("events/part-0001-000000.parquet").exists());
    let schema = lsync(&db, &["export", "--schema"]).ok().stdout;
    assert!(schema.contains("CREATE TABLE events (") && schema.contains("ts Nullable(DateTime64(9, 'UTC'))") && schema.contains("cids Array(String)"), "{schema}");

    let ev = format!("read_parquet('{}/events/**/*.parquet', hive_partitioning = true)", out.display());
    let hc = format!("read_parquet('{}/head_changes/**/*.parquet', hive_partitioning = true)", out.display());
    if let Some(rows) = duckdb(&format!("SELECT count(*), typeof(any_value(ts)), typeof(any_value(cids)), typeof(any_value(height)), typeof(any_value(date)) FROM {ev}")) {
        assert_eq!(rows[0][0].as_u64().unwrap(), total);
        assert_eq!(rows[0][1], "TIMESTAMPTZ_NS", "a UTC instant, nanoseconds");
        assert_eq!(rows[0][2], "VARCHAR[]");
        assert_eq!(rows[0][3], "BIGINT");
        assert_eq!(rows[0][4], "DATE");
        // Counts by kind and node equal lsync sql's.
        let want: BTreeMap<String, u64> = lsync(&db, &["sql", "--json", "SELECT node || '/' || kind AS k, count(*) AS n FROM events GROUP BY 1"])
            .ok()
            .json_lines()
            .iter()
            .map(|r| (r["k"].as_str().unwrap().to_string(), r["n"].as_u64().unwrap()))
            .collect();
        let got: BTreeMap<String, u64> = duckdb(&format!("SELECT node || '/' || kind, count(*) FROM {ev} GROUP BY 1")).unwrap().iter().map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap())).collect();
        assert_eq!(got, want);
        // The operators' jq query, in DuckDB over the export, equals `lsync reorgs`.
        let reorgs = lsync(&db, &["reorgs", "--json"]).ok().json_lines();
        let rows = duckdb(&format!("SELECT count(*) FROM {hc} WHERE apply_count > 1 AND revert_count > 0")).unwrap();
        assert_eq!(rows[0][0].as_u64().unwrap(), reorgs.len() as u64);
        assert!(!reorgs.is_empty());
        // blocks: the same rows as lsync sql's view.
        let want = lsync(&db, &["sql", "--json", "SELECT count(*) AS n, sum(late_warnings) AS w FROM blocks"]).ok().json_lines();
        let bl = format!("read_parquet('{}/blocks/**/*.parquet', hive_partitioning = true)", out.display());
        let rows = duckdb(&format!("SELECT count(*), sum(late_warnings), typeof(any_value(first_seen)) FROM {bl}")).unwrap();
        assert_eq!(rows[0][0], want[0]["n"]);
        assert!(want[0]["n"].as_u64().unwrap() > 0);
        assert_eq!(rows[0][1].as_i64(), want[0]["w"].as_i64());
        // A timestamp keeps its instant and its offset: node a's log writes +08:00 and +01:00.
        let rows = duckdb(&format!("SELECT count(DISTINCT ts_offset_s) FROM {ev} WHERE node = 'a' AND ts_offset_s IS NOT NULL")).unwrap();
        assert!(rows[0][0].as_u64().unwrap() >= 2, "{rows:?}");
        let sql_ns = lsync(&db, &["sql", "--json", "SELECT min(ts_ns) AS t FROM events WHERE node = 'a'"]).ok().json_lines()[0]["t"].as_i64().unwrap();
        let rows = duckdb(&format!("SELECT epoch_ns(min(ts)) FROM {ev} WHERE node = 'a'")).unwrap();
        assert_eq!(rows[0][0].as_i64().unwrap(), sql_ns);
        // Per-miner delays in SQL equal `lsync miners` (count and median).
        let miners = lsync(&db, &["miners", "--json"]).ok().json_lines();
        assert!(!miners.is_empty());
        for m in &miners {
            let name = m["miner"].as_str().unwrap();
            let rows = duckdb(&format!("SELECT count(*), median(delay_s) FROM {ev} WHERE kind = 'block_delay' AND miner = '{name}'")).unwrap();
            assert_eq!(rows[0][0], m["late_blocks"], "{name}");
            assert!((rows[0][1].as_f64().unwrap() - m["p50_delay_s"].as_f64().unwrap()).abs() < 1e-9, "{name}: {rows:?} vs {m}");
        }
    }

    // New lines in a file already exported, and a run that died half-way: the next incremental
    // export removes the dead run's file, adds new files with only the new rows, and leaves
    // every old file as it was.
    let before = files_with_hashes(&out);
    let dead = out.join("events/node=a/date=2025-03-02/part-0009-00000.parquet");
    std::fs::write(&dead, b"half a file").unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(text.as_bytes()).unwrap();
    lsync(&db, &["ingest", "-q", log.to_str().unwrap(), "--node", "a"]).ok();
    let total2 = lsync(&db, &["sql", "--json", "SELECT count(*) AS n FROM events"]).ok().json_lines()[0]["n"].as_u64().unwrap();
    assert!(total2 > total);
    let r2 = lsync(&db, &["export", "--since-last-export", "--out", out.to_str().unwrap(), "--json"]).ok().json();
    assert_eq!(r2["run"], 2);
    assert_eq!(r2["removed_leftovers"], 1);
    assert_eq!(r2["blocks_skipped"], true, "an aggregate is not appended to");
    assert!(!dead.exists());
    assert_eq!(r2["tables"]["events"]["rows"].as_u64().unwrap(), total2 - total);
    assert_eq!(r2["tables"]["head_changes"]["rows"], 0, "the journal did not grow");
    let after = files_with_hashes(&out);
    for (f, h) in &before {
        assert_eq!(after.get(f), Some(h), "{f} was rewritten");
    }
    assert!(after.keys().any(|f| f.contains("part-0002-")));
    if let Some(rows) = duckdb(&format!("SELECT count(*), count(DISTINCT event_id) FROM {ev}")) {
        assert_eq!(rows[0][0].as_u64().unwrap(), total2);
        assert_eq!(rows[0][1].as_u64().unwrap(), total2, "no row twice");
    }
    // The whole export, both runs, into ClickHouse with the printed schema and INSERTs.
    let schema = lsync(&db, &["export", "--schema"]).ok().stdout;
    if let Some(counts) = clickhouse_counts(&schema, &out) {
        let n = |q: &str| lsync(&db, &["sql", "--json", q]).ok().json_lines()[0]["n"].as_u64().unwrap();
        assert_eq!(counts["events"], total2);
        assert_eq!(counts["event_cids"], n("SELECT count(*) AS n FROM event_cids"));
        assert_eq!(counts["head_changes"], n("SELECT count(*) AS n FROM head_changes"));
        assert_eq!(counts["deep_reorgs"], lsync(&db, &["reorgs", "--json"]).ok().json_lines().len() as u64);
        assert_eq!(counts["nodes"], 3);
        assert!(counts["blocks"] > 0);
    }
    let r3 = lsync(&db, &["export", "--since-last-export", "--out", out.to_str().unwrap(), "--json"]).ok().json();
    assert_eq!(r3["tables"]["events"]["rows"], 0);

    // NDJSON and CSV: the same rows, one per line.
    let nd = tmp.path().join("nd");
    lsync(&db, &["export", "-q", "--format", "ndjson", "--table", "head_changes", "--node", "full", "--out", nd.to_str().unwrap()]).ok();
    let heads = lsync(&db, &["sql", "--json", "SELECT count(*) AS n FROM head_changes WHERE node = 'full'"]).ok().json_lines()[0]["n"].as_u64().unwrap();
    let mut lines = 0;
    for e in std::fs::read_dir(nd.join("head_changes/node=full")).unwrap() {
        for f in std::fs::read_dir(e.unwrap().path()).unwrap() {
            for l in std::fs::read_to_string(f.unwrap().path()).unwrap().lines() {
                let v: Value = serde_json::from_str(l).unwrap();
                assert!(v["to_cids"].is_array() && v["ts"].as_str().unwrap().ends_with('Z'));
                lines += 1;
            }
        }
    }
    assert_eq!(lines, heads);
    let csv = tmp.path().join("csv");
    lsync(&db, &["export", "-q", "--format", "csv", "--table", "nodes", "--out", csv.to_str().unwrap()]).ok();
    let f = std::fs::read_dir(csv.join("nodes")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read_to_string(f).unwrap(), "id,name\n1,full\n2,a\n3,b\n");
}

/// `blocks` joins what follow's first-seen records and a node's logs say about one block.
#[test]
fn sql_blocks_merge_first_seen_records_and_log_lines() {
    let tmp = TempDir::new("sql-blocks");
    let db = tmp.join("b.db");
    let late = "bafy2bzaceaykbluoutre3qgc7nxy2tuzj3qdjyhs4lszmcq5g7jsjt4yhplq2";
    let other = "bafy2bzacecnjqlgfj53ktblghxhmf6je6jndywzdrqkoq4bbmbq6hnbwv4tqm";
    let seen = |cid: &str, first: &str, dups: u32, delay: i64| {
        format!(
            r#"{{"System":"lsync","Event":"block_seen","Timestamp":"2020-12-01T00:00:09Z","Data":{{"Cid":{{"/":"{cid}"}},"Height":7,"Miner":"f01234","FirstSeen":"{first}","Peer":"12D3KooWPeerA","Duplicates":{dups},"DelayMs":{delay}}}}}"#
        )
    };
    let dir = tmp.path().join("a/journal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lotus-journal.ndjson"), format!("{}\n{}\n", seen(late, "2020-11-30T16:00:01.250Z", 3, 1250), seen(other, "2020-11-30T16:00:02.5Z", 0, 2500))).unwrap();
    lsync(&db, &["ingest", "-q", tmp.path().join("a").to_str().unwrap(), "--node", "a"]).ok();
    lsync(&db, &["ingest", "-q", "fixtures/logs/mixed-versions.log", "--node", "a"]).ok();
    let rows = lsync(&db, &["sql", "--json", &format!("SELECT * FROM blocks WHERE cid IN ('{late}', '{other}') ORDER BY first_seen_ns")]).ok().json_lines();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[0]["cid"], late);
    assert_eq!(rows[0]["first_seen"], "2020-11-30T16:00:01.250Z", "follow's ms record, not the log line's second");
    assert_eq!(rows[0]["peer"], "12D3KooWPeerA");
    assert_eq!(rows[0]["duplicates"], 3);
    assert_eq!(rows[0]["delay_s"], 1.25);
    assert_eq!(rows[0]["height"], 7);
    let kinds: Vec<&str> = rows[0]["seen_in"].as_str().unwrap().split(',').collect();
    assert!(kinds.contains(&"block_seen") && kinds.contains(&"block_over_pubsub"), "{kinds:?}");
    assert_eq!(rows[1]["duplicates"], 0);
    // Every block the logs name once per node, none without a CID.
    let n = lsync(&db, &["sql", "--json", "SELECT count(*) AS n, count(DISTINCT node || cid) AS d, sum(cid IS NULL) AS nulls FROM blocks"]).ok().json_lines();
    assert_eq!(n[0]["n"], n[0]["d"]);
    assert_eq!(n[0]["nulls"], 0);
}

/// `lsync orphans` on a node whose files were written to show each cause once: a Lotus-shaped
/// journal of heads only (A100…A104), lsync's first-seen records of four blocks that never
/// joined the chain, and the node's log of its sync targets. Each orphan gets its cause and
/// its evidence; the canonical blocks are no orphans; a block above the head is undecided.
#[test]
fn orphans_are_attributed_each_to_its_cause() {
    let tmp = TempDir::new("orphan-causes");
    let cid = |label: &str| lsync_core::chain::cbor::block_cid(label.as_bytes()).to_string();
    let base = 1_767_225_600i64; // 2026-01-01T00:00:00Z
    let at = |h: i64, ms: i64| {
        let t = lsync_core::Timestamp::from_unix_nanos((base + 30 * (h - 100)) * 1_000_000_000 + ms * 1_000_000, 0, 3);
        t.to_string()
    };
    let canon: Vec<String> = (99..=104).map(|h| cid(&format!("A{h}"))).collect();
    let mut journal = String::new();
    for h in 100..=104i64 {
        let from = &canon[(h - 100) as usize];
        let to = &canon[(h - 99) as usize];
        journal.push_str(&format!(
            "{{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"{}\",\"Data\":{{\"From\":[{{\"/\":\"{from}\"}}],\"FromHeight\":{},\"To\":[{{\"/\":\"{to}\"}}],\"ToHeight\":{h},\"RevertCount\":0,\"ApplyCount\":1}}}}\n",
            at(h, 1000),
            h - 1
        ));
    }
    let seen = |c: &str, h: i64, first: String, delay_ms: i64| {
        format!("{{\"System\":\"lsync\",\"Event\":\"block_seen\",\"Timestamp\":\"{first}\",\"Data\":{{\"Cid\":{{\"/\":\"{c}\"}},\"Height\":{h},\"Miner\":\"f01234\",\"FirstSeen\":\"{first}\",\"Peer\":\"12D3KooWPeer\",\"Duplicates\":0,\"DelayMs\":{delay_ms}}}}}\n")
    };
    let (f, l, s, n, above) = (cid("from-future"), cid("late"), cid("sibling"), cid("never-synced"), cid("above"));
    journal.push_str(&seen(&f, 101, at(101, -3000), -3000)); // 3 s before its own timestamp
    journal.push_str(&seen(&l, 101, at(103, 1500), 61_500)); // after the head passed 101
    journal.push_str(&seen(&s, 102, at(102, 1200), 1200)); // after A102 became head, before 103
    journal.push_str(&seen(&n, 103, at(103, 500), 500)); // before its height's head, never a target
    journal.push_str(&seen(&above, 105, at(104, 9000), 9000)); // above the head: undecided
    let mut log = String::new();
    for h in 100..=104i64 {
        log.push_str(&format!("{}\tINFO\tchain\tchain/sync_manager.go:236\tselected sync target: [{}]\n", at(h, 900).replace('Z', "+0000"), canon[(h - 99) as usize]));
    }
    std::fs::create_dir_all(tmp.join("node/journal")).unwrap();
    std::fs::write(tmp.join("node/journal/lotus-journal.ndjson"), journal).unwrap();
    std::fs::write(tmp.join("node/daemon.log"), log).unwrap();
    let db = tmp.join("o.db");
    lsync(&db, &["ingest", tmp.join("node").to_str().unwrap(), "--node", "n"]).ok();
    let rows = lsync(&db, &["orphans", "--json"]).ok().json_lines();
    let cause = |c: &str| rows.iter().find(|r| r["cid"] == c).map(|r| r["attribution"].as_str().unwrap().to_string());
    assert_eq!(cause(&f).as_deref(), Some("from_future"), "{rows:?}");
    assert_eq!(cause(&l).as_deref(), Some("late"), "{rows:?}");
    assert_eq!(cause(&s).as_deref(), Some("missed_sibling"), "{rows:?}");
    assert_eq!(cause(&n).as_deref(), Some("never_synced"), "{rows:?}");
    assert_eq!(rows.len(), 4, "canonical blocks are no orphans, the one above the head is undecided: {rows:?}");
    assert!(rows.iter().all(|r| !r["evidence"].as_str().unwrap().is_empty()));
    let human = lsync(&db, &["orphans"]).ok().stdout;
    assert!(human.contains("heads only") && human.contains("1 undecided"), "{human}");
}
