//! Enforces `lsync-core`'s invariant: formats and the chain model, no I/O. The crate's non-test
//! source may not name the file system, sockets, threads, processes, the environment or a clock;
//! bytes come in as arguments, time comes in as values. (Reading through `std::io::Read` is
//! allowed: the caller chooses what the reader is.)

use std::path::{Path, PathBuf};

/// What `core` must never name outside its tests.
const FORBIDDEN: &[&str] = &[
    "std::fs", "std::net", "std::thread", "std::process", "std::env", "tokio", "SystemTime", "Instant::now", "Utc::now", "Local::now", "File::open", "File::create", "TcpStream", "UdpSocket",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's text without its `#[cfg(test)]` items: everything from the first
/// `#[cfg(test)]` line on (lsync keeps test modules at the end of a file).
fn non_test_text(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

#[test]
fn core_does_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10, "found only {} files under {}", files.len(), src.display());
    let mut hits = Vec::new();
    for file in &files {
        // Test-only modules (declared under #[cfg(test)]) read real fixtures from disk.
        if file.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_tests.rs")) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in non_test_text(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    hits.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(hits.is_empty(), "lsync-core must do no I/O (ARCHITECTURE.md, invariants):\n{}", hits.join("\n"));
}

#[test]
fn the_check_sees_a_violation() {
    let sample = "use std::fs::File;\n#[cfg(test)]\nmod tests { use std::fs; }\n";
    let text = non_test_text(sample);
    assert!(text.contains("std::fs"), "the non-test part keeps its violation");
    assert!(!non_test_text("// reads no std::fs\n").lines().next().unwrap().split("//").next().unwrap().contains("std::fs"));
}
