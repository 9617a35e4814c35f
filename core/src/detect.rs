//! Which parser a file needs, decided from its first lines (never from its name alone: users
//! rename files, and a daemon log can be `.ndjson` when GOLOG_LOG_FMT=json).

/// The kind of a Lotus output file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// A journal: one `{"System","Event","Timestamp","Data"}` object per line.
    Journal,
    /// A daemon log: go-log text, JSON lines, or a mix.
    Log,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Journal => "journal",
            FileFormat::Log => "log",
        }
    }
}

/// Decides from a sample of the file's first bytes. Journal records name `"System"` and
/// `"Timestamp"`; a go-log JSON line names `"level"` and `"msg"`; anything else is a log.
pub fn detect_format(sample: &[u8]) -> FileFormat {
    let mut journal = 0;
    let mut log = 0;
    for line in sample.split(|b| *b == b'\n').take(50) {
        let t = String::from_utf8_lossy(line);
        let t = t.trim().trim_start_matches('>').trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with('{') && t.contains("\"System\"") && t.contains("\"Timestamp\"") {
            journal += 1;
        } else {
            log += 1;
        }
        if journal + log >= 10 {
            break;
        }
    }
    if journal > 0 && journal >= log {
        FileFormat::Journal
    } else {
        FileFormat::Log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects() {
        assert_eq!(detect_format(include_bytes!("../../fixtures/samples/lotus-docs-miner-journal.ndjson")), FileFormat::Journal);
        assert_eq!(detect_format(include_bytes!("../../fixtures/samples/community-china-testnet-snapshot.log")), FileFormat::Log);
        assert_eq!(detect_format(b"{\"level\":\"info\",\"ts\":\"2023-04-29T12:51:31.958Z\",\"msg\":\"x\"}\n"), FileFormat::Log);
        assert_eq!(detect_format(b""), FileFormat::Log);
    }
}
