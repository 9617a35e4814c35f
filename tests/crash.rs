//! Crash safety: `kill -9` an ingest at many points, re-run it each time, and the database must
//! end up exactly as a clean run leaves it — same rows, no duplicates, no gaps.

mod common;

use common::{lsync, root, TempDir};
use lsync_fixtures::{generate, Rng, Scenario, Style};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn snapshot(db: &std::path::Path) -> (String, serde_json::Value) {
    let events = lsync(db, &["events", "--all", "--json"]).ok().stdout;
    let mut summary = lsync(db, &["summary", "--json"]).ok().json();
    // Paths are the same in both runs; everything else must match too.
    summary.as_object_mut().unwrap().remove("first_ingest");
    (events, summary)
}

#[test]
fn sigkill_at_random_points_then_resume_equals_a_clean_run() {
    let tmp = TempDir::new("crash");
    let data = tmp.join("data");
    std::fs::create_dir_all(data.join("journal")).unwrap();
    // Big enough that an ingest takes a while in a debug build; multi-line records, JSON
    // section, rolled-journal-free layout.
    let mut sc = Scenario::new(77, 1500, Style::V111Colour);
    sc.noise_per_epoch = 30;
    sc.mpool_per_epoch = 8;
    sc.json_section = true;
    generate(
        &sc,
        std::io::BufWriter::new(std::fs::File::create(data.join("daemon.log")).unwrap()),
        std::io::BufWriter::new(std::fs::File::create(data.join("journal/lotus-journal.ndjson")).unwrap()),
    )
    .unwrap();

    // Chunks of 64 KiB and transactions of 256 KiB (defaults 4 and 64 MiB): each file commits
    // dozens of times, so kills land between a file's commits and the next run resumes mid-file
    // from a checkpoint.
    const SMALL: [&str; 4] = ["--batch-bytes", "262144", "--chunk-bytes", "65536"];
    let clean_db = tmp.join("clean.db");
    let started = Instant::now();
    lsync(&clean_db, &[&["ingest", "-q"][..], &SMALL, &[data.to_str().unwrap()]].concat()).ok();
    let clean_time = started.elapsed();
    let clean = snapshot(&clean_db);

    let db = tmp.join("crashed.db");
    let mut rng = Rng::new(2024);
    let mut kills = 0;
    // Each killed run keeps what it committed, so later runs have less to do: aim the kills at
    // a fraction of a clean run, and go on until a dozen have landed mid-ingest.
    let mut attempts = 0;
    let mut mid_file_resumes = 0;
    let sizes: Vec<(String, u64)> = ["daemon.log", "journal/lotus-journal.ndjson"]
        .iter()
        .map(|f| (f.rsplit('/').next().unwrap().to_string(), std::fs::metadata(data.join(f)).unwrap().len()))
        .collect();
    while kills < 12 && attempts < 150 {
        attempts += 1;
        let mut child = Command::new(env!("CARGO_BIN_EXE_lsync"))
            .current_dir(root())
            .args(["ingest", "-q"])
            .args(SMALL)
            .args([data.to_str().unwrap(), "--db", db.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Anywhere from the very start (before the database is even open) to a sixth of a run.
        let at = Duration::from_micros(rng.below((clean_time.as_micros() / 6).max(1000) as u64));
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        } else {
            // It finished first: the kills and resumes so far must have come out exact. Check,
            // then start over on a new database, so later kills still find work to interrupt.
            assert!(child.wait().unwrap().success(), "an ingest that was not killed failed");
            let done = snapshot(&db);
            assert!(done == clean, "a database resumed after {kills} kills differs from a clean run");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            continue;
        }
        child.wait().unwrap();
        // Did this kill leave a file part-way read (committed batches, then more to do)?
        let summary = lsync(&db, &["summary", "--json"]);
        if summary.code == 0 {
            for src in summary.json()["sources"].as_array().cloned().unwrap_or_default() {
                let read = src["bytes"].as_u64().unwrap_or(0);
                let file = src["file"].as_str().unwrap_or("");
                if sizes.iter().any(|(name, size)| file.ends_with(name.as_str()) && read > 0 && read < *size) {
                    mid_file_resumes += 1;
                }
            }
        }
    }
    assert!(kills >= 10, "only {kills} runs were killed mid-ingest (clean run took {clean_time:?})");
    // Some killed run must have left a file part-way read, or no resume from a mid-file
    // checkpoint was tested.
    eprintln!("{kills} kills, {mid_file_resumes} of them left a file part-way read");
    assert!(mid_file_resumes > 0, "no kill landed between a file's commits ({kills} kills)");
    // The next run finishes the job.
    lsync(&db, &[&["ingest", "-q"][..], &SMALL, &[data.to_str().unwrap()]].concat()).ok();
    let resumed = snapshot(&db);
    assert_eq!(resumed.0.lines().count(), clean.0.lines().count(), "event count differs after {kills} kills");
    assert!(resumed.0 == clean.0, "events differ after {kills} kills");
    assert_eq!(resumed.1, clean.1, "summary differs after {kills} kills");
    // And a further run adds nothing.
    let again = lsync(&db, &["ingest", "--json", data.to_str().unwrap()]).ok().json();
    assert_eq!(again["events"], 0);
}

/// `kill -9` an export at several points: the next run (a new export, or an incremental one when
/// the killed run had finished) ends with every event exactly once, whatever the kill hit.
#[test]
fn sigkill_during_an_export_then_rerun_has_every_row_once() {
    let tmp = TempDir::new("crash-export");
    let data = tmp.join("data");
    std::fs::create_dir_all(data.join("journal")).unwrap();
    let mut sc = Scenario::new(78, 1500, Style::V129Text);
    sc.noise_per_epoch = 5;
    generate(
        &sc,
        std::io::BufWriter::new(std::fs::File::create(data.join("daemon.log")).unwrap()),
        std::io::BufWriter::new(std::fs::File::create(data.join("journal/lotus-journal.ndjson")).unwrap()),
    )
    .unwrap();
    let db = tmp.join("x.db");
    lsync(&db, &["ingest", "-q", data.to_str().unwrap()]).ok();
    let total = lsync(&db, &["sql", "--csv", "SELECT count(*) FROM events"]).ok().stdout.lines().nth(1).unwrap().parse::<u64>().unwrap();
    // Time a whole export to spread the kills over it.
    let clean = tmp.join("clean");
    let t0 = Instant::now();
    lsync(&db, &["export", "-q", "--out", clean.to_str().unwrap()]).ok();
    let whole = t0.elapsed();
    let mut rng = Rng::new(5);
    let mut killed_mid_run = 0;
    for round in 0..8 {
        let out = tmp.join(&format!("out-{round}"));
        let delay = whole.mul_f64(0.05 + 0.9 * (rng.below(1000) as f64 / 1000.0));
        let mut child = Command::new(env!("CARGO_BIN_EXE_lsync"))
            .current_dir(root())
            .args(["export", "-q", "--db", db.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let finished = out.join("_lsync_export.json").exists();
        killed_mid_run += u32::from(!finished);
        let args: Vec<&str> = if finished { vec!["export", "--json", "--since-last-export", "--out"] } else { vec!["export", "--json", "--out"] };
        let r = lsync(&db, &[&args[..], &[out.to_str().unwrap()]].concat()).ok().json();
        // Every run's recorded rows add up to the store's, once.
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("_lsync_export.json")).unwrap()).unwrap();
        let exported: u64 = manifest["runs"].as_array().unwrap().iter().map(|r| r["rows"]["events"].as_u64().unwrap_or(0)).sum();
        assert_eq!(exported, total, "round {round} (killed after {delay:?}, finished: {finished}): {r}");
        // And the files hold exactly those: no file of the killed run survives unrecorded.
        let mut files = Vec::new();
        let mut stack = vec![out.join("events")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p.file_name().unwrap().to_string_lossy().into_owned());
                }
            }
        }
        assert!(files.iter().all(|f| f.ends_with(".parquet")), "round {round}: {files:?}");
        let runs: std::collections::BTreeSet<&str> = files.iter().map(|f| &f[5..9]).collect();
        let recorded: std::collections::BTreeSet<String> = manifest["runs"].as_array().unwrap().iter().map(|r| format!("{:04}", r["run"].as_u64().unwrap())).collect();
        assert!(runs.iter().all(|r| recorded.contains(*r)), "round {round}: files of runs {runs:?}, recorded {recorded:?}");
    }
    eprintln!("{killed_mid_run} of 8 kills landed before the export finished");
}
