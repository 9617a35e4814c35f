//! `lsync sql`: prints the rows of the analyzers' SQL runner as a table, JSON lines or CSV.

use crate::output::{self, csv_field, inert, ok_on_pipe};
use crate::OutputArgs;
use anyhow::{Context, Result};
use lsync_analyzers::sql::{self, Cell, RowSink, SqlError};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A table cell longer than this is cut (with `…`) so that rows stay readable; --csv and
/// --json print every byte.
const TABLE_CELL_CHARS: usize = 80;

pub fn run(db: &Path, query: Option<String>, file: Option<PathBuf>, tables: bool, max_rows: usize, out: OutputArgs) -> Result<ExitCode> {
    let session = sql::SqlSession::open(db)?;
    if tables {
        return describe(&session, out);
    }
    let script = match (query, file) {
        (Some(q), _) if q != "-" => q,
        (_, Some(f)) => std::fs::read_to_string(&f).with_context(|| format!("reading the query from {}", f.display()))?,
        _ => {
            if std::io::stdin().is_terminal() {
                anyhow::bail!("no query: give one (lsync sql \"SELECT count(*) FROM events\"), --file FILE, or pipe it on stdin; `lsync sql --tables` lists the tables");
            }
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the query from stdin")?;
            s
        }
    };
    if sql::split_statements(&script).is_empty() {
        anyhow::bail!("the query is empty");
    }
    let stdout = std::io::stdout();
    let to_terminal = stdout.is_terminal();
    let w = std::io::BufWriter::new(stdout.lock());
    let result = if out.json {
        session.run(&script, &mut JsonSink { w: output::JsonC1Escaper::new(w), names: Vec::new() })
    } else if out.csv {
        session.run(&script, &mut CsvSink { w, to_terminal })
    } else {
        session.run(&script, &mut TableSink { w, max_rows, names: Vec::new(), rows: Vec::new(), more: 0, statements: 0, width: if to_terminal { terminal_width() } else { None } })
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(SqlError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(SqlError::Syntax { message, offset }) => {
            eprintln!("lsync: error: SQL: {}", inert(&message));
            if let Some(at) = offset {
                eprint!("{}", inert(&pointer(&script, at)));
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// The line of `script` holding byte `at`, and a caret under it.
fn pointer(script: &str, at: usize) -> String {
    let at = at.min(script.len());
    let at = (0..=at).rev().find(|i| script.is_char_boundary(*i)).unwrap_or(0);
    let line_start = script[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = script[at..].find('\n').map_or(script.len(), |i| at + i);
    let line_no = script[..at].matches('\n').count() + 1;
    let col = script[line_start..at].chars().count();
    format!("  line {line_no}, column {}:\n  {}\n  {}^\n", col + 1, &script[line_start..line_end], " ".repeat(col))
}

fn describe(session: &sql::SqlSession, out: OutputArgs) -> Result<ExitCode> {
    let rows = session.tables()?;
    if out.json {
        let items: Vec<serde_json::Value> = rows.iter().map(|(n, w, c)| serde_json::json!({"table": n, "about": w, "columns": c})).collect();
        ok_on_pipe(output::write_json_lines(&items))?;
    } else {
        let mut s = String::new();
        for (n, w, c) in rows {
            s.push_str(&format!("{n}({})\n    {w}\n", c.join(", ")));
        }
        s.push_str("\nConstraints on event_id, kind, node, ts / ts_ns and cid are answered from the store's indexes;\nns('2024-05-01T12:00:00Z') turns a time into ts_ns. Example:\n  lsync sql \"SELECT miner, count(*), max(delay_s) FROM events WHERE kind = 'block_delay' GROUP BY miner ORDER BY 2 DESC\"\n");
        ok_on_pipe(output::print(&s))?;
    }
    Ok(ExitCode::SUCCESS)
}

struct JsonSink<W: Write> {
    w: output::JsonC1Escaper<W>,
    names: Vec<String>,
}

impl<W: Write> RowSink for JsonSink<W> {
    fn columns(&mut self, names: &[String]) -> std::io::Result<()> {
        self.names = names.to_vec();
        Ok(())
    }
    fn row(&mut self, cells: &[Cell]) -> std::io::Result<bool> {
        let mut o = serde_json::Map::with_capacity(cells.len());
        for (n, c) in self.names.iter().zip(cells) {
            o.insert(n.clone(), c.to_json());
        }
        serde_json::to_writer(&mut self.w, &o)?;
        self.w.write_all(b"\n")?;
        Ok(true)
    }
    fn end(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

struct CsvSink<W: Write> {
    w: W,
    to_terminal: bool,
}

impl<W: Write> RowSink for CsvSink<W> {
    fn columns(&mut self, names: &[String]) -> std::io::Result<()> {
        let line: Vec<String> = names.iter().map(|n| csv_field(n, self.to_terminal)).collect();
        writeln!(self.w, "{}", line.join(","))
    }
    fn row(&mut self, cells: &[Cell]) -> std::io::Result<bool> {
        let line: Vec<String> = cells.iter().map(|c| csv_field(&c.to_text(), self.to_terminal)).collect();
        writeln!(self.w, "{}", line.join(","))?;
        Ok(true)
    }
    fn end(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// A table per statement, at most `max_rows` rows (the rest counted, not read further).
struct TableSink<W: Write> {
    w: W,
    max_rows: usize,
    names: Vec<String>,
    rows: Vec<Vec<String>>,
    more: u64,
    statements: usize,
    /// The terminal's width: a wider table is printed as one block per row. `None` (a pipe):
    /// as wide as its cells, for stable output.
    width: Option<u16>,
}

impl<W: Write> RowSink for TableSink<W> {
    fn columns(&mut self, names: &[String]) -> std::io::Result<()> {
        self.names = names.to_vec();
        self.rows.clear();
        self.more = 0;
        Ok(())
    }
    fn row(&mut self, cells: &[Cell]) -> std::io::Result<bool> {
        if self.rows.len() >= self.max_rows {
            // Stop reading: one more row is enough to say there are more.
            self.more += 1;
            return Ok(false);
        }
        self.rows.push(cells.iter().map(|c| cut(&c.to_text())).collect());
        Ok(true)
    }
    fn end(&mut self) -> std::io::Result<()> {
        if self.statements > 0 {
            writeln!(self.w)?;
        }
        self.statements += 1;
        if self.names.is_empty() {
            return Ok(());
        }
        let headers: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let mut t = output::table(&headers);
        for r in &self.rows {
            t.add_row(r);
        }
        let mut text = t.to_string();
        // Wider than the terminal: one record per block, `column │ value` (psql's expanded
        // display), instead of columns squeezed to a few characters each.
        if let Some(w) = self.width {
            if text.lines().next().map_or(0, |l| l.chars().count()) > usize::from(w) {
                let name_w = headers.iter().map(|h| h.chars().count()).max().unwrap_or(0);
                text.clear();
                for (i, r) in self.rows.iter().enumerate() {
                    text.push_str(&format!("-[ row {} ]{}\n", i + 1, "-".repeat(usize::from(w).saturating_sub(12).min(40))));
                    for (h, v) in headers.iter().zip(r) {
                        text.push_str(&format!("{h:<name_w$} │ {}\n", v.replace('\n', " ")));
                    }
                }
            }
        }
        let n = self.rows.len();
        let tail = if self.more > 0 {
            format!("first {n} rows shown (--max-rows); more follow: add LIMIT, or use --csv / --json for all of them")
        } else {
            format!("{n} row{}", if n == 1 { "" } else { "s" })
        };
        write!(self.w, "{}\n{tail}\n", inert(text.trim_end()))?;
        self.w.flush()
    }
}

/// The terminal's width: `$COLUMNS` if set, else what comfy-table reads from the terminal.
fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).or_else(|| comfy_table::Table::new().width())
}

fn cut(s: &str) -> String {
    if s.chars().count() <= TABLE_CELL_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(TABLE_CELL_CHARS - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(width: Option<u16>) -> String {
        let mut out = Vec::new();
        let mut sink = TableSink { w: &mut out, max_rows: 10, names: Vec::new(), rows: Vec::new(), more: 0, statements: 0, width };
        sink.columns(&["kind".into(), "a_long_column_name".into()]).unwrap();
        sink.row(&[Cell::Text("head_change".into()), Cell::Text("x".repeat(50))]).unwrap();
        sink.row(&[Cell::Text("new_heaviest".into()), Cell::Null]).unwrap();
        sink.end().unwrap();
        drop(sink);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_table_wider_than_the_terminal_becomes_one_block_per_row() {
        let wide = table(None);
        assert!(wide.lines().next().unwrap().chars().count() > 60, "{wide}");
        assert_eq!(table(Some(200)), wide, "it fits: unchanged");
        let narrow = table(Some(60));
        assert!(narrow.lines().all(|l| l.chars().count() <= 80), "{narrow}");
        assert!(narrow.contains("-[ row 1 ]") && narrow.contains("-[ row 2 ]"), "{narrow}");
        assert!(narrow.contains("kind               │ head_change"), "{narrow}");
        assert!(narrow.ends_with("2 rows\n"), "{narrow}");
    }
}
