//! Golden-file tests: the exact output of the parsers and reports on bundled data.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites them after an intended change; review
//! the diff before committing.

mod common;

use common::{golden, lsync, lsync_raw, TempDir};

#[test]
fn mixed_versions_log_events() {
    let tmp = TempDir::new("g-mixed");
    let db = tmp.join("g.db");
    lsync(&db, &["ingest", "-q", "fixtures/logs/mixed-versions.log", "--node", "mixed"]).ok();
    golden("mixed-versions.events.jsonl", &lsync(&db, &["events", "--all", "--json"]).ok().stdout);
    golden("mixed-versions.events.txt", &lsync(&db, &["events"]).ok().stdout);
    golden("mixed-versions.events.csv", &lsync(&db, &["events", "--all", "--csv"]).ok().stdout);
}

#[test]
fn real_documentation_samples() {
    let tmp = TempDir::new("g-samples");
    let db = tmp.join("g.db");
    lsync(&db, &["ingest", "-q", "fixtures/samples", "--node", "docs"]).ok();
    golden("samples.events.jsonl", &lsync(&db, &["events", "--all", "--json"]).ok().stdout);
    golden("samples.summary.txt", &lsync(&db, &["summary"]).ok().stdout);
}

#[test]
fn generated_repo_reports() {
    let tmp = TempDir::new("g-repo");
    let db = tmp.join("g.db");
    lsync(&db, &["ingest", "-q", "fixtures/generated/v1.29-text", "--node", "node1"]).ok();
    golden("v1.29-text.reorgs.jsonl", &lsync(&db, &["reorgs", "--json"]).ok().stdout);
    golden("v1.29-text.reorgs.txt", &lsync(&db, &["reorgs"]).ok().stdout);
    golden("v1.29-text.reorgs-min1.csv", &lsync(&db, &["reorgs", "--min-apply", "1", "--csv"]).ok().stdout);
    // Every head change, extends included (they are read from their segments).
    golden("v1.29-text.reorgs-all.csv", &lsync(&db, &["reorgs", "--min-apply", "0", "--min-revert", "0", "--csv"]).ok().stdout);
    golden("v1.29-text.miners.jsonl", &lsync(&db, &["miners", "--json"]).ok().stdout);
    golden("v1.29-text.miners.txt", &lsync(&db, &["miners"]).ok().stdout);
    golden("v1.29-text.summary.json", &lsync(&db, &["summary", "--json"]).ok().stdout);
    golden("v1.29-text.summary.txt", &lsync(&db, &["summary"]).ok().stdout);
    let answers: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::root().join("fixtures/generated/v1.29-text/answers.json")).unwrap()).unwrap();
    let late = answers["late_block"].as_str().unwrap();
    golden("v1.29-text.trace-late.txt", &lsync(&db, &["trace", late]).ok().stdout);
    golden("v1.29-text.trace-late.json", &lsync(&db, &["trace", late, "--json"]).ok().stdout);
    let orphan = answers["orphaned"][0].as_str().unwrap();
    golden("v1.29-text.trace-orphan.txt", &lsync(&db, &["trace", orphan]).ok().stdout);
}

#[test]
fn inspect_car_on_the_real_mainnet_segment() {
    golden("forest-export40.inspect.json", &lsync_raw(&["inspect", "car", "fixtures/lotus/forest-export40.car", "--json"]).ok().stdout);
    golden("forest-export40.inspect.txt", &lsync_raw(&["inspect", "car", "fixtures/lotus/forest-export40.car"]).ok().stdout);
}
