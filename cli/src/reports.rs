//! The commands: call the analyzers, print tables / CSV / JSON.

use crate::columns;
use crate::output::{self, bytes, ms, ok_on_pipe, opt, table};
use crate::{FilterArgs, OutputArgs};
use anyhow::{Context, Result};
use lsync_analyzers::ingest::{self, IngestOptions, Progress};
use lsync_analyzers::query::{self, TraceResult};
use lsync_core::EventKind;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

struct Bar {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress for Bar {
    fn start(&mut self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }
    fn advance(&mut self, delta: u64, file: &str) {
        if let Some(b) = &self.bar {
            b.inc(delta);
            if b.message() != file {
                b.set_message(file.to_string());
            }
        }
    }
    fn finish(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

pub fn ingest(db: &Path, paths: &[PathBuf], opts: IngestOptions, json: bool, quiet: bool) -> Result<ExitCode> {
    let files = ingest::discover(paths)?;
    if files.is_empty() {
        anyhow::bail!("no files found under {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let mut conn = lsync_analyzers::open(db)?;
    let bar = if !quiet && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        Some(b)
    } else {
        None
    };
    let report = ingest::ingest(&mut conn, &files, &opts, &mut Bar { bar })?;
    if json {
        ok_on_pipe(output::print_json(&serde_json::to_string_pretty(&report)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = format!(
        "Ingested {} file(s) for node {:?} into {}: {}, {} lines, {} events stored.\n",
        report.files.len(),
        report.node,
        db.display(),
        bytes(report.bytes),
        report.lines,
        report.events
    );
    for f in report.files.iter() {
        if let Some(why) = &f.skipped {
            s.push_str(&format!("{}: skipped: {why}\n", f.path));
        }
    }
    if quiet {
        if report.warnings > 0 {
            s.push_str(&format!("{} event(s) kept with a CID that does not decode (damaged in a paste?); `--json` lists them as warnings\n", report.warnings));
        }
        if report.malformed + report.unknown > 0 {
            s.push_str(&format!("{} malformed and {} unknown line(s): `lsync events --kind malformed --kind unknown`\n", report.malformed, report.unknown));
        }
        for f in report.files.iter().filter(|f| f.torn_line.is_some()) {
            s.push_str(&format!("{}:{}: last line is incomplete; it will be read on the next run\n", f.path, f.torn_line.unwrap_or(0)));
        }
        ok_on_pipe(output::print(&s))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(&["file", "format", "status", "new bytes", "lines", "events", "malformed", "unknown"]);
    for f in &report.files {
        t.add_row(vec![
            f.path.clone(),
            format!("{}{}", f.format, f.compression.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()),
            f.status.clone(),
            bytes(f.bytes),
            f.lines.to_string(),
            f.events.to_string(),
            f.malformed.to_string(),
            f.unknown.to_string(),
        ]);
    }
    s.push_str(&t.to_string());
    s.push('\n');
    if !report.by_kind.is_empty() {
        let mut k = table(&["kind", "events"]);
        for (kind, n) in &report.by_kind {
            k.add_row(vec![kind.clone(), n.to_string()]);
        }
        s.push_str(&k.to_string());
        s.push('\n');
    }
    for f in &report.files {
        for (line, kind, why) in &f.problems {
            s.push_str(&format!("{kind}: {}:{line}: {why}\n", f.path));
        }
        let shown = f.problems.len() as u64;
        if f.malformed + f.unknown + f.warnings > shown {
            s.push_str(&format!("… and {} more malformed/unknown/warning line(s) in {} (`lsync events --kind malformed --kind unknown`)\n", f.malformed + f.unknown + f.warnings - shown, f.path));
        }
        if let Some(l) = f.torn_line {
            s.push_str(&format!("{}:{l}: last line is incomplete (still being written); it will be read on the next run\n", f.path));
        }
    }
    ok_on_pipe(output::print(&s))?;
    Ok(ExitCode::SUCCESS)
}

/// `--json` / `--csv` from the report's column declaration; `None` when the table is wanted.
fn print_data<R>(report: &columns::Report<R>, rows: &[R], out: OutputArgs) -> Result<Option<ExitCode>> {
    if out.json {
        ok_on_pipe(report.write_json_lines(rows))?;
    } else if out.csv {
        ok_on_pipe(report.write_csv(rows))?;
    } else {
        return Ok(None);
    }
    Ok(Some(ExitCode::SUCCESS))
}

fn parse_kinds(kinds: &[String]) -> Result<Vec<EventKind>> {
    kinds
        .iter()
        .flat_map(|k| k.split(','))
        .filter(|k| !k.is_empty())
        .map(|k| {
            k.parse::<EventKind>().map_err(|_| {
                anyhow::anyhow!("unknown event kind {k:?}; known kinds: {}", EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
            })
        })
        .collect()
}

pub fn events(db: &Path, kinds: &[String], cid: Option<String>, all: bool, limit: Option<u64>, filter: &FilterArgs, out: OutputArgs) -> Result<ExitCode> {
    let mut f = filter.to_filter()?;
    f.kinds = parse_kinds(kinds)?;
    f.cid = cid;
    f.all_kinds = all;
    f.limit = limit;
    let conn = lsync_analyzers::open_for_reading(db)?;
    let rows = query::events(&conn, &f)?;
    if let Some(done) = print_data(&columns::EVENTS, &rows, out)? {
        return Ok(done);
    }
    let t = columns::EVENTS.table(&rows);
    let untimed = rows.iter().filter(|r| r.ts.is_none()).count();
    let s = if rows.is_empty() {
        "No events match.".to_string()
    } else if untimed > 0 {
        format!("{t}\n{} event(s); {untimed} without a timestamp (lines copied without one) are listed last", rows.len())
    } else {
        format!("{t}\n{} event(s)", rows.len())
    };
    ok_on_pipe(output::print(&s))?;
    Ok(ExitCode::SUCCESS)
}

pub fn trace(db: &Path, cid: &str, node: Option<&str>, json: bool) -> Result<ExitCode> {
    // Validate before touching the database: an invalid CID is a usage error.
    query::parse_trace_arg(cid)?;
    let conn = lsync_analyzers::open_for_reading(db)?;
    match query::trace(&conn, cid, node)? {
        TraceResult::NotFound { cid, similar } => {
            let mut msg = format!("no events name {cid}");
            let damaged = |c: &str| if lsync_core::cids::validate_cid(c).is_err() { " (damaged: it does not decode)" } else { "" };
            let near: Vec<String> = similar
                .iter()
                .filter_map(|s| s.edits.map(|e| format!("{}{} ({e} edit{})", s.cid, damaged(&s.cid), if e == 1 { "" } else { "s" })))
                .collect();
            let prefix: Vec<String> = similar.iter().filter(|s| s.edits.is_none()).map(|s| format!("{}{}", s.cid, damaged(&s.cid))).collect();
            // A near match is most likely this CID, one of the two texts damaged in a paste.
            if !near.is_empty() {
                msg.push_str(&format!("; known CIDs a character or two away (the same CID, damaged in a paste?): {}", near.join(", ")));
            }
            if !prefix.is_empty() {
                msg.push_str(&format!("; known CIDs with the same prefix: {}", prefix.join(", ")));
            }
            anyhow::bail!(msg)
        }
        TraceResult::Ambiguous { prefix, matches } => {
            let more = if matches.len() > 5 { ", …" } else { "" };
            anyhow::bail!(
                "{prefix} is the start of several known CIDs: {}{more}; give more characters",
                matches.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            )
        }
        TraceResult::Found(t) => {
            if json {
                ok_on_pipe(output::print_json(&serde_json::to_string(&t)?))?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut s = format!("{} — {} event(s) on {} node(s)\n", t.cid, t.events.len(), t.nodes.len());
            for n in &t.nodes {
                s.push_str(&format!("\nnode {n}\n"));
                let mut tb = table(&["stage", "ts", "+prev", "+first", "where", "detail"]);
                for st in t.stages.iter().filter(|s| &s.node == n) {
                    tb.add_row(vec![
                        st.stage.clone(),
                        opt(&st.ts),
                        ms(st.since_prev_ms),
                        ms(st.since_first_ms),
                        format!("{}:{}", st.file, st.line),
                        st.detail.clone(),
                    ]);
                }
                s.push_str(&tb.to_string());
                s.push('\n');
            }
            if t.nodes.len() > 1 {
                s.push_str(&side_by_side(&t));
            }
            ok_on_pipe(output::print(&s))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The nodes of a trace side by side: each stage's first time on each node, in ms after the
/// earliest stage of any node.
fn side_by_side(t: &query::Trace) -> String {
    let mut stages: Vec<&str> = Vec::new();
    for st in &t.stages {
        if !stages.contains(&st.stage.as_str()) {
            stages.push(&st.stage);
        }
    }
    let zero = t.stages.iter().filter_map(|s| s.ts_ns).min();
    let mut heads = vec!["stage"];
    heads.extend(t.nodes.iter().map(String::as_str));
    let mut tb = table(&heads);
    for stage in stages {
        let mut row = vec![stage.to_string()];
        for n in &t.nodes {
            let at = t.stages.iter().find(|s| &s.node == n && s.stage == stage).and_then(|s| s.ts_ns);
            row.push(match (at, zero) {
                (Some(a), Some(z)) => format!("+{:.1} ms", (a - z) as f64 / 1e6),
                _ => "—".into(),
            });
        }
        tb.add_row(row);
    }
    format!("\nside by side (each stage's first time, after the earliest stage on any node)\n{tb}\n")
}

pub fn reorgs(db: &Path, min_apply: i64, min_revert: i64, filter: &FilterArgs, out: OutputArgs) -> Result<ExitCode> {
    let f = filter.to_filter()?;
    let conn = lsync_analyzers::open_for_reading(db)?;
    let rows = query::reorgs(&conn, min_apply, min_revert, &f)?;
    if let Some(done) = print_data(&columns::REORGS, &rows, out)? {
        return Ok(done);
    }
    let t = columns::REORGS.table(&rows);
    let s = if rows.is_empty() {
        format!("No head changes with ApplyCount ≥ {min_apply} and RevertCount ≥ {min_revert}.")
    } else {
        format!("{t}\n{} head change(s) with ApplyCount ≥ {min_apply} and RevertCount ≥ {min_revert}", rows.len())
    };
    ok_on_pipe(output::print(&s))?;
    Ok(ExitCode::SUCCESS)
}

pub fn miners(db: &Path, min_delay: f64, worst: usize, filter: &FilterArgs, out: OutputArgs) -> Result<ExitCode> {
    let f = filter.to_filter()?;
    let conn = lsync_analyzers::open_for_reading(db)?;
    let rows = lsync_analyzers::miners::miners(&conn, min_delay, &f, worst).context("computing miner statistics")?;
    if let Some(done) = print_data(&columns::MINERS, &rows, out)? {
        return Ok(done);
    }
    let t = columns::MINERS.table(&rows);
    let s = if rows.is_empty() { format!("No block_delay events with delay ≥ {min_delay}s.") } else { format!("{t}\n{} miner(s)", rows.len()) };
    ok_on_pipe(output::print(&s))?;
    Ok(ExitCode::SUCCESS)
}

pub fn orphans(db: &Path, filter: &FilterArgs, out: OutputArgs) -> Result<ExitCode> {
    let f = filter.to_filter()?;
    let conn = lsync_analyzers::open_for_reading(db)?;
    let (rows, notes) = lsync_analyzers::orphans::orphans(&conn, &f).context("finding orphans")?;
    if notes.is_empty() {
        anyhow::bail!("the database holds no head changes or blocks{}: ingest a node's journal and logs (or a follow/attach repo) first", f.node.as_deref().map_or(String::new(), |n| format!(" for node {n}")));
    }
    if let Some(done) = print_data(&columns::ORPHANS, &rows, out)? {
        return Ok(done);
    }
    let mut o = if rows.is_empty() { "No orphaned block.".to_string() } else { format!("{}\n{} orphaned block(s)", columns::ORPHANS.table(&rows), rows.len()) };
    for n in &notes {
        let chain = if n.exact_chain { "exact (lsync reorg paths)" } else { "heads only (Lotus journal: heights inside multi-tipset head changes undecided)" };
        o.push_str(&format!("\nnode {}: canonical chain {chain}, head {}; {} block(s) known, {} undecided (above the head or at uncovered heights)", n.node, output::opt(&n.head_height), n.blocks_known, n.undecided));
    }
    ok_on_pipe(output::print(&o))?;
    Ok(ExitCode::SUCCESS)
}

/// A CID cut for a table cell: its first 16 characters (enough for `lsync trace`).
fn short_cid(c: &str) -> String {
    if c.len() > 18 {
        format!("{}…", &c[..16])
    } else {
        c.to_string()
    }
}

pub fn compare(db: &Path, filter: &query::Filter, sel: lsync_analyzers::compare::Selection, out: OutputArgs) -> Result<ExitCode> {
    let conn = lsync_analyzers::open_for_reading(db)?;
    let known = lsync_analyzers::chain_view::node_views(&conn, &query::Filter::default())?.into_iter().map(|v| v.node).collect::<Vec<_>>();
    for n in &sel.nodes {
        if !known.contains(n) {
            anyhow::bail!("no node {n:?} in {} (it has: {})", db.display(), known.join(", "));
        }
    }
    let c = lsync_analyzers::compare::compare(&conn, filter, &sel)?;
    if c.nodes.is_empty() {
        anyhow::bail!("the database holds no blocks or head changes to compare");
    }
    if out.json {
        ok_on_pipe(output::print_json(&serde_json::to_string_pretty(&c)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:+.1}"));
    if out.csv {
        let mut header = vec!["height".to_string(), "cid".into(), "miner".into(), "seen_by".into(), "spread_ms".into()];
        for n in &c.nodes {
            header.extend([format!("{n}_first_seen"), format!("{n}_after_first_ms"), format!("{n}_peer"), format!("{n}_head_ms")]);
        }
        let tty = std::io::stdout().is_terminal();
        let mut o = header.iter().map(|h| output::csv_field(h, tty)).collect::<Vec<_>>().join(",");
        for b in &c.blocks {
            let mut row = vec![output::opt(&b.height), b.cid.clone(), output::opt(&b.miner), b.seen_by.to_string(), b.spread_ms.map_or(String::new(), |v| format!("{v:.3}"))];
            for t in &b.nodes {
                row.extend([output::opt(&t.first_seen), t.after_first_ms.map_or(String::new(), |v| format!("{v:.3}")), output::opt(&t.peer), t.head_ms.map_or(String::new(), |v| format!("{v:.3}"))]);
            }
            o.push('\n');
            o.push_str(&row.iter().map(|f| output::csv_field(f, tty)).collect::<Vec<_>>().join(","));
        }
        ok_on_pipe(output::print_raw_text(&o))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut heads: Vec<String> = vec!["height".into(), "block".into(), "miner".into()];
    heads.extend(c.nodes.iter().map(|n| format!("{n}: seen / head ms")));
    heads.push("spread ms".into());
    let mut t = table(&heads.iter().map(String::as_str).collect::<Vec<_>>());
    for b in &c.blocks {
        let mut row = vec![output::opt(&b.height), short_cid(&b.cid), output::opt(&b.miner)];
        for n in &b.nodes {
            row.push(if n.first_seen.is_some() { format!("{} / {}", ms(n.after_first_ms), n.head_ms.map_or("—".into(), |v| format!("{v:.1}"))) } else { "not seen".into() });
        }
        row.push(b.spread_ms.map_or("—".into(), |v| format!("{v:.1}")));
        t.add_row(row);
    }
    let mut o = format!("Blocks: first sighting after the earliest node's, and the node's head including it after its own sighting (ms)\n{t}\n");
    if !c.reorgs.is_empty() {
        let mut heads: Vec<String> = vec!["to height".into(), "new head".into()];
        heads.extend(c.nodes.iter().cloned());
        let mut t = table(&heads.iter().map(String::as_str).collect::<Vec<_>>());
        for r in &c.reorgs {
            let mut row = vec![r.to_height.to_string(), r.to.iter().map(|c| short_cid(c)).collect::<Vec<_>>().join(" ")];
            row.extend(r.nodes.iter().map(|(_, x)| x.as_ref().map_or("—".to_string(), |(at, depth)| format!("reverted {depth} at {at}"))));
            t.add_row(row);
        }
        o.push_str(&format!("\nHead changes that reverted tipsets, per node\n{t}\n"));
    }
    let mut t = table(&["node", "blocks", "lag p50 s", "p95 s", "max s"]);
    for l in &c.lags {
        let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
        t.add_row(vec![l.node.clone(), l.blocks.to_string(), f(l.p50_s), f(l.p95_s), f(l.max_s)]);
    }
    o.push_str(&format!("\nLag: the node's head includes a block − the block's timestamp\n{t}"));
    ok_on_pipe(output::print(&o))?;
    Ok(ExitCode::SUCCESS)
}

pub fn finality(db: &Path, filter: &query::Filter, stall_s: f64, json: bool) -> Result<ExitCode> {
    let conn = lsync_analyzers::open_for_reading(db)?;
    let r = lsync_analyzers::finality::finality(&conn, filter, stall_s)?;
    if json {
        ok_on_pipe(output::print_json(&serde_json::to_string_pretty(&r)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    if r.nodes.is_empty() {
        anyhow::bail!("the database holds no finality records, blocks or head changes{}", filter.node.as_deref().map_or(String::new(), |n| format!(" for node {n}")));
    }
    let secs = |v: f64| format!("{v:.1}");
    let mut o = String::new();
    for n in &r.nodes {
        o.push_str(&format!("Node {}: {} finality record(s)", n.node, n.records));
        if let Some((a, b)) = n.instances {
            o.push_str(&format!(", F3 instances {a}–{b}"));
        }
        if let (Some(f), Some(l)) = (&n.first, &n.last) {
            o.push_str(&format!(", {f} — {l}"));
        }
        o.push('\n');
        o.push_str(&format!(
            "  finalized epoch {} · head {} · lag {} epoch(s)\n",
            opt(&n.finalized_epoch),
            opt(&n.head_height),
            opt(&n.lag_epochs)
        ));
        if let Some(d) = &n.time_to_finality {
            let mut t = table(&["blocks", "from", "p50 s", "p90 s", "p99 s", "max s"]);
            t.add_row(vec![d.count.to_string(), n.measured_from.unwrap_or("").to_string(), secs(d.p50_s), secs(d.p90_s), secs(d.p99_s), secs(d.max_s)]);
            o.push_str(&format!("Time to finality\n{t}\n"));
        }
        if n.stalls.is_empty() {
            o.push_str(&format!("No stall (no gap over {} s between finality records)\n", secs(r.stall_threshold_s)));
        } else {
            let mut t = table(&["from", "to", "seconds", "last instance", "next", "finalized epoch", "head reached"]);
            for s in &n.stalls {
                t.add_row(vec![
                    s.from.clone(),
                    s.to.clone().unwrap_or_else(|| "(still stalled)".into()),
                    secs(s.seconds),
                    opt(&s.last_instance),
                    opt(&s.next_instance),
                    s.finalized_epoch.to_string(),
                    opt(&s.head_height),
                ]);
            }
            o.push_str(&format!("Stalls (no new finality for over {} s)\n{t}\n", secs(r.stall_threshold_s)));
        }
        for m in &n.missing {
            o.push_str(&format!("Note: {m}\n"));
        }
        o.push('\n');
    }
    ok_on_pipe(output::print(o.trim_end()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn summary(db: &Path, node: Option<&str>, json: bool) -> Result<ExitCode> {
    let conn = lsync_analyzers::open_for_reading(db)?;
    let s = query::summary(&conn, node)?;
    if json {
        ok_on_pipe(output::print_json(&serde_json::to_string_pretty(&s)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    let mut t = table(&["node", "file", "format", "bytes", "lines", "events", "other", "malformed", "unknown"]);
    for src in &s.sources {
        t.add_row(vec![
            src.node.clone(),
            src.file.clone(),
            format!("{}{}", src.format, src.compression.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()),
            bytes(src.bytes as u64),
            src.lines.to_string(),
            src.events.to_string(),
            src.other_records.to_string(),
            src.malformed.to_string(),
            src.unknown.to_string(),
        ]);
    }
    o.push_str(&format!("Sources\n{t}\n\n"));
    o.push_str(&format!("Time range: {} — {}\n", opt(&s.first_ts), opt(&s.last_ts)));
    o.push_str(&format!("Heights:    {} — {}\n\n", opt(&s.min_height), opt(&s.max_height)));
    let mut k = table(&["kind", "events"]);
    for (kind, n) in &s.by_kind {
        k.add_row(vec![kind.clone(), n.to_string()]);
    }
    o.push_str(&format!("Events by kind\n{k}\n\n"));
    if !s.reorg_classes.is_empty() {
        let mut r = table(&["head change class", "count"]);
        for (c, n) in &s.reorg_classes {
            r.add_row(vec![c.clone(), n.to_string()]);
        }
        o.push_str(&format!("{r}\n"));
        let mut d = table(&["revert depth", "head changes"]);
        for (depth, n) in &s.revert_depths {
            d.add_row(vec![depth.to_string(), n.to_string()]);
        }
        o.push_str(&format!("{d}\n\n"));
    }
    if let Some(p) = &s.worker_duration_ms {
        o.push_str(&format!("Sync worker durations ({} workers): p50 {}  p90 {}  p99 {}  max {}\n", p.count, ms(Some(p.p50)), ms(Some(p.p90)), ms(Some(p.p99)), ms(Some(p.max))));
    }
    if s.reorg_backlog_episodes.is_empty() {
        o.push_str("Reorg-backlog episodes: none\n");
    } else {
        let mut e = table(&["node", "backlog from", "to", "errors"]);
        for ep in &s.reorg_backlog_episodes {
            e.add_row(vec![ep.node.clone(), opt(&ep.start), opt(&ep.end), ep.count.to_string()]);
        }
        o.push_str(&format!("Reorg-backlog episodes\n{e}\n"));
    }
    ok_on_pipe(output::print(&o))?;
    Ok(ExitCode::SUCCESS)
}

pub fn kinds(json: bool) {
    if json {
        let v: Vec<_> = EventKind::ALL.iter().map(|k| serde_json::json!({"kind": k.as_str(), "description": k.describe()})).collect();
        let _ = output::write_json_lines(&v);
        return;
    }
    let mut t = table(&["kind", "meaning"]);
    for k in EventKind::ALL {
        t.add_row(vec![k.as_str(), k.describe()]);
    }
    let _ = output::print(&t.to_string());
}

pub fn inspect_car(file: &Path, network: &str, json: bool) -> Result<ExitCode> {
    use lsync_core::chain::{read_chain_headers, Network};
    let net = if network == "mainnet" { Network::Mainnet } else { Network::Testnet };
    let reader = lsync_analyzers::ingest::open_decompressed(file)?;
    let headers = read_chain_headers(reader).with_context(|| format!("{} is not a valid CAR file", file.display()))?;
    if json {
        ok_on_pipe(output::print_json(&serde_json::to_string(&headers.report(net))?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let tipsets = headers.tipset_table(net).with_context(|| format!("{}: headers do not form tipsets", file.display()))?;
    let mut s = format!(
        "{}: {} block(s), {} header(s) in {} tipset(s); root(s) {}\n",
        file.display(),
        headers.blocks_read,
        headers.headers.len(),
        tipsets.len(),
        headers.roots.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
    );
    let nulls = headers.null_rounds();
    if !nulls.is_empty() {
        s.push_str(&format!("null rounds: {}\n", nulls.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", ")));
    }
    let mut t = table(&["height", "blocks (ticket order)", "miners", "parent weight", "win count", "timestamp"]);
    for ts in &tipsets {
        let time = lsync_core::Timestamp::from_unix_nanos(ts.min_timestamp as i64 * 1_000_000_000, 0, 0).to_string();
        t.add_row(vec![ts.height.to_string(), ts.cids.join("\n"), ts.miners.join("\n"), ts.parent_weight.clone(), ts.win_count_sum.to_string(), time]);
    }
    s.push_str(&t.to_string());
    ok_on_pipe(output::print(&s))?;
    Ok(ExitCode::SUCCESS)
}

pub fn demo(dir: Option<PathBuf>) -> Result<ExitCode> {
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            tmp = std::env::temp_dir().join(format!("lsync-demo-{}", std::process::id()));
            tmp
        }
    };
    eprintln!("lsync demo: a devnet (3 miners, 2 s blocks, a partition that heals, a late miner, a block orphaned by lateness, a widened tipset), two lsync follow observers, ingest, report — about 40 s…");
    let (run, db) = crate::live::run_demo_network(&dir, false)?;
    println!(
        "\nThe devnet produced {} blocks; {} were orphaned (by the reorg and by lateness); the follower's journal and log are in {}.\n",
        run.truth.blocks.len(),
        run.truth.orphaned.len(),
        run.repo.display()
    );
    println!("== lsync reorgs --min-apply 2");
    reorgs(&db, 2, 1, &crate::FilterArgs { node: None, since: None, until: None }, crate::OutputArgs { json: false, csv: false })?;
    println!("\n== lsync miners   (first-seen delays of every block, per miner)");
    miners(&db, 0.0, 3, &crate::FilterArgs { node: None, since: None, until: None }, crate::OutputArgs { json: false, csv: false })?;
    if let Some(orphan) = &run.orphan {
        println!("\n== lsync trace {orphan}   (orphaned by the reorg)");
        trace(&db, orphan, None, false)?;
    }
    if let Some(late) = &run.late_block {
        println!("\n== lsync trace {late}   (from the late miner)");
        trace(&db, late, None, false)?;
    }
    let page = dir.join("lsync-report.html");
    println!("\n== lsync report");
    crate::report::run(&db, &page, &query::Filter::default(), true)?;
    println!("\nDatabase: {}   (try: lsync summary --db {}; lsync orphans; lsync compare)", db.display(), db.display());
    println!("Report:   {}   (open it in a browser)", page.display());
    Ok(ExitCode::SUCCESS)
}
