//! The message table read both ways: every row's template rendered at every recorded call site
//! parses back to the row's kind and fields, and every real sample line does too, at one of
//! the row's recorded call sites.

use std::collections::HashSet;
use std::fmt::Display;

use super::*;
use crate::event::Event;
use crate::log::LogParser;
use crate::messages::{all_forms, form, match_rule, RULES};

const CID_A: &str = "bafy2bzacecnjqlgfj53ktblghxhmf6je6jndywzdrqkoq4bbmbq6hnbwv4tqm";
const CID_B: &str = "bafy2bzaceaxk3bklnjvictvy42gwt52e52zlxs6wj55imxmygq3xerbccon24";
const PEER: &str = "12D3KooWBF8cpp65hp2u9LK5mh19x67ftAam84z9LsfaquTDSBpt";

fn parse(text: &str) -> Vec<Event> {
    let mut parser = LogParser::new();
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        parser.push_line(i as u64 + 1, line.as_bytes(), &mut events);
    }
    parser.finish(&mut events);
    events
}

/// A value for each hole name the templates use.
fn hole_value(name: &str) -> String {
    match name {
        "tipset" | "got" | "want" | "from" | "to" => format!("[{CID_A} {CID_B}]"),
        "winner" | "loser" | "a" | "b" => format!("{{{CID_A}}}"),
        "worker" => "4977".into(),
        "took" => "117.831817ms".into(),
        "height" => "4500000".into(),
        "delay" => "11".into(),
        "miner" => "f012345".into(),
        "error" => "context deadline exceeded".into(),
        "peer" => PEER.into(),
        "block" => CID_A.into(),
        "reason" => format!("linked to {CID_B}"),
        "count" => "20".into(),
        "instance" => "1288".into(),
        "miners" => "[t09037 t09087]".into(),
        "from_weight" | "to_weight" => "2000".into(),
        other => panic!("no test value for hole {{{other}}}"),
    }
}

/// zap's console rendering of each structured field name the forms use.
fn field_value(name: &str) -> String {
    match name {
        "cid" | "block" => format!("\"{CID_A}\""),
        "source" => format!("\"{PEER}\""),
        "msgfetch" | "took" => "0.015409259".into(),
        "delay" => "11".into(),
        "miner" => "\"f012345\"".into(),
        "height" => "\"4500000\"".into(),
        "age" => "1.109900288".into(),
        "miners" => "[\"f01000\", \"f01001\"]".into(),
        "bestPweight" | "incomingWeight" => "\"1000\"".into(),
        "bestTS" | "incomingTS" | "currTs" | "ts" => format!("\"[{CID_A}]\""),
        "instance" => "446663".into(),
        "ecHeadEpoch" => "5691145".into(),
        other => panic!("no test value for field {other:?}"),
    }
}

fn render(form: &Form, site: &Site) -> String {
    let values: Vec<(String, String)> = form.holes().map(|h| (h.to_string(), hole_value(h))).collect();
    let refs: Vec<(&str, &dyn Display)> = values.iter().map(|(k, v)| (k.as_str(), v as &dyn Display)).collect();
    let mut line = format!(
        "2024-06-23T12:15:52.094Z\t{}\t{}\t{}\t{}",
        site.level.as_str(),
        site.logger,
        site.caller,
        form.message(&refs)
    );
    if !form.fields.is_empty() {
        let fields: Vec<String> = form.fields.iter().map(|f| format!("\"{f}\": {}", field_value(f))).collect();
        line.push_str(&format!("\t{{{}}}", fields.join(", ")));
    }
    line
}

/// The event carries what the form's holes and fields promise.
fn assert_fields(form: &Form, ev: &Event, line: &str) {
    let names: Vec<&str> = form.holes().chain(form.fields.iter().copied()).collect();
    for name in names {
        let ok = match (form.kind, name) {
            (_, "tipset" | "got" | "want" | "winner" | "block" | "cid") => !ev.cids.is_empty(),
            (_, "worker") => ev.worker.is_some(),
            (EventKind::WorkerDone, "took") => ev.duration_ms.is_some(),
            (EventKind::BlockValidation, "took") => ev.duration_ms.is_some(),
            (_, "height") => ev.height.is_some(),
            (_, "delay") => ev.delay_s.is_some(),
            (_, "miner") => ev.miner.is_some(),
            (_, "source" | "peer") => ev.peer.is_some() || form.kind == EventKind::MsgFetchFailed,
            (_, "msgfetch") => ev.duration_ms.is_some(),
            // Carried in the text only.
            _ => true,
        };
        assert!(ok, "{:?}: {{{name}}} not read back from {line:?}: {ev:?}", form.wording);
    }
}

#[test]
fn every_wording_has_exactly_one_form() {
    // An exhaustive match: a new Wording variant does not compile until it is listed here,
    // and then this test fails until the table has its row.
    fn index(w: Wording) -> usize {
        use Wording::*;
        match w {
            SelectedInitialTarget => 0, SelectedTargetPeerHead => 1, SelectedTargetAfterWorker => 2,
            SelectedDeferredTarget => 3, WorkerStart => 4, WorkerDone => 5, ErrorDuringSync => 6,
            LegacySyncError => 7, CollectChainMismatch => 8, NewHeaviest => 9, SlowMsgFetch => 10,
            BlockOverPubsub => 11, BlockDelay => 12, BlockDelayLegacy => 13, BlsFetchFailed => 14,
            BlsFetchFailedTypo => 15, SecpFetchFailed => 16, ReorgBacklog => 17, ReorgBacklogLegacy => 18,
            NotBetter => 19, NotBetterLegacy => 20, BadBlock => 21, WeightDraw => 22,
            TieBrokenForIncoming => 23, TieBrokenForCurrent => 24, TieUnbroken => 25, WeightShrank => 26,
            ImpossibleHeight => 27, OutsideConsensusRange => 28, OutsideConsensusRangeValidator => 29,
            BlockValidation => 30, F3Decision => 31, F3DecisionLegacy => 32,
        }
    }
    let seen: Vec<usize> = all_forms().map(|f| index(f.wording)).collect();
    let unique: HashSet<usize> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a wording has two rows");
    assert_eq!(unique.len(), 33, "a wording has no row");
    for f in all_forms() {
        assert_eq!(form(f.wording).wording, f.wording);
    }
}

#[test]
fn every_template_starts_with_its_rows_prefix() {
    for rule in RULES {
        assert!(!rule.forms.is_empty(), "row {:?} has no form", rule.prefix);
        for f in rule.forms {
            assert!(f.literal_start().starts_with(rule.prefix), "{:?} vs {:?}", f.template, rule.prefix);
            let found = match_rule(f.literal_start()).map(|r| r.prefix);
            assert_eq!(found, Some(rule.prefix), "{:?} is read by another row", f.template);
        }
    }
}

#[test]
fn sites_are_ordered_and_within_the_wordings_life() {
    for f in all_forms() {
        assert!(f.sites.windows(2).all(|w| w[0].since < w[1].since), "{:?}: sites out of order", f.wording);
        if let (Some(gone), Some(last)) = (f.gone_in, f.sites.last()) {
            assert!(last.since < gone, "{:?}: a site after the wording was removed", f.wording);
            assert!(f.site_at(gone).is_none());
        }
        for s in f.sites {
            assert_eq!(f.site_at(s.since), Some(s));
            assert!(s.caller.rsplit_once(':').is_some_and(|(file, line)| file.ends_with(".go") && line.parse::<u32>().is_ok()), "{:?}", s.caller);
        }
    }
    assert_eq!(form(Wording::NewHeaviest).site_at(Release(1, 11, 1)).map(|s| s.caller), Some("store/store.go:646"));
    assert_eq!(form(Wording::NewHeaviest).site_at(Release(1, 11, 2)).map(|s| s.caller), Some("store/store.go:628"));
    assert_eq!(form(Wording::WorkerStart).site_at(Release(1, 1, 2)), None, "the sync manager's lines start at v1.1.3");
    assert_eq!(form(Wording::BlockDelayLegacy).site_at(Release::NEWEST), None);
}

#[test]
fn every_form_rendered_at_every_site_parses_back_to_its_kind_and_fields() {
    let mut lines = 0;
    for f in all_forms() {
        for site in f.sites {
            let line = render(f, site);
            let events = parse(&line);
            assert_eq!(events.len(), 1, "{line}");
            let ev = &events[0];
            assert_eq!(ev.kind, f.kind, "{line}: {:?}", ev.problem);
            assert_eq!((ev.level, ev.logger.as_deref(), ev.caller.as_deref()), (Some(site.level.as_str()), Some(site.logger), Some(site.caller)));
            assert_fields(f, ev, &line);
            lines += 1;
        }
    }
    assert!(lines > 150, "{lines}");
}

#[test]
fn every_real_sample_parses_back_to_its_kind_fields_and_a_recorded_site() {
    let mut samples = 0;
    for f in all_forms() {
        let Some(sample) = f.sample else { continue };
        samples += 1;
        assert!(!sample.source.is_empty());
        let events: Vec<Event> = parse(sample.line).into_iter().filter(|e| e.kind != EventKind::Unknown).collect();
        assert_eq!(events.len(), 1, "{:?}: {events:?}", sample.line);
        let ev = &events[0];
        assert_eq!(ev.kind, f.kind, "{}: {:?}", sample.line, ev.problem);
        assert!(ev.text.starts_with(f.literal_start()), "{:?} does not start {:?}", ev.text, f.literal_start());
        assert_fields(f, ev, sample.line);
        let (level, logger, caller) = (ev.level, ev.logger.as_deref(), ev.caller.as_deref().expect("samples show their caller"));
        match sample.release {
            // The source names its release: the table must put the line exactly there.
            Some(release) => {
                let site = f.site_at(release).unwrap_or_else(|| panic!("{:?}: no site at {release}", f.wording));
                assert_eq!((level, logger, caller), (Some(site.level.as_str()), Some(site.logger), site.caller), "{:?} at {release}", f.wording);
            }
            // A build between tags, or no version given: the logger and the file agree with
            // the table (the line number and, across v1.1.3, the level move).
            None => {
                let file = |c: &str| c.rsplit_once(':').map(|(file, _)| file.to_string());
                assert!(
                    f.sites.iter().any(|s| Some(s.logger) == logger && file(s.caller) == file(caller)),
                    "{:?}: the sample's {logger:?} {caller} matches no site",
                    f.wording
                );
            }
        }
    }
    assert!(samples >= 17, "{samples} real samples");
}

#[test]
fn a_delay_that_is_not_a_finite_number_is_malformed_not_a_late_block() {
    for delay in ["inf", "NaN", "-inf", "infinity"] {
        let line = format!("2020-06-01T10:00:00.000Z\tWARN\tsub\tsub/incoming.go:85\tReceived block with large delay {delay} from miner t01000");
        let ev = &parse(&line)[0];
        assert_eq!(ev.kind, EventKind::Malformed, "{delay}: {ev:?}");
        assert!(ev.delay_s.is_none());
    }
    let ok = "2020-06-01T10:00:00.000Z\tWARN\tsub\tsub/incoming.go:85\tReceived block with large delay 12 from miner t01000";
    assert_eq!(parse(ok)[0].delay_s, Some(12.0));
}

#[test]
fn go_f3_decisions_are_finality_events_with_their_instance() {
    let line = "2026-01-22T12:00:00.123+0000\tINFO\tf3\tgo-f3@v0.8.12/host.go:797\treached a decision\t{\"instance\": 446663, \"ecHeadEpoch\": 5691145}";
    let json = r#"{"level":"info","ts":"2025-05-03T10:00:00.000Z","logger":"f3","caller":"go-f3@v0.8.5/host.go:797","msg":"reached a decision","instance":6017,"ecHeadEpoch":4944900}"#;
    for (text, instance, epoch) in [(line, 446663, 5691145), (json, 6017, 4944900)] {
        let ev = &parse(text)[0];
        assert_eq!(ev.kind, EventKind::Finality, "{ev:?}");
        assert_eq!(ev.height, Some(epoch));
        assert_eq!(crate::journal::finality_instance(&ev.text), Some(instance), "{}", ev.text);
    }
    // go-f3 before v0.0.5 (Lotus v1.28.0-rc1 to -rc5), text and JSON encoders.
    let legacy = "2024-07-03T09:15:00.456+0000\tINFO\tf3\tgo-f3@v0.0.3-0.20240702063402-d48771055cf4/host.go:320\tgot decision at instance 1288, finalized head at epoch: 1779870";
    let legacy_json = r#"{"level":"info","ts":"2024-06-26T10:00:00.000Z","logger":"f3","caller":"go-f3@v0.0.2/host.go:297","msg":"got decision at instance 12, finalized head at epoch: 1742410"}"#;
    for (text, instance, epoch) in [(legacy, 1288, 1779870), (legacy_json, 12, 1742410)] {
        let ev = &parse(text)[0];
        assert_eq!(ev.kind, EventKind::Finality, "{ev:?}");
        assert_eq!(ev.height, Some(epoch));
        assert_eq!(crate::journal::finality_instance(&ev.text), Some(instance), "{}", ev.text);
    }
    // A damaged one is malformed with its reason, not dropped.
    let cut = "2024-07-03T09:15:00.456+0000\tINFO\tf3\tgo-f3@v0.0.4/host.go:579\tgot decision at instance 1288, finalized head at";
    let ev = &parse(cut)[0];
    assert_eq!(ev.kind, EventKind::Malformed, "{ev:?}");
    // Another logger's "reached a decision" is not F3's.
    let other = "2026-01-22T12:00:00.123+0000\tINFO\tchain\tchain/x.go:1\treached a decision\t{\"instance\": 1, \"ecHeadEpoch\": 2}";
    assert!(parse(other).iter().all(|e| e.kind != EventKind::Finality));
}
