//! Which files an ingest reads, and in what order.

use crate::store::{Result, StoreError};
use std::path::{Path, PathBuf};

/// A file to ingest, with the path as the user gave it (or as found under a given directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
}

/// Expands the user's paths into files in ingest order.
///
/// - a file is taken as is;
/// - a Lotus repo (a directory with `journal/`) contributes its journal files and any `*.log`
///   files directly inside it;
/// - any other directory contributes every regular file below it (hidden files and lsync's own
///   database files skipped).
///
/// Journal files are ordered by the roll time in their names, the current `lotus-journal.ndjson`
/// last, so head changes are ingested in the order Lotus wrote them.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| StoreError::Io {
            path: p.display().to_string(),
            source: std::io::Error::new(e.kind(), if e.kind() == std::io::ErrorKind::NotFound { "no such file or directory".to_string() } else { e.to_string() }),
        })?;
        if meta.is_file() {
            out.push(InputFile { path: p.clone() });
            continue;
        }
        let journal = p.join("journal");
        let mut files = Vec::new();
        if journal.is_dir() {
            // A Lotus repo: its journal, plus log files kept beside it (`*.log`, `*.log.gz`, …);
            // never config.toml, keystore/ or datastore/.
            walk(&journal, &mut files)?;
            let rd = std::fs::read_dir(p).map_err(|source| StoreError::Io { path: p.display().to_string(), source })?;
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let is_log = name.ends_with(".log") || name.contains(".log.");
                if is_log && e.path().is_file() {
                    files.push(e.path());
                }
            }
        } else {
            walk(p, &mut files)?;
        }
        files.sort_by_key(|p| order_key(p));
        out.extend(files.into_iter().map(|path| InputFile { path }));
    }
    Ok(out)
}

/// Files a directory walk passes over: databases, documents, configuration, CARs. Name such a
/// file explicitly to ingest it anyway.
const SKIPPED_IN_DIRECTORIES: &[&str] = &[".db", ".db-wal", ".db-shm", ".md", ".toml", ".car", ".yaml", ".yml", ".json", ".lock"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || SKIPPED_IN_DIRECTORIES.iter().any(|ext| name.ends_with(ext)) {
            continue;
        }
        let path = e.path();
        let ft = match e.file_type() {
            Ok(ft) => ft,
            Err(_) => continue,
        };
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Sort key: directory, then journal files by roll time with the current file last, then name.
fn order_key(p: &Path) -> (PathBuf, u8, i64, String) {
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let base = name.trim_end_matches(".gz").trim_end_matches(".zst");
    if base == "lotus-journal.ndjson" {
        return (dir, 1, i64::MAX, name);
    }
    if let Some(t) = base.strip_prefix("lotus-journal-").and_then(|s| s.strip_suffix(".ndjson")) {
        if let Some(ns) = journal_name_time(t) {
            return (dir, 1, ns, name);
        }
    }
    (dir, 0, 0, name)
}

/// Parses the `2006-01-02T150405Z0700` roll time of a journal file name.
pub fn journal_name_time(t: &str) -> Option<i64> {
    // Re-insert the colons the layout leaves out, then use the common parser.
    if t.len() < 17 || t.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let (date, rest) = t.split_at(11);
    let (hms, zone) = rest.split_at(6.min(rest.len()));
    let iso = format!("{date}{}:{}:{}{zone}", &hms[0..2], &hms[2..4], &hms[4..6]);
    lsync_core::Timestamp::parse(&iso).ok().map(|ts| ts.unix_nanos)
}

pub(super) fn is_rolled_journal(path: &Path) -> bool {
    path.file_name()
        .map(|n| {
            let n = n.to_string_lossy();
            n.starts_with("lotus-journal-") && n.contains(".ndjson")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_names_order_by_roll_time_current_last() {
        let names = [
            "lotus-journal.ndjson",
            "lotus-journal-2021-09-01T120305+0200.ndjson",
            "lotus-journal-2021-08-31T235959Z.ndjson",
            "daemon.log",
        ];
        let mut paths: Vec<PathBuf> = names.iter().map(|n| PathBuf::from("/r/journal").join(n)).collect();
        paths.sort_by_key(|p| order_key(p));
        let got: Vec<_> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(got, vec!["daemon.log", "lotus-journal-2021-08-31T235959Z.ndjson", "lotus-journal-2021-09-01T120305+0200.ndjson", "lotus-journal.ndjson"]);
        // 12:03:05+02:00 is 10:03:05Z.
        assert_eq!(journal_name_time("2021-09-01T120305+0200"), journal_name_time("2021-09-01T100305Z"));
    }
}
