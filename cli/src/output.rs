//! Printing helpers: human tables (comfy-table), CSV, JSON lines.

use comfy_table::{presets, Cell, ContentArrangement, Table};
use std::io::{IsTerminal, Write};

/// A table with lsync's style. On a terminal it fits the terminal's width (`COLUMNS` when
/// set, else the terminal's size), wrapping cells; in a pipe or a file it is not adapted, so
/// output is stable for scripts and golden files.
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    if std::io::stdout().is_terminal() {
        t.set_content_arrangement(ContentArrangement::Dynamic);
        if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()).filter(|w| *w >= 20) {
            t.set_width(w);
        }
    } else {
        t.force_no_tty();
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
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
pub fn write_json_lines<I>(items: I) -> std::io::Result<()>
where
    I: IntoIterator,
    I::Item: serde::Serialize,
{
    let stdout = std::io::stdout();
    let mut w = JsonC1Escaper::new(std::io::BufWriter::new(stdout.lock()));
    // A line is serialized into one buffer and escaped in one pass: serde writes each key,
    // string and comma as a write of its own, and the escaper's search per write was a sixth
    // of `reorgs --json` (2,597 rows, 2.2 MB).
    let mut line = Vec::new();
    for it in items {
        line.clear();
        serde_json::to_writer(&mut line, &it)?;
        line.push(b'\n');
        w.write_all(&line)?;
    }
    w.flush()
}

/// Prints one JSON document (see [`JsonC1Escaper`]).
pub fn print_json(s: &str) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut w = JsonC1Escaper::new(stdout.lock());
    w.write_all(s.as_bytes())?;
    if !s.ends_with('\n') {
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// A writer of serde_json's output that writes the C1 controls (U+007F–U+009F, e.g. the
/// one-byte CSI U+009B, which some terminals obey) as `\u00XX` escapes. serde escapes only C0
/// controls; a C1 control can only stand inside a JSON string, so the escape is the same JSON,
/// and inert on a terminal. In UTF-8 these are the byte 7F and the pairs C2 80 – C2 9F; a C2
/// that ends one write is held until the next.
pub struct JsonC1Escaper<W: Write> {
    inner: W,
    held_c2: bool,
}

impl<W: Write> JsonC1Escaper<W> {
    pub fn new(inner: W) -> Self {
        JsonC1Escaper { inner, held_c2: false }
    }
}

impl<W: Write> Write for JsonC1Escaper<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut start = 0;
        let mut i = 0;
        if self.held_c2 {
            self.held_c2 = false;
            match buf.first() {
                Some(b @ 0x80..=0x9f) => {
                    write!(self.inner, "\\u00{b:02x}")?;
                    start = 1;
                    i = 1;
                }
                Some(_) => self.inner.write_all(&[0xc2])?,
                None => {
                    self.held_c2 = true;
                    return Ok(());
                }
            }
        }
        while let Some(off) = memchr::memchr2(0x7f, 0xc2, &buf[i..]) {
            let at = i + off;
            match (buf[at], buf.get(at + 1)) {
                (0x7f, _) => {
                    self.inner.write_all(&buf[start..at])?;
                    self.inner.write_all(b"\\u007f")?;
                    i = at + 1;
                }
                (_, Some(b @ 0x80..=0x9f)) => {
                    self.inner.write_all(&buf[start..at])?;
                    write!(self.inner, "\\u00{b:02x}")?;
                    i = at + 2;
                }
                (_, None) => {
                    self.inner.write_all(&buf[start..at])?;
                    self.held_c2 = true;
                    return Ok(());
                }
                (_, Some(_)) => {
                    i = at + 1;
                    continue;
                }
            }
            start = i;
        }
        self.inner.write_all(&buf[start..])
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.held_c2) {
            // Only a truncated document ends in a lone lead byte: keep it as it was.
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
}

/// Prints text for people: control characters from input are made [`inert`].
pub fn print(s: &str) -> std::io::Result<()> {
    print_raw(&inert(s))
}

/// Prints text whose fields were already made safe for where it goes (CSV fields escaped for a
/// terminal by [`csv_field`], kept as bytes for a file or a pipe).
pub fn print_raw_text(s: &str) -> std::io::Result<()> {
    print_raw(s)
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

    fn escaped(doc: &str, cut_every: usize) -> String {
        let mut out = Vec::new();
        let mut w = JsonC1Escaper::new(&mut out);
        for part in doc.as_bytes().chunks(cut_every) {
            w.write_all(part).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_stays_json_with_c1_controls_escaped() {
        let value = serde_json::json!({"t": "a\u{9b}2J\u{1b}\u{7f}é\u{85}¢\u{80}", "ok": "ü"});
        let doc = serde_json::to_string(&value).unwrap();
        // Whole, and cut into writes at every byte offset (a C2 lead byte at a write's end).
        for cut in [doc.len(), 1, 2, 3, 7] {
            let e = escaped(&doc, cut);
            let back: serde_json::Value = serde_json::from_str(&e).unwrap();
            assert_eq!(back, value, "cut {cut}: {e}");
            assert!(!e.chars().any(|c| c.is_control()), "cut {cut}: {e:?}");
            assert!(e.contains("\\u009b") && e.contains("\\u007f") && e.contains("é") && e.contains("¢"), "{e}");
        }
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
