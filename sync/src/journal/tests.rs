use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use lsync_core::chain::TipSetKey;
use lsync_core::{EventKind, JournalOptions, JournalParser};
use serde_json::Value;

use super::*;
use crate::follower::Action;
use crate::test_chain::*;

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lsync-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// 2021-09-01T10:03:05.5Z in Unix nanoseconds.
const T0: i64 = 1_630_490_585_500_000_000;
const SECOND: i64 = 1_000_000_000;
const H1: &str = "bafy2bzacechdx6xd62lcyy7rnyc4uxcxhuwqslcxfvj77fxlwafij3nhzchpy";
const H2: &str = "bafy2bzaceb5xzclgvwgobsog4qckrkimthkisozhw3bkaxg7iiruajhmym5va";

fn key(cids: &[&str]) -> TipSetKey {
    TipSetKey::new(cids.iter().map(|c| c.parse().unwrap()).collect())
}

fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The deep-fork scenario of the follower tests, run to the end: every action it produced.
fn scripted_fork_actions() -> Vec<Action> {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2, 3], 1000, 1, "a");
    let fork = chain(&genesis(), &[1, 2, 3, 4], 1009, 3, "b");
    h.publish(&trunk);
    h.publish(&fork);
    for (i, (block, _)) in trunk.iter().enumerate() {
        h.gossip(at(i as i64 + 1, 1_000), "p1", block);
    }
    let late = mine(&trunk[1].1, 3, 1001, 1, "late3");
    h.gossip(at(3, 9_000), "p2", &late);
    h.gossip(at(4, 1_000), "p9", &fork[3].0);
    h.serve_all(at(4, 2_000));
    h.input(at(6, 0), crate::follower::InputEvent::Tick);
    h.actions
}

fn write_actions(writer: &mut JournalWriter, actions: &[Action]) {
    for (i, action) in actions.iter().enumerate() {
        let now = T0 + i as i64 * 1_000_000;
        match action {
            Action::HeadChange(change) => {
                writer.write_head_change(now, change).unwrap();
                writer.write_reorg_path(now, change).unwrap();
            }
            Action::BlockSeen(record) => writer.write_block_seen(now, record).unwrap(),
            _ => {}
        }
    }
}

#[test]
fn byte_exact_head_change_line() {
    let dir = TempDir::new("exact");
    let mut config = JournalConfig::new(&dir.0);
    config.zone_offset_secs = 8 * 3600;
    let mut writer = JournalWriter::open(config, T0).unwrap();
    let data = HeadChangeData {
        from: key(&[H1]),
        from_height: 1,
        to: key(&[H2, H1]),
        to_height: 2,
        revert_count: 0,
        apply_count: 1,
    };
    // 2021-11-11T08:13:30.689264594Z
    writer
        .write_record(
            1_636_618_410_689_264_594,
            SYSTEM_SYNC,
            EVENT_HEAD_CHANGE,
            &data,
        )
        .unwrap();
    writer
        .write_record(
            1_636_618_411_000_000_000,
            SYSTEM_SYNC,
            EVENT_HEAD_CHANGE,
            &data,
        )
        .unwrap();
    let text = fs::read_to_string(writer.current_path()).unwrap();
    let expected = format!(
        concat!(
            r#"{{"System":"sync","Event":"head_change","Timestamp":"2021-11-11T16:13:30.689264594+08:00","Data":{{"From":[{{"/":"{h1}"}}],"FromHeight":1,"To":[{{"/":"{h2}"}},{{"/":"{h1}"}}],"ToHeight":2,"RevertCount":0,"ApplyCount":1}}}}"#,
            "\n",
            r#"{{"System":"sync","Event":"head_change","Timestamp":"2021-11-11T16:13:31+08:00","Data":{{"From":[{{"/":"{h1}"}}],"FromHeight":1,"To":[{{"/":"{h2}"}},{{"/":"{h1}"}}],"ToHeight":2,"RevertCount":0,"ApplyCount":1}}}}"#,
            "\n"
        ),
        h1 = H1,
        h2 = H2
    );
    assert_eq!(text, expected);
    assert_eq!(writer.bytes_written(), expected.len() as u64);
}

#[test]
fn byte_exact_lsync_records() {
    let dir = TempDir::new("exact-lsync");
    let mut writer = JournalWriter::open(JournalConfig::new(&dir.0), T0).unwrap();
    let data = ReorgPathData {
        from: key(&[H1]),
        from_height: 1,
        to: key(&[H2]),
        to_height: 2,
        fork_point: key(&[H1]),
        fork_point_height: 1,
        revert: vec![],
        apply: vec![PathTipSet {
            key: key(&[H2]),
            height: 2,
        }],
    };
    writer
        .write_record(T0, SYSTEM_LSYNC, EVENT_REORG_PATH, &data)
        .unwrap();
    let record = crate::follower::FirstSeenRecord {
        cid: H2.parse().unwrap(),
        height: 2,
        miner: lsync_core::chain::Address::new_id(1002).unwrap(),
        first_seen_ms: 1_598_306_461_250,
        first_seen_ns: 1_598_306_461_250_123_456,
        peer: "12D3KooWPeer".into(),
        duplicates: 3,
        delay_ms: 1_250,
        delay_ns: 1_250_123_456,
        msg_fetch: Some(std::time::Duration::from_micros(2_500)),
        equivocates: None,
    };
    writer.write_block_seen(T0, &record).unwrap();
    // An equivocating block's record names the block the miner published first; the others
    // keep the record's shape exactly.
    let flagged = crate::follower::FirstSeenRecord { equivocates: Some(H1.parse().unwrap()), ..record.clone() };
    writer.write_block_seen(T0, &flagged).unwrap();
    let lines = read_lines(writer.current_path());
    assert_eq!(
        lines[0],
        format!(
            r#"{{"System":"lsync","Event":"reorg_path","Timestamp":"2021-09-01T10:03:05.5Z","Data":{{"From":[{{"/":"{H1}"}}],"FromHeight":1,"To":[{{"/":"{H2}"}}],"ToHeight":2,"ForkPoint":[{{"/":"{H1}"}}],"ForkPointHeight":1,"Revert":[],"Apply":[{{"Key":[{{"/":"{H2}"}}],"Height":2}}]}}}}"#
        )
    );
    assert_eq!(
        lines[1],
        format!(
            r#"{{"System":"lsync","Event":"block_seen","Timestamp":"2021-09-01T10:03:05.5Z","Data":{{"Cid":{{"/":"{H2}"}},"Height":2,"Miner":"f01002","FirstSeen":"2020-08-24T22:01:01.250123456Z","Peer":"12D3KooWPeer","Duplicates":3,"DelayMs":1250,"DelayNs":1250123456,"MsgFetchMs":2.5}}}}"#
        )
    );
    assert_eq!(
        lines[2],
        format!(
            r#"{{"System":"lsync","Event":"block_seen","Timestamp":"2021-09-01T10:03:05.5Z","Data":{{"Cid":{{"/":"{H2}"}},"Height":2,"Miner":"f01002","FirstSeen":"2020-08-24T22:01:01.250123456Z","Peer":"12D3KooWPeer","Duplicates":3,"DelayMs":1250,"Equivocates":{{"/":"{H1}"}},"DelayNs":1250123456,"MsgFetchMs":2.5}}}}"#
        )
    );
    // The reader names both blocks on the flagged record.
    let mut parser = lsync_core::JournalParser::new(lsync_core::JournalOptions::default());
    let mut events = Vec::new();
    parser.push_line(3, lines[2].as_bytes(), &mut events);
    assert_eq!(events[0].cids, vec![H2.to_string(), H1.to_string()]);
    assert!(events[0].text.contains("equivocation"), "{}", events[0].text);
}

#[test]
fn rolls_on_open_with_lotus_names() {
    let dir = TempDir::new("roll-open");
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(dir.0.join(CURRENT_FILE_NAME), "old\n").unwrap();
    let mut config = JournalConfig::new(&dir.0);
    config.zone_offset_secs = 2 * 3600;
    let writer = JournalWriter::open(config.clone(), T0).unwrap();
    assert_eq!(
        dir.names(),
        vec![
            "lotus-journal-2021-09-01T120305+0200.ndjson".to_string(),
            CURRENT_FILE_NAME.to_string()
        ]
    );
    assert_eq!(
        fs::read_to_string(dir.0.join("lotus-journal-2021-09-01T120305+0200.ndjson")).unwrap(),
        "old\n"
    );
    assert_eq!(writer.bytes_written(), 0);
    drop(writer);
    // Reopened within the same second: the earlier roll is kept, not overwritten.
    JournalWriter::open(config, T0 + SECOND / 4).unwrap();
    assert!(dir
        .names()
        .contains(&"lotus-journal-2021-09-01T120305+0200-1.ndjson".to_string()));
    // UTC rolls are stamped `Z`.
    JournalWriter::open(JournalConfig::new(&dir.0), T0 + 3 * SECOND).unwrap();
    assert!(dir
        .names()
        .contains(&"lotus-journal-2021-09-01T100308Z.ndjson".to_string()));
}

#[test]
fn rolls_at_size_limit() {
    let dir = TempDir::new("roll-size");
    let mut config = JournalConfig::new(&dir.0);
    config.size_limit = 1_000;
    let mut writer = JournalWriter::open(config, T0).unwrap();
    let data = HeadChangeData {
        from: key(&[H1]),
        from_height: 1,
        to: key(&[H2]),
        to_height: 2,
        revert_count: 0,
        apply_count: 1,
    };
    for i in 0..10 {
        writer
            .write_record(T0 + i * SECOND, SYSTEM_SYNC, EVENT_HEAD_CHANGE, &data)
            .unwrap();
    }
    // Every line has the same length; the write that makes a file reach 1000 bytes rolls it,
    // stamped with that write's time.
    let all_lines: Vec<String> = dir
        .names()
        .iter()
        .flat_map(|name| read_lines(&dir.0.join(name)))
        .collect();
    assert_eq!(all_lines.len(), 10);
    let line_len = all_lines[0].len() as u64 + 1;
    assert!(all_lines.iter().all(|l| l.len() as u64 + 1 == line_len));
    let per_file = 1_000u64.div_ceil(line_len) as i64;
    let mut expected: Vec<String> = (1..)
        .map(|k| k * per_file - 1)
        .take_while(|&write| write < 10)
        .map(|write| {
            format!(
                "lotus-journal-{}.ndjson",
                roll_stamp(T0 + write * SECOND, 0)
            )
        })
        .collect();
    assert!(expected.len() >= 2, "the test must roll more than once");
    expected.push(CURRENT_FILE_NAME.to_string());
    expected.sort();
    assert_eq!(dir.names(), expected);
    for name in &expected[..expected.len() - 1] {
        let len = fs::metadata(dir.0.join(name)).unwrap().len();
        assert_eq!(
            len,
            per_file as u64 * line_len,
            "{name} holds whole lines up to the limit"
        );
    }
    assert_eq!(
        read_lines(writer.current_path()).len() as i64,
        10 - (expected.len() as i64 - 1) * per_file
    );
}

#[test]
fn every_line_parses_as_the_typed_head_change_written() {
    let actions = scripted_fork_actions();
    let dir = TempDir::new("parse");
    let mut config = JournalConfig::new(&dir.0);
    config.zone_offset_secs = -7 * 3600;
    let mut writer = JournalWriter::open(config, T0).unwrap();
    write_actions(&mut writer, &actions);
    let written: Vec<HeadChangeData> = head_changes(&actions)
        .into_iter()
        .map(HeadChangeData::from)
        .collect();
    assert!(written.len() >= 5);

    let mut parser = JournalParser::new(JournalOptions { keep_raw: true });
    let mut events = Vec::new();
    for (i, line) in read_lines(writer.current_path()).iter().enumerate() {
        parser.push_line(i as u64 + 1, line.as_bytes(), &mut events);
    }
    parser.finish(&mut events);
    assert!(
        events.iter().all(|e| e.kind != EventKind::Malformed),
        "{events:#?}"
    );
    let parsed: Vec<_> = events
        .iter()
        .filter_map(|e| e.head_change.clone())
        .collect();
    assert_eq!(parsed.len(), written.len());
    let names = |k: &TipSetKey| k.cids().iter().map(|c| c.to_string()).collect::<Vec<_>>();
    for (p, w) in parsed.iter().zip(&written) {
        assert_eq!(p.from, names(&w.from));
        assert_eq!(p.to, names(&w.to));
        assert_eq!((p.from_height, p.to_height), (w.from_height, w.to_height));
        assert_eq!(
            (p.revert_count, p.apply_count),
            (w.revert_count as i64, w.apply_count as i64)
        );
    }
    // lsync's own records are ordinary journal records to a Lotus journal reader.
    let own: Vec<_> = events
        .iter()
        .filter_map(|e| e.journal.as_ref())
        .filter(|j| &*j.system == SYSTEM_LSYNC)
        .map(|j| &*j.event)
        .collect();
    assert!(own.contains(&EVENT_REORG_PATH) && own.contains(&EVENT_BLOCK_SEEN));
    assert!(events
        .iter()
        .all(|e| e.ts.unwrap().offset_secs == -7 * 3600));
}

#[test]
fn jq_filter_finds_the_deep_reorgs_of_a_scripted_fork() {
    let actions = scripted_fork_actions();
    let dir = TempDir::new("jq");
    let mut writer = JournalWriter::open(JournalConfig::new(&dir.0), T0).unwrap();
    write_actions(&mut writer, &actions);
    // jq 'select(.Event == "head_change" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)'
    let deep: Vec<Value> = read_lines(writer.current_path())
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| {
            r["Event"] == "head_change"
                && r["Data"]["ApplyCount"].as_u64().unwrap() > 1
                && r["Data"]["RevertCount"].as_u64().unwrap() > 0
        })
        .collect();
    assert_eq!(deep.len(), 1, "{deep:#?}");
    let data = &deep[0]["Data"];
    assert_eq!(
        (data["RevertCount"].as_u64(), data["ApplyCount"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(
        (data["FromHeight"].as_i64(), data["ToHeight"].as_i64()),
        (Some(3), Some(4))
    );
    // The scenario also widened a tipset (1/1) and extended the head (0/1): not deep reorgs.
    let all = counts(&actions);
    assert!(all.contains(&(1, 1)) && all.contains(&(0, 1)));
}

/// A file that accepts `room` bytes, then fails; truncation can be made to fail too.
struct FailingFile {
    bytes: Vec<u8>,
    room: usize,
    truncate_fails: bool,
}

impl io::Write for FailingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.room).min(7);
        self.bytes.extend_from_slice(&buf[..n]);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RecordFile for FailingFile {
    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        if self.truncate_fails {
            return Err(io::Error::other("read-only"));
        }
        self.bytes.truncate(len as usize);
        Ok(())
    }
}

#[test]
fn a_failed_write_leaves_no_torn_line() {
    let first = b"{\"a\":1}\n";
    let second = b"{\"record\":\"that does not fit\"}\n";
    let mut file = FailingFile {
        bytes: Vec::new(),
        room: first.len() + 10,
        truncate_fails: false,
    };
    append_whole(&mut file, 0, first).unwrap();
    let (error, truncate_error) = append_whole(&mut file, first.len() as u64, second).unwrap_err();
    assert_eq!(error.to_string(), "disk full");
    assert!(truncate_error.is_none());
    assert_eq!(file.bytes, first, "the partial second record was cut off");

    // If even the truncation fails, the caller learns both.
    file.room = 5;
    file.truncate_fails = true;
    let (_, truncate_error) = append_whole(&mut file, first.len() as u64, second).unwrap_err();
    assert_eq!(truncate_error.unwrap().to_string(), "read-only");
}

#[test]
fn fsync_policy_follows_the_given_clock() {
    let dir = TempDir::new("fsync");
    let mut config = JournalConfig::new(&dir.0);
    config.fsync = FsyncPolicy::Interval { millis: 500 };
    let mut writer = JournalWriter::open(config, T0).unwrap();
    let data = serde_json::json!({});
    writer
        .write_record(T0 + 100_000_000, "t", "e", &data)
        .unwrap();
    assert!(writer.unsynced, "100 ms after the last sync: not yet");
    writer.sync_if_due(T0 + 400_000_000).unwrap();
    assert!(writer.unsynced);
    writer.sync_if_due(T0 + 500_000_000).unwrap();
    assert!(!writer.unsynced);
    assert_eq!(writer.last_sync_nanos, T0 + 500_000_000);

    let mut config = JournalConfig::new(&dir.0);
    config.fsync = FsyncPolicy::EveryRecord;
    let mut writer = JournalWriter::open(config, T0).unwrap();
    writer.write_record(T0 + 1, "t", "e", &data).unwrap();
    assert!(!writer.unsynced);
    assert_eq!(writer.last_sync_nanos, T0 + 1);
}
