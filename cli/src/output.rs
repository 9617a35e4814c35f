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

/// `s` with every control character except newline and tab written as visible text
/// (`\x1b`, `\x07`, `\u{9b}`): logs are untrusted input (anyone can make a node log a string),
/// and no byte of theirs may reach a terminal as an escape sequence.
pub fn inert(s: &str) -> std::borrow::Cow<'_, str> {
    let dangerous = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(dangerous) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !dangerous(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out.into()
}

/// Quotes a CSV field when needed (RFC 4180). `to_terminal`: control characters are made
/// [`inert`] (to a file or a pipe the bytes are kept: a valid CSV field holds any byte).
pub fn csv_field(s: &str, to_terminal: bool) -> String {
    let s = if to_terminal { inert(s) } else { s.into() };
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
/// Prints one JSON document. serde escapes C0 controls; the C1 ones (U+007F–U+009F, e.g. the
/// one-byte CSI U+009B) can only stand inside strings, so they are written as `\u00XX` escapes:
/// still the same JSON, and inert on a terminal.
pub fn print_json(s: &str) -> std::io::Result<()> {
    let c1 = |c: char| ('\u{7f}'..='\u{9f}').contains(&c);
    if !s.chars().any(c1) {
        return print_raw(s);
    }
    let escaped: String = s.chars().map(|c| if c1(c) { format!("\\u{:04x}", c as u32) } else { c.to_string() }).collect();
    print_raw(&escaped)
}

/// Prints text for people: control characters from input are made [`inert`].
pub fn print(s: &str) -> std::io::Result<()> {
    print_raw(&inert(s))
}

fn print_raw(s: &str) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_stays_json_with_c1_controls_escaped() {
        let doc = serde_json::to_string(&serde_json::json!({"t": "a\u{9b}2J\u{1b}"})).unwrap();
        let c1 = |c: char| ('\u{7f}'..='\u{9f}').contains(&c);
        let escaped: String = doc.chars().map(|c| if c1(c) { format!("\\u{:04x}", c as u32) } else { c.to_string() }).collect();
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["t"], "a\u{9b}2J\u{1b}");
        assert!(!escaped.contains('\u{9b}') && !escaped.contains('\u{1b}'));
    }

    #[test]
    fn control_bytes_become_visible_text() {
        assert_eq!(inert("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(inert("\u{1b}]0;pwned\u{7}\u{1b}[2J"), "\\x1b]0;pwned\\x07\\x1b[2J");
        assert_eq!(inert("a\rb\u{9b}c\u{7f}"), "a\\x0db\\u{9b}c\\x7f");
        assert_eq!(csv_field("x\u{1b}[31m,y", true), "\"x\\x1b[31m,y\"");
        assert_eq!(csv_field("x\u{1b}[31m,y", false), "\"x\u{1b}[31m,y\"", "a file keeps the bytes");
    }
}
