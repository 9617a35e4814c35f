//! A fork window as SVG: a layered drawing whose layers are the heights themselves (column =
//! height, row = branch: the canonical chain on top, each reverted branch and each lone orphan
//! below), so no general graph-layout crate is needed — the chain's heights already order it.
//! Every block links to its trace further down the page.

use lsync_analyzers::report::ForkWindow;

use super::esc;

const COL: i64 = 250;
const BOX_W: i64 = 228;
const LINE: i64 = 17;
const TOP: i64 = 34;
const LEFT: i64 = 16;

fn short(cid: &str) -> String {
    if cid.len() > 20 {
        format!("{}…{}", &cid[..9], &cid[cid.len() - 4..])
    } else {
        cid.to_string()
    }
}

pub fn svg(w: &ForkWindow) -> String {
    let first = w.tipsets.iter().map(|t| t.height).min().unwrap_or(w.low).min(w.low);
    let last = w.high.max(w.tipsets.iter().map(|t| t.height).max().unwrap_or(w.high));
    let rows = w.tipsets.iter().map(|t| t.branch).max().unwrap_or(0) + 1;
    // Each row is as tall as its tallest tipset.
    let mut row_h = vec![0i64; rows];
    for t in &w.tipsets {
        row_h[t.branch] = row_h[t.branch].max(14 + LINE * t.blocks.len() as i64);
    }
    let mut row_y = vec![TOP; rows];
    for r in 1..rows {
        row_y[r] = row_y[r - 1] + row_h[r - 1] + 26;
    }
    let width = LEFT * 2 + (last - first + 1) * COL;
    let height = row_y[rows - 1] + row_h[rows - 1] + 16;
    let x = |h: i64| LEFT + (h - first) * COL;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"fork-svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        esc(&w.title)
    );
    for h in first..=last {
        let null = w.null_rounds.contains(&h);
        if null {
            s.push_str(&format!(
                "<g class=\"null-round\" data-height=\"{h}\"><rect x=\"{}\" y=\"{}\" width=\"{BOX_W}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\" class=\"null-label\">null round</text></g>",
                x(h),
                TOP - 4,
                height - TOP - 8,
                x(h) + 8,
                TOP + 14
            ));
        }
        s.push_str(&format!("<text x=\"{}\" y=\"18\" class=\"height-label\">height {h}</text>", x(h) + 4));
    }
    let box_of = |i: usize| {
        let t = &w.tipsets[i];
        (x(t.height), row_y[t.branch], 14 + LINE * t.blocks.len() as i64)
    };
    for (child, parent) in &w.edges {
        let (cx, cy, ch) = box_of(*child);
        let (px, py, ph) = box_of(*parent);
        s.push_str(&format!(
            "<path class=\"edge\" d=\"M {} {} C {} {}, {} {}, {} {}\" fill=\"none\" stroke=\"#777\" stroke-width=\"1.5\"/>",
            cx,
            cy + ch / 2,
            cx - 20,
            cy + ch / 2,
            px + BOX_W + 20,
            py + ph / 2,
            px + BOX_W,
            py + ph / 2
        ));
    }
    for (i, t) in w.tipsets.iter().enumerate() {
        let (bx, by, bh) = box_of(i);
        let orphan_only = !t.canonical && !t.reverted;
        let class = if t.canonical { "tipset canonical" } else if t.reverted { "tipset reverted" } else { "tipset orphan" };
        let (stroke, fill, dash) = if t.canonical {
            ("#1b7f3b", "#eef8f0", "")
        } else if t.reverted {
            ("#b3261e", "#fdeeee", "")
        } else {
            ("#d27b00", "#fff6e6", " stroke-dasharray=\"5 3\"")
        };
        s.push_str(&format!(
            "<g class=\"{class}\" data-height=\"{}\" data-branch=\"{}\"><rect x=\"{bx}\" y=\"{by}\" width=\"{BOX_W}\" height=\"{bh}\" rx=\"5\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"2\"{dash}/>",
            t.height, t.branch
        ));
        for (k, b) in t.blocks.iter().enumerate() {
            let cause = b.orphan.as_deref().unwrap_or("");
            let delay = b.delay_s.map_or(String::new(), |d| format!(" {d:+.2}s"));
            let miner = b.miner.as_deref().unwrap_or("?");
            let bclass = if b.orphan.is_some() || orphan_only { "block orphan" } else { "block" };
            s.push_str(&format!(
                "<a href=\"#trace-{}\"><g class=\"{bclass}\" data-cid=\"{}\" data-cause=\"{}\"><title>{}{}{}</title><text x=\"{}\" y=\"{}\">{} {}{}</text></g></a>",
                esc(&b.cid),
                esc(&b.cid),
                esc(cause),
                esc(&b.cid),
                if cause.is_empty() { String::new() } else { format!(" — orphan: {}", esc(cause)) },
                esc(&delay),
                bx + 6,
                by + 18 + LINE * k as i64,
                esc(miner),
                esc(&short(&b.cid)),
                esc(&delay)
            ));
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}
