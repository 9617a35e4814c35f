//! `lsync report`: one self-contained HTML file (CSS and SVG inline, nothing fetched, no script
//! needed) drawn from `lsync_analyzers::report`'s aggregates.
//!
//! Every string that came from input is escaped ([`esc`]); elements carry `data-` attributes
//! (block CIDs, orphan causes, miners' p95, head-change classes) so that tests — and users'
//! scripts — can read the page's facts from its DOM.

mod charts;
mod fork;

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use lsync_analyzers::query::{Filter, TraceResult};
use lsync_analyzers::report::{report_data, ReportData, MAX_TRACES, MAX_WINDOWS};

/// Rows of the table of head changes that reverted a tipset.
const MAX_REORG_ROWS: usize = 500;
/// Markers on the head-height chart.
const MAX_DRAWN_MARKERS: usize = 300;

/// The marker that makes a file an lsync report (and so safe to overwrite).
const GENERATOR: &str = "<meta name=\"generator\" content=\"lsync report\">";

/// HTML text and attribute escaping; control characters become visible escapes, as everywhere
/// lsync prints input.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or("—".to_string(), |v| esc(&v.to_string()))
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d1d1f; background: #f6f7f9; }
header { background: #14213d; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .85; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: 8px 28px; z-index: 2; }
nav a { margin-right: 14px; color: #14213d; text-decoration: none; }
main { padding: 8px 28px 40px; }
section { background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; padding: 14px 18px; margin: 16px 0; overflow-x: auto; }
h2 { margin: 0 0 10px; font-size: 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #e2e4e8; border-radius: 8px; padding: 10px 14px; min-width: 150px; background: #fbfcfd; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: #555; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .cid { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.note { color: #7a4d00; background: #fff6e6; border-left: 3px solid #d27b00; padding: 6px 10px; margin: 8px 0; }
.cut { color: #555; font-style: italic; }
figure { margin: 10px 0 18px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.fork-svg text { font: 12px ui-monospace, Menlo, monospace; fill: #1d1d1f; }
.fork-svg .height-label { font: 600 12px system-ui, sans-serif; fill: #444; }
.fork-svg .null-label { fill: #999; font-style: italic; }
.fork-svg a:hover text { text-decoration: underline; fill: #0b57d0; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
details { border-bottom: 1px solid #eee; padding: 4px 0; }
summary { cursor: pointer; }
"#;

/// Write the report of `db` to `out`.
pub fn run(db: &Path, out: &Path, filter: &Filter, quiet: bool) -> Result<ExitCode> {
    if out.exists() {
        let head = std::fs::read(out).with_context(|| format!("reading {}", out.display()))?;
        let head = String::from_utf8_lossy(&head[..head.len().min(2048)]);
        if !head.contains(GENERATOR) {
            bail!("{} exists and is not an lsync report: refusing to overwrite it (choose another --out)", out.display());
        }
    }
    let started = Instant::now();
    let data = report_data(db, filter).context("gathering the report's data")?;
    if data.summary.by_kind.values().sum::<i64>() == 0 {
        bail!("the database {} holds no events{}: ingest a node's journal and logs first (lsync ingest ~/.lotus daemon.log)", db.display(), filter.node.as_deref().map_or(String::new(), |n| format!(" for node {n}")));
    }
    let html = page(&data).map_err(|e| anyhow::anyhow!("drawing the report: {e}"))?;
    let tmp = out.with_extension("html.tmp");
    std::fs::write(&tmp, &html).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    if !quiet {
        eprintln!("lsync report: {} in {:.1} s", crate::output::bytes(html.len() as u64), started.elapsed().as_secs_f64());
    }
    crate::output::print(&out.display().to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn notes(d: &ReportData, section: &str, o: &mut String) {
    for n in d.notes.get(section).into_iter().flatten() {
        let _ = write!(o, "<p class=\"note\" data-note=\"{section}\">{}</p>", esc(n));
    }
}

fn card(o: &mut String, key: &str, value: &str, id: &str) {
    let _ = write!(o, "<div class=\"card\" id=\"card-{id}\"><div class=\"v\">{value}</div><div class=\"k\">{}</div></div>", esc(key));
}

fn ns_to_text(ns: i64) -> String {
    lsync_core::Timestamp::from_unix_nanos(ns, 0, 3).to_string()
}

fn page(d: &ReportData) -> Result<String, String> {
    let s = &d.summary;
    let mut o = String::with_capacity(1 << 20);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{GENERATOR}<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>lsync report — {}</title><style>{STYLE}</style></head><body data-scope=\"{}\">",
        esc(&d.db),
        d.scope
    );
    let _ = write!(
        o,
        "<header><h1>lsync report</h1><p>{} · {} node(s) · {} — {} · generated {}</p></header>",
        esc(&d.db),
        d.nodes.len().max(d.heights.len()),
        opt(&s.first_ts),
        opt(&s.last_ts),
        esc(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    );
    o.push_str("<nav><a href=\"#summary\">Summary</a><a href=\"#heights\">Head height</a><a href=\"#forks\">Forks</a><a href=\"#orphans\">Orphans</a><a href=\"#miners\">Miners</a><a href=\"#first-seen\">First seen</a><a href=\"#sync\">Sync</a><a href=\"#finality\">Finality</a><a href=\"#traces\">Traces</a></nav><main>");

    // Summary cards.
    o.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    let nodes: Vec<String> = if d.nodes.is_empty() { d.heights.iter().map(|h| h.node.clone()).collect() } else { d.nodes.clone() };
    card(&mut o, "nodes", &esc(&nodes.join(", ")), "nodes");
    card(&mut o, "heights", &format!("{} — {}", opt(&s.min_height), opt(&s.max_height)), "heights");
    let class = |k: &str| s.reorg_classes.get(k).copied().unwrap_or(0);
    let extends: u64 = d.heights.iter().map(|h| h.head_changes).sum::<u64>().saturating_sub((class("widen") + class("sibling") + class("reorg")) as u64);
    card(&mut o, "head changes", &format!("{extends} extend · {} widen · {} sibling · {} reorg", class("widen"), class("sibling"), class("reorg")), "head-changes");
    card(&mut o, "deepest reorg", &s.revert_depths.keys().max().map_or("—".into(), |d| format!("{d} tipset(s)")), "deepest");
    let mut causes: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &d.orphans {
        *causes.entry(r.attribution).or_default() += 1;
    }
    card(&mut o, "orphans", &format!("{}{}", d.orphans.len(), if causes.is_empty() { String::new() } else { format!(" ({})", causes.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")) }), "orphans");
    let late_miners = d.miners.iter().filter(|m| m.row.p95_delay_s > 5.0).count();
    card(&mut o, "miners late (p95 > 5 s)", &format!("{late_miners} of {}", d.miners.len()), "late-miners");
    card(&mut o, "first-seen coverage", &d.first_seen_coverage.map_or("—".into(), |c| format!("{:.0} %", c * 100.0)), "coverage");
    if let Some(f) = &d.finality {
        let lag = f.nodes.iter().filter_map(|n| n.lag_epochs).max();
        card(&mut o, "finality lag", &lag.map_or("—".into(), |l| format!("{l} epoch(s)")), "finality");
    }
    o.push_str("</div>");
    if d.scope == "recent" {
        notes(d, "orphans", &mut o);
    }
    o.push_str("</section>");

    // Head height over time.
    o.push_str("<section id=\"heights\"><h2>Head height over time</h2>");
    notes(d, "heights", &mut o);
    if !d.heights.is_empty() {
        let t0 = d.heights.iter().flat_map(|h| h.points.iter().map(|p| p.0)).min().unwrap_or(0);
        let t1 = d.heights.iter().flat_map(|h| h.points.iter().map(|p| p.0)).max().unwrap_or(t0);
        let (unit, div) = if t1 - t0 > 6 * 3_600_000_000_000 { ("hours", 3.6e12) } else if t1 - t0 > 600_000_000_000 { ("minutes", 6e10) } else { ("seconds", 1e9) };
        let series: Vec<(String, Vec<(f64, f64)>)> = d.heights.iter().map(|h| (h.node.clone(), h.points.iter().map(|(t, y)| ((t - t0) as f64 / div, *y as f64)).collect())).collect();
        let kind = |c: &str| match c {
            "reorg" => 5,
            "widen" => 4,
            _ => 3,
        };
        // A few hundred markers stay readable; reorgs are drawn first, spread over the span.
        let mut all: Vec<(f64, f64, usize)> = d.heights.iter().flat_map(|h| h.markers.iter().map(|(t, y, c)| ((t - t0) as f64 / div, *y as f64, kind(c)))).collect();
        all.sort_by_key(|m| std::cmp::Reverse(m.2 == 5));
        let reorgs = all.iter().filter(|m| m.2 == 5).count();
        let budget = MAX_DRAWN_MARKERS;
        let markers: Vec<(f64, f64, usize)> = if all.len() <= budget {
            all.clone()
        } else {
            let step = (all.len() as f64 / budget as f64).max(1.0);
            let mut picked: Vec<(f64, f64, usize)> = all.iter().take(reorgs).step_by(((reorgs as f64 / budget as f64).ceil() as usize).max(1)).take(budget).copied().collect();
            if picked.len() < budget {
                picked.extend(all.iter().skip(reorgs).step_by(step.ceil() as usize).take(budget - picked.len()).copied());
            }
            picked
        };
        let markers_note = (all.len() > markers.len()).then(|| format!("{} of {} markers drawn (evenly spaced, reorgs first).", markers.len(), all.len()));
        let svg = charts::lines(&charts::Lines { series: &series, markers: &markers, x_label: &format!("{unit} since {}", ns_to_text(t0)), y_label: "head height", rule_x: None, points_only: false }, 1100, 360)?;
        o.push_str(&svg);
        let _ = write!(
            o,
            "<p class=\"legend\"><span><i class=\"swatch\" style=\"background:{}\"></i>reorg</span><span><i class=\"swatch\" style=\"background:{}\"></i>widen (a late block joined the tipset)</span><span><i class=\"swatch\" style=\"background:{}\"></i>sibling</span></p>",
            charts::hex(5),
            charts::hex(4),
            charts::hex(3)
        );
        for h in &d.heights {
            let _ = write!(o, "<p>{}: {} head change(s){}.</p>", esc(&h.node), h.head_changes, if h.markers_cut > 0 { format!("; {} widen/sibling markers not drawn", h.markers_cut) } else { String::new() });
        }
        if let Some(n) = markers_note {
            let _ = write!(o, "<p class=\"cut\">{}</p>", esc(&n));
        }
    }
    if !d.reorgs.is_empty() {
        // Every reorg (deepest first), then widenings and siblings, up to the table's size.
        let mut rows: Vec<&lsync_analyzers::query::ReorgRow> = d.reorgs.iter().collect();
        rows.sort_by_key(|r| (r.change.class() != lsync_core::ReorgClass::Reorg, std::cmp::Reverse(r.change.revert_count)));
        let shown = rows.len().min(MAX_REORG_ROWS);
        let _ = write!(o, "<details{}><summary>Head changes that reverted a tipset ({})</summary>", if rows.len() <= 20 { " open" } else { "" }, rows.len());
        o.push_str("<table id=\"reorg-markers\"><tr><th>time</th><th>node</th><th>class</th><th>from</th><th>to</th><th>reverted</th><th>applied</th></tr>");
        for r in &rows[..shown] {
            let c = &r.change;
            let _ = write!(
                o,
                "<tr data-marker=\"{}\" data-node=\"{}\" data-revert=\"{}\" data-apply=\"{}\" data-height=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                c.class(),
                esc(&r.node),
                c.revert_count,
                c.apply_count,
                c.to_height,
                opt(&r.ts),
                esc(&r.node),
                c.class(),
                c.from_height,
                c.to_height,
                c.revert_count,
                c.apply_count
            );
        }
        o.push_str("</table></details>");
        if rows.len() > shown {
            let _ = write!(o, "<p class=\"cut\">{} more head changes that reverted a tipset (widenings and siblings last) not listed: `lsync reorgs --min-apply 1`.</p>", rows.len() - shown);
        }
    }
    o.push_str("</section>");

    // Forks.
    o.push_str("<section id=\"forks\"><h2>Forks and orphans</h2><p>Each picture is one node's chain around a reorg or an orphan: columns are heights, the canonical chain runs along the top (green), branches a reorg reverted below it (red), orphans no branch explains on rows of their own (orange, dashed); each block shows its miner, its first-seen delay and a link to its trace.</p>");
    notes(d, "forks", &mut o);
    if d.windows.is_empty() {
        o.push_str("<p>No reorg and no orphan in the data.</p>");
    }
    for w in &d.windows {
        let _ = write!(o, "<figure class=\"fork\" data-node=\"{}\" data-low=\"{}\" data-high=\"{}\"><figcaption>{} — {}{}</figcaption>", esc(&w.node), w.low, w.high, esc(&w.node), esc(&w.title), if w.exact { "" } else { " (heads only)" });
        o.push_str(&fork::svg(w));
        o.push_str("</figure>");
    }
    if d.windows_cut > 0 {
        let _ = write!(o, "<p class=\"cut\">{} more fork window(s) not drawn (the {MAX_WINDOWS} deepest reorgs and first orphans are); `lsync reorgs` and `lsync orphans` list them all.</p>", d.windows_cut);
    }
    o.push_str("</section>");

    // Orphans.
    o.push_str("<section id=\"orphans\"><h2>Orphaned blocks</h2>");
    if d.orphans.is_empty() {
        o.push_str("<p>No orphaned block.</p>");
    } else {
        o.push_str("<table id=\"orphan-table\"><tr><th>node</th><th>height</th><th>block</th><th>miner</th><th>first seen</th><th>delay</th><th>cause</th><th>evidence</th></tr>");
        for r in d.orphans.iter().take(500) {
            let _ = write!(
                o,
                "<tr data-cid=\"{}\" data-cause=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"cid\"><a href=\"#trace-{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.cid),
                r.attribution,
                esc(&r.node),
                r.height,
                esc(&r.cid),
                esc(&r.cid),
                opt(&r.miner),
                opt(&r.first_seen),
                r.delay_s.map_or("—".into(), |d| format!("{d:.3} s")),
                r.attribution,
                esc(&r.evidence)
            );
        }
        o.push_str("</table>");
        if d.orphans.len() > 500 {
            let _ = write!(o, "<p class=\"cut\">{} more not listed: `lsync orphans`.</p>", d.orphans.len() - 500);
        }
    }
    o.push_str("</section>");

    // Miners.
    o.push_str("<section id=\"miners\"><h2>Block delay by miner</h2>");
    notes(d, "miners", &mut o);
    if d.miners.is_empty() {
        o.push_str("<p>No block delays in the data.</p>");
    } else {
        let drawn: Vec<(String, Vec<(f64, f64)>)> = d
            .miners
            .iter()
            .take(8)
            .map(|m| {
                let n = m.sample.len().max(1) as f64;
                (m.row.miner.clone(), m.sample.iter().enumerate().map(|(i, v)| (*v, (i + 1) as f64 / n)).collect())
            })
            .collect();
        let svg = charts::lines(&charts::Lines { series: &drawn, markers: &[], x_label: &format!("delay, s (from {})", d.delays_from), y_label: "share of the miner's blocks", rule_x: Some((5.0, "Lotus's large-delay line (5 s)")), points_only: false }, 1100, 360)?;
        o.push_str(&svg);
        o.push_str("<table id=\"miner-table\"><tr><th>miner</th><th>blocks</th><th>p50 s</th><th>p95 s</th><th>p99 s</th><th>max s</th></tr>");
        for m in &d.miners {
            let _ = write!(
                o,
                "<tr data-miner=\"{}\" data-p95=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td></tr>",
                esc(&m.row.miner),
                m.row.p95_delay_s,
                esc(&m.row.miner),
                m.row.late_blocks,
                m.row.p50_delay_s,
                m.row.p95_delay_s,
                m.p99_delay_s,
                m.row.max_delay_s
            );
        }
        o.push_str("</table><p class=\"cut\">Curves drawn from up to 2,000 blocks a miner; percentiles over all of them. The eight miners with the highest p95 are drawn.</p>");
    }
    o.push_str("</section>");

    // First seen across nodes.
    o.push_str("<section id=\"first-seen\"><h2>First seen, node by node</h2>");
    notes(d, "first_seen", &mut o);
    notes(d, "compare", &mut o);
    if let Some(c) = &d.compare {
        let series: Vec<(String, Vec<(f64, f64)>)> = c
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), c.blocks.iter().filter_map(|b| Some((b.height? as f64, b.nodes.get(i)?.after_first_ms?))).collect()))
            .collect();
        let svg = charts::lines(&charts::Lines { series: &series, markers: &[], x_label: "height", y_label: "ms after the first node", rule_x: None, points_only: true }, 1100, 320)?;
        o.push_str(&svg);
        let mut spread: Vec<&lsync_analyzers::compare::BlockCompare> = c.blocks.iter().filter(|b| b.spread_ms.is_some()).collect();
        spread.sort_by(|a, b| b.spread_ms.unwrap_or(0.0).total_cmp(&a.spread_ms.unwrap_or(0.0)));
        o.push_str("<table id=\"spread-table\"><tr><th>height</th><th>block</th><th>spread ms</th>");
        for n in &c.nodes {
            let _ = write!(o, "<th>{} +ms</th>", esc(n));
        }
        o.push_str("</tr>");
        for b in spread.iter().take(50) {
            let _ = write!(o, "<tr data-cid=\"{}\" data-spread=\"{}\"><td class=\"num\">{}</td><td class=\"cid\">{}</td><td class=\"num\">{:.1}</td>", esc(&b.cid), b.spread_ms.unwrap_or(0.0), opt(&b.height), esc(&b.cid), b.spread_ms.unwrap_or(0.0));
            for n in &b.nodes {
                let _ = write!(o, "<td class=\"num\">{}</td>", n.after_first_ms.map_or("—".into(), |v| format!("{v:.1}")));
            }
            o.push_str("</tr>");
        }
        o.push_str("</table><table><tr><th>node</th><th>blocks</th><th>head lag p50 s</th><th>p95 s</th><th>max s</th></tr>");
        for l in &c.lags {
            let f = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.3}"));
            let _ = write!(o, "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>", esc(&l.node), l.blocks, f(l.p50_s), f(l.p95_s), f(l.max_s));
        }
        o.push_str("</table>");
    }
    o.push_str("</section>");

    // Sync.
    o.push_str("<section id=\"sync\"><h2>Sync workers</h2>");
    notes(d, "sync", &mut o);
    if !d.worker_ms.is_empty() {
        o.push_str("<figure><figcaption>Worker durations (worker N syncing → done)</figcaption>");
        o.push_str(&charts::histogram(&d.worker_ms, 40, "ms", 1100, 280)?);
        o.push_str("</figure>");
    }
    if !d.target_to_heaviest_ms.is_empty() {
        o.push_str("<figure><figcaption>Selected as a target → New heaviest tipset</figcaption>");
        o.push_str(&charts::histogram(&d.target_to_heaviest_ms, 40, "ms", 1100, 280)?);
        o.push_str("</figure>");
    }
    if let Some(p) = &s.worker_duration_ms {
        let _ = write!(o, "<p>{} worker(s): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms.</p>", p.count, p.p50, p.p90, p.p99, p.max);
    }
    o.push_str("</section>");

    // Finality.
    o.push_str("<section id=\"finality\"><h2>Finality</h2>");
    notes(d, "finality", &mut o);
    if let Some(f) = &d.finality {
        for n in &f.nodes {
            let _ = write!(o, "<h3>{}</h3><p>{} finality record(s); finalized epoch {}; head {}; lag {} epoch(s).</p>", esc(&n.node), n.records, opt(&n.finalized_epoch), opt(&n.head_height), opt(&n.lag_epochs));
            if let Some(t) = &n.time_to_finality {
                let _ = write!(o, "<p>Time to finality ({} blocks, from {}): p50 {:.1} s, p90 {:.1} s, p99 {:.1} s, max {:.1} s.</p>", t.count, n.measured_from.unwrap_or(""), t.p50_s, t.p90_s, t.p99_s, t.max_s);
            }
            if !n.stalls.is_empty() {
                o.push_str("<table class=\"stalls\"><tr><th>from</th><th>to</th><th>seconds</th><th>finalized epoch</th></tr>");
                for st in &n.stalls {
                    let _ = write!(o, "<tr data-stall=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td></tr>", st.seconds, esc(&st.from), st.to.as_deref().map_or("(still stalled)".into(), esc), st.seconds, st.finalized_epoch);
                }
                o.push_str("</table>");
            }
        }
    }
    o.push_str("</section>");

    // Traces.
    o.push_str("<section id=\"traces\"><h2>Traces</h2><p>The blocks of the pictures above, each as `lsync trace` tells it.</p>");
    for (cid, t) in &d.traces {
        let TraceResult::Found(t) = t else { continue };
        let _ = write!(o, "<details id=\"trace-{}\"><summary class=\"cid\">{} — {} stage(s) on {}</summary><table><tr><th>node</th><th>stage</th><th>time</th><th>+ms prev</th><th>+ms first</th><th>detail</th><th>where</th></tr>", esc(cid), esc(cid), t.stages.len(), esc(&t.nodes.join(", ")));
        for st in &t.stages {
            let f = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1}"));
            let _ = write!(
                o,
                "<tr data-stage=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"cid\">{}:{}</td></tr>",
                esc(&st.stage),
                esc(&st.node),
                esc(&st.stage),
                opt(&st.ts),
                f(st.since_prev_ms),
                f(st.since_first_ms),
                esc(&st.detail),
                esc(&st.file),
                st.line
            );
        }
        o.push_str("</table></details>");
    }
    if d.traces.len() >= MAX_TRACES {
        let _ = write!(o, "<p class=\"cut\">Traces are limited to {MAX_TRACES} blocks; `lsync trace CID` gives any other.</p>");
    }
    o.push_str("</section></main></body></html>\n");
    Ok(o)
}
