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
