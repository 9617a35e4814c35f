//! `lsync export`: open datasets (Parquet, CSV, NDJSON) of the store, and their schema.

use crate::output::{self, ok_on_pipe};
use crate::FilterArgs;
use anyhow::Result;
use lsync_analyzers::export::{self, ExportOptions, Format, Table};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[allow(clippy::too_many_arguments)]
pub fn run(db: &Path, format: Format, compression: export::Compression, out: Option<PathBuf>, tables: Vec<Table>, filter: &FilterArgs, since_last_export: bool, schema: bool, json: bool, quiet: bool) -> Result<ExitCode> {
    let tables = if tables.is_empty() { Table::ALL.to_vec() } else { tables };
    if schema {
        ok_on_pipe(output::print(&export::clickhouse_schema(&tables)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = out else { anyhow::bail!("--out DIR is required: the directory the datasets are written to") };
    let f = filter.to_filter()?;
    let conn = lsync_analyzers::open_existing(db)?;
    let opts = ExportOptions {
        format,
        compression,
        out,
        tables,
        node: f.node,
        since: f.since.map(|t| t.unix_nanos),
        until: f.until.map(|t| t.unix_nanos),
        since_last_export,
    };
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} segments {msg}").expect("static template").progress_chars("=> "));
        b
    });
    let report = export::export(&conn, &opts, &mut |done, total| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report?;
    if json {
        ok_on_pipe(output::print_json(&serde_json::to_string_pretty(&report)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = format!("Exported to {} as {} (run {}):\n", report.out, format.extension(), report.run);
    for (t, r) in &report.tables {
        s.push_str(&format!("  {t:<13} {:>10} rows in {} file(s)\n", r.rows, r.files));
    }
    if report.blocks_skipped {
        s.push_str("blocks was left out: it aggregates every event of a block, old and new, so it is not appended to; export it into a new directory (lsync export --table blocks --out DIR).\n");
    }
    if report.removed_leftovers > 0 {
        s.push_str(&format!("Removed {} file(s) left by an interrupted export.\n", report.removed_leftovers));
    }
    if format == Format::Parquet {
        s.push_str(&format!(
            "DuckDB: SELECT count(*) FROM read_parquet('{}/events/**/*.parquet', hive_partitioning = true);\n",
            report.out
        ));
    }
    ok_on_pipe(output::print(&s))?;
    Ok(ExitCode::SUCCESS)
}
