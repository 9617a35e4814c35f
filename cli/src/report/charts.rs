//! The report's charts as SVG, drawn with plotters' SVG backend.

use plotters::prelude::*;

/// A categorical palette readable on white and by most colour-blind readers (Okabe–Ito).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `#rrggbb` of a palette colour, for HTML legends.
pub fn hex(i: usize) -> String {
    let RGBColor(r, g, b) = color(i);
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < f64::EPSILON {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.04;
    (lo - pad, hi + pad)
}

/// One line per series (x, y), plus markers (x, y, colour index); axes labelled.
pub struct Lines<'a> {
    pub series: &'a [(String, Vec<(f64, f64)>)],
    pub markers: &'a [(f64, f64, usize)],
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// A vertical rule at this x (e.g. Lotus's 5 s "large delay").
    pub rule_x: Option<(f64, &'a str)>,
    pub points_only: bool,
}

pub fn lines(chart: &Lines<'_>, width: u32, height: u32) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let xs = chart.series.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)).chain(chart.markers.iter().map(|m| m.0)).chain(chart.rule_x.map(|r| r.0));
        let ys = chart.series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).chain(chart.markers.iter().map(|m| m.1));
        let (x0, x1) = range(xs);
        let (y0, y1) = range(ys);
        let mut c = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .x_desc(chart.x_label)
            .y_desc(chart.y_label)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, points)) in chart.series.iter().enumerate() {
            let style = color(i);
            if chart.points_only {
                c.draw_series(points.iter().map(|(x, y)| Circle::new((*x, *y), 3, style.filled())))
                    .map_err(|e| e.to_string())?
                    .label(name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, style.filled()));
            } else {
                c.draw_series(LineSeries::new(points.iter().copied(), style.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style.stroke_width(2)));
            }
        }
        if !chart.markers.is_empty() {
            let r = if chart.markers.len() > 50 { 3 } else { 5 };
            c.draw_series(chart.markers.iter().map(|(x, y, k)| Circle::new((*x, *y), r, color(*k).stroke_width(2))))
                .map_err(|e| e.to_string())?;
        }
        if let Some((x, label)) = chart.rule_x {
            c.draw_series(std::iter::once(PathElement::new(vec![(x, y0), (x, y1)], RED.stroke_width(1))))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(1)));
        }
        if chart.series.len() > 1 || chart.rule_x.is_some() {
            c.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A histogram of `values` in `bins` equal bins over their range.
pub fn histogram(values: &[f64], bins: usize, x_label: &str, width: u32, height: u32) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (lo, hi) = range(values.iter().copied());
        let lo = lo.max(0.0);
        let step = ((hi - lo) / bins.max(1) as f64).max(f64::EPSILON);
        let mut counts = vec![0u32; bins.max(1)];
        for v in values {
            let i = (((v - lo) / step) as usize).min(counts.len() - 1);
            counts[i] += 1;
        }
        let top = counts.iter().copied().max().unwrap_or(1).max(1);
        let mut c = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, 0u32..top + top / 10 + 1)
            .map_err(|e| e.to_string())?;
        c.configure_mesh().x_desc(x_label).y_desc("count").light_line_style(RGBColor(235, 235, 235)).draw().map_err(|e| e.to_string())?;
        c.draw_series(counts.iter().enumerate().map(|(i, n)| {
            let x = lo + step * i as f64;
            Rectangle::new([(x, 0u32), (x + step * 0.95, *n)], color(0).mix(0.7).filled())
        }))
        .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
