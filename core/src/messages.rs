//! The Lotus sync-pipeline message table: one row per wording (lotus-facts §2.2–§2.3), from
//! v0.4 to v1.36. A new Lotus wording is one new row here, nothing else.
//!
//! A row matches on the start of the message (never on the caller: `file:line` moves between
//! versions) and, where a wording is also used elsewhere, on the logger. Its `parse` function
//! fills the event's fields from the message text and, for structured (`…w`) calls, the JSON
//! fields; an `Err` turns the record into a `malformed` event carrying the reason.

use crate::cids::{find_cids_in_text, validate_cid};
use crate::go_text::parse_go_duration_ms;
use crate::event::{Event, EventKind};
use serde_json::{Map, Value};

pub mod forms;

use forms::Form;

/// Structured fields of a go-log record (`{"k": v, …}` after the message, or the extra keys of
/// a JSON-format line).
pub type Fields = Map<String, Value>;

/// Result of a row's field extraction.
pub type ParseResult = Result<(), String>;

/// One wording of one message.
pub struct MessageRule {
    pub kind: EventKind,
    /// The message starts with this text.
    pub prefix: &'static str,
    /// Loggers that may emit it; empty = any. A known logger outside this list makes the line a
    /// decoy (e.g. `Worker N done` of a state migration is not a sync worker).
    pub loggers: &'static [&'static str],
    /// Whether the row needs the structured fields (saves parsing JSON for the others).
    pub wants_fields: bool,
    pub parse: fn(&str, Option<&Fields>, &mut Event) -> ParseResult,
    /// How Lotus writes the wordings this row reads, by release ([`forms`]).
    pub forms: &'static [Form],
}

const CHAIN: &[&str] = &["chain"];
const CHAINSTORE: &[&str] = &["chainstore"];
const SUB: &[&str] = &["sub"];
const CONSENSUS: &[&str] = &["chain", "consensus-common", "consensus", "filcns"];
const F3: &[&str] = &["f3"];

const INITIAL_TARGET: &str = "selected initial sync target:";
const DEFERRED_TARGET: &str = "selected deferred sync target:";
const TARGET: &str = "selected sync target:";

/// The table, most specific prefixes first where one is a prefix of another.
pub static RULES: &[MessageRule] = &[
    MessageRule { kind: EventKind::SelectedInitialTarget, prefix: INITIAL_TARGET, loggers: CHAIN, wants_fields: false, parse: target_list, forms: &[forms::SELECTED_INITIAL_TARGET] },
    MessageRule { kind: EventKind::SelectedDeferredTarget, prefix: DEFERRED_TARGET, loggers: CHAIN, wants_fields: false, parse: target_list, forms: &[forms::SELECTED_DEFERRED_TARGET] },
    MessageRule { kind: EventKind::SelectedTarget, prefix: TARGET, loggers: CHAIN, wants_fields: false, parse: target_list, forms: &[forms::SELECTED_TARGET_PEER_HEAD, forms::SELECTED_TARGET_AFTER_WORKER] },
    MessageRule { kind: EventKind::WorkerStart, prefix: "worker ", loggers: CHAIN, wants_fields: false, parse: worker_line, forms: &[forms::WORKER_START, forms::WORKER_DONE] },
    MessageRule { kind: EventKind::SyncError, prefix: "error during sync in ", loggers: CHAIN, wants_fields: false, parse: error_during_sync, forms: &[forms::ERROR_DURING_SYNC] },
    MessageRule { kind: EventKind::SyncError, prefix: "sync error:", loggers: CHAIN, wants_fields: false, parse: legacy_sync_error, forms: &[forms::LEGACY_SYNC_ERROR] },
    MessageRule { kind: EventKind::SyncError, prefix: "collectChain headers[0] should be equal to sync target", loggers: CHAIN, wants_fields: false, parse: collect_chain_mismatch, forms: &[forms::COLLECT_CHAIN_MISMATCH] },
    MessageRule { kind: EventKind::NewHeaviest, prefix: "New heaviest tipset", loggers: &[], wants_fields: false, parse: new_heaviest, forms: &[forms::NEW_HEAVIEST] },
    MessageRule { kind: EventKind::SlowMsgFetch, prefix: "Slow msg fetch", loggers: SUB, wants_fields: true, parse: pubsub_block_fields, forms: &[forms::SLOW_MSG_FETCH] },
    MessageRule { kind: EventKind::BlockOverPubsub, prefix: "new block over pubsub", loggers: SUB, wants_fields: true, parse: pubsub_block_fields, forms: &[forms::BLOCK_OVER_PUBSUB] },
    MessageRule { kind: EventKind::BlockDelay, prefix: "received block with large delay from miner", loggers: SUB, wants_fields: true, parse: block_delay_structured, forms: &[forms::BLOCK_DELAY] },
    MessageRule { kind: EventKind::BlockDelay, prefix: "Received block with large delay ", loggers: SUB, wants_fields: false, parse: block_delay_legacy, forms: &[forms::BLOCK_DELAY_LEGACY] },
    MessageRule { kind: EventKind::MsgFetchFailed, prefix: "failed to fetch all bls messages for block received over pub", loggers: SUB, wants_fields: false, parse: msg_fetch_failed, forms: &[forms::BLS_FETCH_FAILED, forms::BLS_FETCH_FAILED_TYPO] },
    MessageRule { kind: EventKind::MsgFetchFailed, prefix: "failed to fetch all secpk messages for block received over pub", loggers: SUB, wants_fields: false, parse: msg_fetch_failed, forms: &[forms::SECP_FETCH_FAILED] },
    MessageRule { kind: EventKind::ReorgBacklog, prefix: "reorg channel is heavily backlogged", loggers: CHAINSTORE, wants_fields: false, parse: reorg_backlog, forms: &[forms::REORG_BACKLOG] },
    MessageRule { kind: EventKind::ReorgBacklog, prefix: "Reorg channel running behind", loggers: CHAINSTORE, wants_fields: false, parse: reorg_backlog, forms: &[forms::REORG_BACKLOG_LEGACY] },
    MessageRule { kind: EventKind::NotBetter, prefix: "incoming tipset ", loggers: CHAIN, wants_fields: true, parse: not_better, forms: &[forms::NOT_BETTER, forms::NOT_BETTER_LEGACY] },
    MessageRule { kind: EventKind::BadBlock, prefix: "InformNewHead called on block marked as bad:", loggers: CHAIN, wants_fields: false, parse: bad_block, forms: &[forms::BAD_BLOCK] },
    MessageRule { kind: EventKind::WeightDraw, prefix: "weight draw", loggers: CHAINSTORE, wants_fields: true, parse: weight_draw, forms: &[forms::WEIGHT_DRAW] },
    MessageRule { kind: EventKind::WeightTieBroken, prefix: "weight tie broken in favour of ", loggers: CHAINSTORE, wants_fields: false, parse: weight_tie_broken, forms: &[forms::TIE_BROKEN_FOR_INCOMING, forms::TIE_BROKEN_FOR_CURRENT] },
    MessageRule { kind: EventKind::WeightTieBroken, prefix: "weight tie between ", loggers: CHAINSTORE, wants_fields: false, parse: weight_tie_unbroken, forms: &[forms::TIE_UNBROKEN] },
    MessageRule { kind: EventKind::WeightShrank, prefix: "chainstore heaviest tipset's weight SHRANK", loggers: CHAINSTORE, wants_fields: false, parse: weight_shrank, forms: &[forms::WEIGHT_SHRANK] },
    MessageRule { kind: EventKind::ImpossibleHeight, prefix: "Received block with impossibly large height ", loggers: CHAIN, wants_fields: false, parse: trailing_height, forms: &[forms::IMPOSSIBLE_HEIGHT] },
    MessageRule { kind: EventKind::ImpossibleHeight, prefix: "received block outside of consensus range", loggers: CONSENSUS, wants_fields: false, parse: trailing_height, forms: &[forms::OUTSIDE_CONSENSUS_RANGE, forms::OUTSIDE_CONSENSUS_RANGE_VALIDATOR] },
    MessageRule { kind: EventKind::BlockValidation, prefix: "block validation", loggers: CHAIN, wants_fields: true, parse: block_validation, forms: &[forms::BLOCK_VALIDATION] },
    MessageRule { kind: EventKind::Finality, prefix: "reached a decision", loggers: F3, wants_fields: true, parse: f3_decision, forms: &[forms::F3_DECISION] },
    MessageRule { kind: EventKind::Finality, prefix: "got decision at instance ", loggers: F3, wants_fields: false, parse: f3_decision_legacy, forms: &[forms::F3_DECISION_LEGACY] },
];

/// Every form of every row: how Lotus writes what the table reads.
pub fn all_forms() -> impl Iterator<Item = &'static Form> {
    RULES.iter().flat_map(|rule| rule.forms.iter())
}

/// The form of `wording`. Every wording has a row (`every_wording_has_one_form` checks it).
pub fn form(wording: forms::Wording) -> &'static Form {
    all_forms()
        .find(|f| f.wording == wording)
        .expect("every wording has a row in RULES")
}

/// For each first byte, the rows whose prefix starts with it (bit `i` = `RULES[i]`): a message
/// is compared with two or three prefixes at most, not the whole table.
static RULES_BY_FIRST_BYTE: [u32; 256] = {
    assert!(RULES.len() <= 32, "RULES_BY_FIRST_BYTE holds 32 rows");
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < RULES.len() {
        t[RULES[i].prefix.as_bytes()[0] as usize] |= 1 << i;
        i += 1;
    }
    t
};

/// Finds the row whose prefix starts `msg`, if any (the first such row of the table). Cheap: a
/// first-byte lookup, then only the rows starting with that byte are compared.
pub fn match_rule(msg: &str) -> Option<&'static MessageRule> {
    match_rule_bytes(msg.as_bytes())
}

/// [`match_rule`] on bytes (the log fast path has not decoded the line yet).
#[inline]
pub fn match_rule_bytes(msg: &[u8]) -> Option<&'static MessageRule> {
    let mut rows = RULES_BY_FIRST_BYTE[*msg.first()? as usize];
    while rows != 0 {
        let rule = &RULES[rows.trailing_zeros() as usize];
        if msg.starts_with(rule.prefix.as_bytes()) {
            return Some(rule);
        }
        rows &= rows - 1;
    }
    None
}

/// True when a known logger rules the row out.
pub fn logger_allowed(rule: &MessageRule, logger: Option<&str>) -> bool {
    match logger {
        None => true,
        Some(l) => rule.loggers.is_empty() || rule.loggers.contains(&l),
    }
}

fn rest<'a>(msg: &'a str, prefix: &str) -> &'a str {
    msg.get(prefix.len()..).unwrap_or("")
}

/// `s` with its line breaks removed; borrowed when it has none (nearly always).
fn without_newlines(s: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr(b'\n', s.as_bytes()).is_some() {
        s.replace('\n', "").into()
    } else {
        s.into()
    }
}

/// [`cid_list`] that keeps a paste-damaged CID (flagged on the event) instead of failing.
fn cid_list_keeping_damaged(s: &str, ev: &mut Event) -> Result<(Vec<String>, usize), String> {
    crate::cids::parse_cid_list_prefix_lenient(s, &mut ev.damaged_cids).map_err(|e| e.to_string())
}

fn target_list(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    // The row that matched set the kind; its prefix starts the message.
    let prefix = match ev.kind {
        EventKind::SelectedInitialTarget => INITIAL_TARGET,
        EventKind::SelectedDeferredTarget => DEFERRED_TARGET,
        _ => TARGET,
    };
    let (cids, _) = cid_list_keeping_damaged(rest(msg, prefix), ev)?;
    if cids.is_empty() {
        return Err("empty sync target".into());
    }
    ev.cids = cids;
    Ok(())
}

/// `worker N syncing in [..]` or `worker N done; took D`; the row's kind is refined here.
fn worker_line(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let r = rest(msg, "worker ");
    let n = r.bytes().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return Err(NOT_THIS_MESSAGE.into());
    }
    let id: u64 = r[..n].parse().map_err(|_| "worker id out of range".to_string())?;
    let after = &r[n..];
    if let Some(list) = after.strip_prefix(" syncing in ") {
        ev.kind = EventKind::WorkerStart;
        ev.worker = Some(id);
        ev.cids = cid_list_keeping_damaged(list, ev)?.0;
        Ok(())
    } else if let Some(d) = after.strip_prefix(" done; took ") {
        ev.kind = EventKind::WorkerDone;
        ev.worker = Some(id);
        let flat = without_newlines(d);
        let d = flat.split_whitespace().next().unwrap_or("");
        ev.duration_ms = Some(parse_go_duration_ms(d).ok_or_else(|| format!("bad duration {d:?}"))?);
        Ok(())
    } else {
        Err(NOT_THIS_MESSAGE.into())
    }
}

/// Sentinel: the prefix matched but the wording is something else (a decoy); the record is then
/// counted as an ordinary record, not as malformed.
pub const NOT_THIS_MESSAGE: &str = "\u{0}not a sync message";

fn error_during_sync(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let (cids, used) = cid_list_keeping_damaged(rest(msg, "error during sync in "), ev)?;
    ev.cids = cids;
    let tail = &rest(msg, "error during sync in ")[used..];
    if !tail.starts_with(':') {
        return Err("missing ': error' after the tipset".into());
    }
    Ok(())
}

fn legacy_sync_error(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    ev.cids = find_cids_in_text(msg);
    Ok(())
}

fn collect_chain_mismatch(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    ev.cids = find_cids_in_text(msg);
    Ok(())
}

fn new_heaviest(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    // Lotus: `New heaviest tipset! [a b] (height=H)`. Modified forks print e.g.
    // `New heaviest tipset (height=48834)! [..], [t03176-…]`: take the first list and the height.
    let open = memchr::memchr(b'[', msg.as_bytes()).ok_or("no tipset list")?;
    ev.cids = cid_list_keeping_damaged(&msg[open..], ev)?.0;
    // A hard wrap may split `(height=123)` over lines: read it with the line breaks removed.
    let flat = without_newlines(msg);
    // The first `height=`: the first `=` (rare in these messages) that ends one.
    let h = memchr::memchr_iter(b'=', flat.as_bytes()).find(|&e| flat.as_bytes()[..e].ends_with(b"height")).map(|e| e - 6).ok_or("no height")?;
    let tail = &flat[h + 7..];
    let digits = &tail[..tail.bytes().take_while(|c| c.is_ascii_digit() || *c == b'-').count()];
    ev.height = Some(digits.parse().map_err(|_| format!("bad height {digits:?}"))?);
    Ok(())
}

fn field_str(fields: Option<&Fields>, key: &str) -> Option<String> {
    match fields?.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn field_f64(fields: Option<&Fields>, key: &str) -> Option<f64> {
    match fields?.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// zap encodes a `time.Duration` field as float seconds; some builds and tools write Go text.
fn field_duration_ms(fields: Option<&Fields>, key: &str) -> Option<f64> {
    match fields?.get(key)? {
        Value::Number(n) => n.as_f64().map(|s| s * 1000.0),
        Value::String(s) => parse_go_duration_ms(s).or_else(|| s.parse::<f64>().ok().map(|v| v * 1000.0)),
        _ => None,
    }
}

/// A CID as printed: validated, or kept as printed (and flagged on the event) when a paste
/// damaged it; text that is not CID-shaped at all is an error.
fn cid_keeping_damaged(s: &str, ev: &mut Event) -> Result<String, String> {
    match validate_cid(s) {
        Ok(c) => Ok(c),
        Err(_) if crate::cids::looks_like_damaged_cid(s) => {
            ev.damaged_cids.push(s.to_string());
            Ok(s.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn field_cid(fields: Option<&Fields>, key: &str, ev: &mut Event) -> Result<Option<String>, String> {
    match fields.and_then(|f| f.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => cid_keeping_damaged(s, ev).map(Some).map_err(|e| format!("field {key}: {e}")),
        Some(Value::Object(o)) => match o.get("/") {
            Some(Value::String(s)) => cid_keeping_damaged(s, ev).map(Some).map_err(|e| format!("field {key}: {e}")),
            _ => Err(format!("field {key}: not a CID")),
        },
        Some(_) => Err(format!("field {key}: not a CID")),
    }
}

/// A tipset printed into a field: `"[a b]"`, or `[{"/":a},…]` via reflection.
fn field_cid_list(fields: Option<&Fields>, key: &str, ev: &mut Event) -> Result<Vec<String>, String> {
    match fields.and_then(|f| f.get(key)) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => {
            if s.starts_with('[') || s.starts_with('{') {
                Ok(cid_list_keeping_damaged(s, ev)?.0)
            } else {
                crate::cids::parse_cid_tokens_lenient(s, &mut ev.damaged_cids).map_err(|e| e.to_string())
            }
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => cid_keeping_damaged(s, ev),
                Value::Object(o) => match o.get("/") {
                    Some(Value::String(s)) => cid_keeping_damaged(s, ev),
                    _ => Err(format!("field {key}: not a CID")),
                },
                _ => Err(format!("field {key}: not a CID")),
            })
            .collect(),
        Some(_) => Err(format!("field {key}: not a CID list")),
    }
}

fn pubsub_block_fields(_: &str, fields: Option<&Fields>, ev: &mut Event) -> ParseResult {
    if let Some(c) = field_cid(fields, "cid", ev)? {
        ev.cids = vec![c];
    }
    ev.peer = field_str(fields, "source");
    ev.duration_ms = field_duration_ms(fields, "msgfetch");
    Ok(())
}

fn block_delay_structured(_: &str, fields: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let fields = fields.ok_or("no fields (block, delay, miner)")?;
    if let Some(c) = field_cid(Some(fields), "block", ev)? {
        ev.cids = vec![c];
    }
    ev.delay_s = Some(field_f64(Some(fields), "delay").filter(|d| d.is_finite()).ok_or("no delay field (or not a finite number)")?);
    ev.miner = field_str(Some(fields), "miner");
    Ok(())
}

fn block_delay_legacy(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    // `Received block with large delay %d from miner %s` (≤ v1.5.0): no block CID.
    let r = rest(msg, "Received block with large delay ");
    let mut it = r.split_whitespace();
    let delay = it.next().ok_or("no delay")?;
    // `%d`: a number; Rust's parse would also take `inf` and `NaN`, which no Lotus writes.
    ev.delay_s = Some(delay.parse::<f64>().ok().filter(|d| d.is_finite()).ok_or_else(|| format!("bad delay {delay:?}"))?);
    if it.next() != Some("from") || it.next() != Some("miner") {
        return Err("expected 'from miner'".into());
    }
    ev.miner = Some(it.next().ok_or("no miner")?.to_string());
    Ok(())
}

fn msg_fetch_failed(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    ev.cids = find_cids_in_text(msg);
    if let Some(p) = msg.rfind("; source: ") {
        ev.peer = msg[p + 10..].split_whitespace().next().map(str::to_string);
    }
    Ok(())
}

fn reorg_backlog(_: &str, _: Option<&Fields>, _: &mut Event) -> ParseResult {
    Ok(())
}

fn not_better(msg: &str, fields: Option<&Fields>, ev: &mut Event) -> ParseResult {
    if !msg.contains("does not appear to be better than our best chain") {
        return Err(NOT_THIS_MESSAGE.into());
    }
    // v1.0.x: `incoming tipset from %s does not appear …`
    if let Some(from) = rest(msg, "incoming tipset ").strip_prefix("from ") {
        ev.peer = from.split_whitespace().next().map(str::to_string);
    }
    ev.cids = field_cid_list(fields, "incomingTS", ev)?;
    if let Some(Value::Array(m)) = fields.and_then(|f| f.get("miners")) {
        let miners: Vec<&str> = m.iter().filter_map(Value::as_str).collect();
        if !miners.is_empty() {
            ev.miner = Some(miners.join(","));
        }
    }
    Ok(())
}

fn bad_block(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let r = rest(msg, "InformNewHead called on block marked as bad:").trim_start();
    let c = r.split(|ch: char| ch.is_whitespace()).next().unwrap_or("");
    ev.cids = vec![cid_keeping_damaged(c, ev)?];
    Ok(())
}

fn weight_draw(_: &str, fields: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let mut cids = field_cid_list(fields, "ts", ev)?;
    cids.extend(field_cid_list(fields, "currTs", ev)?);
    ev.cids = cids;
    Ok(())
}

fn weight_tie_broken(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let r = rest(msg, "weight tie broken in favour of ");
    let (mut winner, used) = cid_list_keeping_damaged(r, ev)?;
    let r2 = r[used..].trim_start().strip_prefix("against").ok_or("expected 'against'")?;
    let (loser, _) = cid_list_keeping_damaged(r2, ev)?;
    winner.extend(loser);
    ev.cids = winner;
    Ok(())
}

fn weight_tie_unbroken(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    ev.cids = find_cids_in_text(msg);
    Ok(())
}

fn weight_shrank(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    ev.cids = find_cids_in_text(msg);
    Ok(())
}

fn trailing_height(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    // `… impossibly large height %d`, `… range at height %d`, `… range (%d)`.
    let flat = msg.replace('\n', "");
    let digits: String = flat
        .trim_end()
        .trim_end_matches(')')
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    ev.height = Some(digits.parse().map_err(|_| "no height".to_string())?);
    Ok(())
}

/// [`block_validation`] read straight from the text of the record's field object, as
/// `serde_json` would read it into [`Fields`], without building the map (it cost more than the
/// rest of the line). `None` when the strict scan does not model the text: the caller then
/// parses it with serde. (Its events are one in five of a busy node's sync lines.)
pub fn block_validation_from_text(fields_text: &str, ev: &mut Event) -> Option<()> {
    use crate::json_scan::{object_values, Raw};
    let [took, height, age] = object_values(fields_text.trim(), ["took", "height", "age"])?;
    // What `field_duration_ms` / `field_f64` answer for a value; `None` = not decided here.
    let number = |r: &Raw<'_>| serde_json::from_str::<f64>(r.raw).ok();
    let duration_ms = |v: Option<Raw<'_>>| -> Option<Option<f64>> {
        let Some(r) = v else { return Some(None) };
        Some(match r.raw.as_bytes()[0] {
            b'-' | b'0'..=b'9' => Some(number(&r)? * 1000.0),
            b'"' => {
                let s = r.plain()?;
                parse_go_duration_ms(s).or_else(|| s.parse::<f64>().ok().map(|v| v * 1000.0))
            }
            _ => None,
        })
    };
    let took_ms = duration_ms(took)?;
    let age_ms = duration_ms(age)?;
    let height = match height {
        None => None,
        Some(r) => match r.raw.as_bytes()[0] {
            b'-' | b'0'..=b'9' => Some(number(&r)?),
            b'"' => r.plain()?.trim().parse::<f64>().ok(),
            _ => None,
        },
    };
    ev.duration_ms = took_ms;
    ev.height = height.map(|h| h as i64);
    ev.delay_s = age_ms.map(|ms| ms / 1000.0);
    Some(())
}

/// go-f3's decision: the instance and the epoch of the decided chain's head (what this node's
/// F3 finalized), in the text `lsync finality` reads the instance back from.
fn f3_decision(_: &str, fields: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let instance = field_f64(fields, "instance").ok_or("no instance field")? as u64;
    let epoch = field_f64(fields, "ecHeadEpoch").ok_or("no ecHeadEpoch field")? as i64;
    ev.height = Some(epoch);
    ev.text = crate::journal::finality_text(Some(instance), epoch, None, "go-f3's log");
    Ok(())
}

/// go-f3's decision before v0.0.5, as printf: `got decision at instance N, finalized head at
/// epoch: E` (Lotus v1.28.0-rc1 to -rc5).
fn f3_decision_legacy(msg: &str, _: Option<&Fields>, ev: &mut Event) -> ParseResult {
    let r = rest(msg, "got decision at instance ");
    let (instance, r) = r.split_once(", finalized head at epoch: ").ok_or("expected ', finalized head at epoch: '")?;
    let instance: u64 = instance.trim().parse().map_err(|_| format!("bad instance {instance:?}"))?;
    let epoch = r.split_whitespace().next().ok_or("no epoch")?;
    let epoch: i64 = epoch.parse().map_err(|_| format!("bad epoch {epoch:?}"))?;
    ev.height = Some(epoch);
    ev.text = crate::journal::finality_text(Some(instance), epoch, None, "go-f3's log");
    Ok(())
}

fn block_validation(_: &str, fields: Option<&Fields>, ev: &mut Event) -> ParseResult {
    ev.duration_ms = field_duration_ms(fields, "took");
    ev.height = field_f64(fields, "height").map(|h| h as i64);
    ev.delay_s = field_duration_ms(fields, "age").map(|ms| ms / 1000.0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-validation fields read from text, and through serde's map: the same event
    /// whenever the text is decided; never decided where serde refuses the text.
    fn block_validation_agrees(text: &str) {
        let mut fast = Event::new(EventKind::BlockValidation, 1, String::new());
        let decided = block_validation_from_text(text, &mut fast);
        match serde_json::from_str::<Fields>(text.trim()) {
            Ok(map) => {
                let mut slow = Event::new(EventKind::BlockValidation, 1, String::new());
                block_validation("block validation", Some(&map), &mut slow).unwrap();
                if decided.is_some() {
                    assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
                }
            }
            Err(_) => assert!(decided.is_none(), "decided a text serde refuses: {text}"),
        }
    }

    #[test]
    fn block_validation_fields_read_from_text_as_serde_reads_them() {
        for text in [
            r#"{"took": 0.0441, "height": "1319480", "age": 1.572}"#,
            r#"{"took":12,"height":1319480,"age":"1.5s"}"#,
            r#"{"took": "554.773137ms", "height": " 7 ", "age": -0}"#,
            r#" {"height": null, "took": true, "age": [1, {"a": "b"}]} "#,
            r#"{"took": 1e3, "height": 1, "age": 1}"#,
            r#"{"took": 1, "took": 2}"#,
            r#"{"took": 1}"#,
            r#"{"to
ok": 1, "took": "a"b"}"#,
            r#"{"took": 0.0441, "height": "1319480", "age": 1.572"#,
            r#"{"took": 0.0441,}"#,
            "{}",
            "",
            r#"{"took": 0.1}
  x"#,
            r#"{"other": {"took": 5}, "age": "x"}"#,
        ] {
            block_validation_agrees(text);
        }
        let mut ev = Event::new(EventKind::BlockValidation, 1, String::new());
        assert!(block_validation_from_text(r#"{"took": 0.0441, "height": "1319480", "age": 1.572}"#, &mut ev).is_some(), "the common form is decided");
    }

    proptest::proptest! {
        #[test]
        fn block_validation_fields_agree_on_generated_objects(
            members in proptest::collection::vec((0usize..5, 0usize..14), 0..5),
            spaced in proptest::prelude::any::<bool>(),
        ) {
            let keys = ["took", "height", "age", "other", "took "];
            let values = ["0.0441", "-0", "12", "1.5e3", "\"1319480\"", "\" 12 \"", "\"554.77ms\"", "\"x\"", "\"a\\nb\"", "null", "true", "[1,2]", "{\"a\":1}", "18446744073709551616"];
            let sep = if spaced { ", " } else { "," };
            let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{}\":{}{}", keys[*k], if spaced { " " } else { "" }, values[*v])).collect();
            block_validation_agrees(&format!("{{{}}}", body.join(sep)));
        }
    }

    #[test]
    fn every_row_prefix_fits_in_the_bytes_the_fast_path_checks_for_colour() {
        assert!(RULES.iter().all(|r| r.prefix.len() <= 64), "log/fast.rs DECIDING_MESSAGE_BYTES must cover the longest prefix");
    }

    #[test]
    fn first_byte_lookup_finds_the_first_matching_row() {
        // Every prefix, and every prefix with more text after it, finds the same row as a scan
        // of the table in order (which is what "most specific first" relies on).
        for r in RULES {
            for msg in [r.prefix.to_string(), format!("{} x", r.prefix), r.prefix[..r.prefix.len() - 1].to_string()] {
                let scan = RULES.iter().find(|q| msg.starts_with(q.prefix)).map(|q| q.prefix);
                assert_eq!(match_rule(&msg).map(|q| q.prefix), scan, "{msg:?}");
            }
        }
        assert!(match_rule("").is_none());
        assert!(match_rule("mpool add: nonce gap").is_none());
    }
}
