//! Each tabular report's columns, declared once: the data columns (CSV header = JSON key, in
//! the documented order, with how each value prints in CSV and in JSON) and the terminal
//! table's view of them. `--csv`, `--json` and the table are all printed from these lists, so
//! a new field is one line here (plus, to see it in the terminal, one table cell).
//!
//! JSON keys are a public interface (scripts depend on them): the golden files under
//! `tests/golden/` pin every one.

use std::io::Write;

use lsync_analyzers::miners::MinerRow;
use lsync_analyzers::orphans::OrphanRow;
use lsync_analyzers::query::{EventRow, ReorgRow};
use serde::ser::{SerializeMap, Serializer};

use crate::output::{self, csv_field, ms, opt};

/// One value of a data column.
pub enum Cell<'a> {
    Null,
    Str(&'a str),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Full precision in JSON, three decimals in CSV (statistics).
    Fixed3(f64),
    /// A CID list: a JSON array, space-separated in CSV.
    List(&'a [String]),
    /// Already JSON (a journal record's raw `Data`); a string when it does not parse.
    RawJson(&'a str),
    /// Nested JSON, already serialized (so struct field order is kept), with its CSV text.
    Nested(String, String),
    /// Left out of the JSON object entirely; empty in CSV.
    Absent,
}

impl Cell<'_> {
    fn csv(&self) -> String {
        match self {
            Cell::Null | Cell::Absent => String::new(),
            Cell::Str(s) | Cell::RawJson(s) => s.to_string(),
            Cell::Int(n) => n.to_string(),
            Cell::UInt(n) => n.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Fixed3(f) => format!("{f:.3}"),
            Cell::List(l) => l.join(" "),
            Cell::Nested(_, text) => text.clone(),
        }
    }
}

impl serde::Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Null | Cell::Absent => s.serialize_none(),
            Cell::Str(v) => s.serialize_str(v),
            Cell::Int(n) => s.serialize_i64(*n),
            Cell::UInt(n) => s.serialize_u64(*n),
            Cell::Float(f) | Cell::Fixed3(f) => s.serialize_f64(*f),
            Cell::List(l) => l.serialize(s),
            Cell::RawJson(text) => match serde_json::from_str::<&serde_json::value::RawValue>(text) {
                Ok(raw) => raw.serialize(s),
                Err(_) => s.serialize_str(text),
            },
            Cell::Nested(json, _) => match serde_json::from_str::<&serde_json::value::RawValue>(json) {
                Ok(raw) => raw.serialize(s),
                Err(_) => s.serialize_none(),
            },
        }
    }
}

fn str_or_null(v: &Option<String>) -> Cell<'_> {
    v.as_deref().map_or(Cell::Null, Cell::Str)
}

fn int_or_null(v: Option<i64>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Int)
}

fn float_or_null(v: Option<f64>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Float)
}

/// A data column: CSV header and JSON key, and its value.
pub struct Column<R> {
    pub name: &'static str,
    pub value: for<'a> fn(&'a R) -> Cell<'a>,
    /// False for JSON-only columns (a record's raw `Data`).
    pub in_csv: bool,
}

/// A cell of the terminal table.
pub struct TableColumn<R> {
    pub heading: &'static str,
    pub text: fn(&R) -> String,
}

/// A report: its data columns and the table's view.
pub struct Report<R: 'static> {
    pub data: &'static [Column<R>],
    pub table: &'static [TableColumn<R>],
}

const fn col<R>(name: &'static str, value: for<'a> fn(&'a R) -> Cell<'a>) -> Column<R> {
    Column { name, value, in_csv: true }
}

const fn cell<R>(heading: &'static str, text: fn(&R) -> String) -> TableColumn<R> {
    TableColumn { heading, text }
}

/// One row as a JSON object in the declared key order, without building a `Value`.
struct JsonRow<'a, R: 'static>(&'a R, &'a [Column<R>]);

impl<R> serde::Serialize for JsonRow<'_, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for c in self.1 {
            let v = (c.value)(self.0);
            if !matches!(v, Cell::Absent) {
                map.serialize_entry(c.name, &v)?;
            }
        }
        map.end()
    }
}

impl<R> Report<R> {
    pub fn write_json_lines(&self, rows: &[R]) -> std::io::Result<()> {
        output::write_json_lines(rows.iter().map(|r| JsonRow(r, self.data)))
    }

    pub fn write_csv(&self, rows: &[R]) -> std::io::Result<()> {
        let cols: Vec<&Column<R>> = self.data.iter().filter(|c| c.in_csv).collect();
        let to_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        writeln!(w, "{}", cols.iter().map(|c| c.name).collect::<Vec<_>>().join(","))?;
        for r in rows {
            let fields: Vec<String> = cols.iter().map(|c| csv_field(&(c.value)(r).csv(), to_terminal)).collect();
            writeln!(w, "{}", fields.join(","))?;
        }
        w.flush()
    }

    pub fn table(&self, rows: &[R]) -> comfy_table::Table {
        let mut t = output::table(&self.table.iter().map(|c| c.heading).collect::<Vec<_>>());
        for r in rows {
            t.add_row(self.table.iter().map(|c| (c.text)(r)).collect::<Vec<_>>());
        }
        t
    }

    /// The JSON keys, in order.
    #[cfg(test)]
    pub fn keys(&self) -> Vec<&'static str> {
        self.data.iter().map(|c| c.name).collect()
    }
}

pub static EVENTS: Report<EventRow> = Report {
    data: &[
        col("kind", |r| Cell::Str(&r.kind)),
        col("ts", |r| str_or_null(&r.ts)),
        col("node", |r| Cell::Str(&r.node)),
        col("file", |r| Cell::Str(&r.file)),
        col("line", |r| Cell::UInt(r.line)),
        col("level", |r| str_or_null(&r.level)),
        col("logger", |r| str_or_null(&r.logger)),
        col("caller", |r| str_or_null(&r.caller)),
        col("cids", |r| Cell::List(&r.cids)),
        // Present only when a CID of the line does not decode (kept as printed).
        Column { name: "cids_invalid", value: |r| if r.cids_invalid.is_empty() { Cell::Absent } else { Cell::List(&r.cids_invalid) }, in_csv: false },
        col("height", |r| int_or_null(r.height)),
        col("worker", |r| r.worker.map_or(Cell::Null, Cell::UInt)),
        col("miner", |r| str_or_null(&r.miner)),
        col("delay_s", |r| float_or_null(r.delay_s)),
        col("duration_ms", |r| float_or_null(r.duration_ms)),
        col("peer", |r| str_or_null(&r.peer)),
        col("text", |r| str_or_null(&r.text)),
        // The journal record's raw `Data` (only with `lsync ingest --keep-raw`).
        Column { name: "data", value: |r| r.data.as_deref().map_or(Cell::Absent, Cell::RawJson), in_csv: false },
    ],
    table: &[
        cell("ts", |r| opt(&r.ts)),
        cell("node", |r| r.node.clone()),
        cell("kind", |r| r.kind.clone()),
        cell("where", |r| format!("{}:{}", r.file, r.line)),
        cell("height", |r| opt(&r.height)),
        cell("worker", |r| opt(&r.worker)),
        cell("cids", |r| {
            // A CID that does not decode is marked where it stands.
            r.cids.iter().map(|c| if r.cids_invalid.contains(c) { format!("{c} (damaged)") } else { c.clone() }).collect::<Vec<_>>().join("\n")
        }),
        cell("detail", event_detail),
    ],
};

fn event_detail(r: &EventRow) -> String {
    match r.kind.as_str() {
        "block_delay" => format!("delay {}s miner {}", opt(&r.delay_s), opt(&r.miner)),
        "worker_done" | "block_validation" | "slow_msg_fetch" => ms(r.duration_ms),
        "malformed" => r.problem.clone().unwrap_or_default(),
        _ => r.text.clone().unwrap_or_default().lines().next().unwrap_or("").chars().take(80).collect(),
    }
}

pub static REORGS: Report<ReorgRow> = Report {
    data: &[
        col("ts", |r| str_or_null(&r.ts)),
        col("node", |r| Cell::Str(&r.node)),
        col("file", |r| Cell::Str(&r.file)),
        col("line", |r| Cell::UInt(r.line)),
        col("from", |r| Cell::List(&r.change.from)),
        col("from_height", |r| Cell::Int(r.change.from_height)),
        col("to", |r| Cell::List(&r.change.to)),
        col("to_height", |r| Cell::Int(r.change.to_height)),
        col("revert_count", |r| Cell::Int(r.change.revert_count)),
        col("apply_count", |r| Cell::Int(r.change.apply_count)),
        col("class", |r| Cell::Str(r.change.class().as_str())),
        // Lotus's operators call the counts depth and distance; both names are kept.
        col("depth", |r| Cell::Int(r.change.revert_count)),
        col("distance", |r| Cell::Int(r.change.apply_count)),
    ],
    table: &[
        cell("ts", |r| opt(&r.ts)),
        cell("node", |r| r.node.clone()),
        cell("class", |r| r.change.class().to_string()),
        cell("heights", |r| format!("{}→{}", r.change.from_height, r.change.to_height)),
        cell("revert", |r| r.change.revert_count.to_string()),
        cell("apply", |r| r.change.apply_count.to_string()),
        cell("from", |r| r.change.from.join("\n")),
        cell("to", |r| r.change.to.join("\n")),
        cell("where", |r| format!("{}:{}", r.file, r.line)),
    ],
};

fn worst_text(r: &MinerRow, sep: &str) -> String {
    r.worst
        .iter()
        .map(|w| format!("{}s {}", w.delay_s, w.cid.as_deref().unwrap_or("(no CID in old log format)")))
        .collect::<Vec<_>>()
        .join(sep)
}

pub static MINERS: Report<MinerRow> = Report {
    data: &[
        col("miner", |r| Cell::Str(&r.miner)),
        col("late_blocks", |r| Cell::UInt(r.late_blocks)),
        col("mean_delay_s", |r| Cell::Fixed3(r.mean_delay_s)),
        col("p50_delay_s", |r| Cell::Fixed3(r.p50_delay_s)),
        col("p95_delay_s", |r| Cell::Fixed3(r.p95_delay_s)),
        col("max_delay_s", |r| Cell::Fixed3(r.max_delay_s)),
        col("worst", |r| Cell::Nested(serde_json::to_string(&r.worst).unwrap_or_default(), worst_text(r, " "))),
    ],
    table: &[
        cell("miner", |r| r.miner.clone()),
        cell("blocks", |r| r.late_blocks.to_string()),
        cell("mean delay", |r| format!("{:.1}s", r.mean_delay_s)),
        cell("p50", |r| format!("{:.1}s", r.p50_delay_s)),
        cell("p95", |r| format!("{:.1}s", r.p95_delay_s)),
        cell("max", |r| format!("{:.1}s", r.max_delay_s)),
        cell("worst blocks", |r| worst_text(r, "\n")),
    ],
};

pub static ORPHANS: Report<OrphanRow> = Report {
    data: &[
        col("node", |r| Cell::Str(&r.node)),
        col("cid", |r| Cell::Str(&r.cid)),
        col("height", |r| Cell::Int(r.height)),
        col("miner", |r| str_or_null(&r.miner)),
        col("first_seen", |r| str_or_null(&r.first_seen)),
        col("seen_from", |r| Cell::Str(r.seen_from)),
        col("peer", |r| str_or_null(&r.peer)),
        col("delay_s", |r| float_or_null(r.delay_s)),
        col("attribution", |r| Cell::Str(r.attribution)),
        col("evidence", |r| Cell::Str(&r.evidence)),
    ],
    table: &[
        cell("node", |r| r.node.clone()),
        cell("height", |r| r.height.to_string()),
        cell("block", |r| r.cid.clone()),
        cell("miner", |r| opt(&r.miner)),
        cell("first seen", |r| opt(&r.first_seen)),
        cell("delay", |r| r.delay_s.map_or(String::new(), |d| format!("{d:.3}s"))),
        cell("cause", |r| r.attribution.to_string()),
        cell("evidence", |r| r.evidence.clone()),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_headers_are_the_json_keys_in_order() {
        // The documented CSV headers (README) and JSON keys: one list per report.
        assert_eq!(
            EVENTS.keys(),
            ["kind", "ts", "node", "file", "line", "level", "logger", "caller", "cids", "cids_invalid", "height", "worker", "miner", "delay_s", "duration_ms", "peer", "text", "data"]
        );
        assert_eq!(
            REORGS.keys(),
            ["ts", "node", "file", "line", "from", "from_height", "to", "to_height", "revert_count", "apply_count", "class", "depth", "distance"]
        );
        assert_eq!(MINERS.keys(), ["miner", "late_blocks", "mean_delay_s", "p50_delay_s", "p95_delay_s", "max_delay_s", "worst"]);
    }

    #[test]
    fn cells_print_as_before_in_csv_and_json() {
        let l = vec!["a".to_string(), "b".to_string()];
        assert_eq!(Cell::List(&l).csv(), "a b");
        assert_eq!(serde_json::to_string(&Cell::List(&l)).unwrap(), r#"["a","b"]"#);
        assert_eq!(Cell::Fixed3(1.23456).csv(), "1.235");
        assert_eq!(serde_json::to_string(&Cell::Fixed3(1.23456)).unwrap(), "1.23456");
        assert_eq!(serde_json::to_string(&Cell::Float(12.0)).unwrap(), "12.0");
        assert_eq!(serde_json::to_string(&Cell::RawJson(r#"{"a": 1}"#)).unwrap(), r#"{"a": 1}"#);
        assert_eq!(serde_json::to_string(&Cell::RawJson("{torn")).unwrap(), r#""{torn""#);
        assert_eq!(Cell::Null.csv(), "");
    }
}
