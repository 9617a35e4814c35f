//! Printing helpers: human tables (comfy-table), CSV, JSON lines.

use comfy_table::{presets, Cell, ContentArrangement, Table};
use std::io::Write;

/// A table with lsync's style. Width is not adapted to the terminal, so output is stable in
/// pipes and golden files.
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.force_no_tty();
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(headers.iter().map(Cell::new));
    t
}

/// Quotes a CSV field when needed (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes one JSON object per line.
pub fn write_json_lines<T: serde::Serialize>(items: &[T]) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    for it in items {
        serde_json::to_writer(&mut w, it)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Prints to stdout, treating a closed pipe (`| head`) as success.
pub fn print(s: &str) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    w.write_all(s.as_bytes())?;
    if !s.ends_with('\n') {
        w.write_all(b"\n")?;
    }
    w.flush()
}

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}

/// Milliseconds with sensible precision.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => String::new(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0} ms"),
        Some(x) if x.abs() >= 1.0 => format!("{x:.1} ms"),
        Some(x) => format!("{x:.3} ms"),
    }
}

/// Human-readable byte counts.
pub fn bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{n} B") } else { format!("{v:.1} {}", U[i]) }
}

/// Treats EPIPE as a normal end of output.
pub fn ok_on_pipe(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
