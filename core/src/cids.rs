//! CID lists as Lotus prints them: a tipset or `[]cid.Cid` as `[a b]`, a `TipSetKey` as `{a,b}`
//! (lotus-facts §2.1). Every CID is validated with the `cid` crate; order is kept, because the
//! order inside a tipset is the ticket order and users compare it with Lotus output.

use cid::Cid;

/// Why a CID list was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidListError {
    #[error("no closing bracket in CID list")]
    Unclosed,
    #[error("invalid CID {0:?}")]
    InvalidCid(String),
    #[error("no CID list found")]
    Missing,
}

/// Validates one CID and returns its canonical text form.
///
/// A busy node's log names each block CID in four or five lines (target, worker, heaviest,
/// journal), and decoding plus re-encoding one costs more than the rest of its line: CIDs
/// already seen in canonical form are remembered per thread (a pure memo: same answer, bounded
/// memory).
pub fn validate_cid(text: &str) -> Result<String, CidListError> {
    let t = text.trim();
    if KNOWN_CANONICAL.with(|k| k.borrow().contains(t)) {
        return Ok(t.to_string());
    }
    let canonical = if is_canonical_base32_v1(t) {
        t.to_string()
    } else {
        match Cid::try_from(t) {
            // Canonical form: Filecoin CIDs are v1 base32 and print back identically; a v0
            // (`Qm…`) prints as base58, also identical. Use the crate's rendering regardless.
            Ok(c) => c.to_string(),
            Err(_) => return Err(CidListError::InvalidCid(t.chars().take(80).collect())),
        }
    };
    if canonical == t {
        KNOWN_CANONICAL.with(|k| {
            let mut k = k.borrow_mut();
            if k.len() >= KNOWN_CANONICAL_MAX {
                k.clear();
            }
            k.insert(canonical.as_str().into());
        });
    }
    Ok(canonical)
}

/// True when `t` is a CIDv1 exactly as the `cid` crate prints it (`b` + base32, lower case, no
/// padding): the form of every Filecoin block CID, checked without building the crate's text
/// (`Cid::to_string` formats through two allocations and `fmt`; this path halves a first
/// sighting's cost). `false` means "not shown here", and the crate's parse decides.
pub fn is_canonical_base32_v1(t: &str) -> bool {
    crate::cid_bytes::is_canonical_v1_text(t)
}

/// Distinct CIDs remembered per thread (~100 bytes each): a few hours of mainnet blocks.
const KNOWN_CANONICAL_MAX: usize = 16_384;

thread_local! {
    static KNOWN_CANONICAL: std::cell::RefCell<std::collections::HashSet<Box<str>, std::hash::BuildHasherDefault<CidTextHasher>>> =
        std::cell::RefCell::new(Default::default());
}

/// Hashes a CID text by a few of its characters: past the multibase/codec prefix a CID is
/// uniformly random, so eight bytes from there are as good a hash as any, at no cost.
#[derive(Default)]
struct CidTextHasher(u64);

impl std::hash::Hasher for CidTextHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ bytes.len() as u64;
        let tail = &bytes[bytes.len().saturating_sub(8)..];
        for (i, b) in tail.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        self.0 = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Parses a CID list that starts at the beginning of `s` (after optional spaces):
/// `[a b c]` or `{a,b,c}`. Returns the CIDs and the number of bytes consumed.
///
/// Tokens may be split by line wraps (pasted logs): when a token is not a valid CID but it
/// and the next token joined are, they are joined.
pub fn parse_cid_list_prefix(s: &str) -> Result<(Vec<String>, usize), CidListError> {
    parse_cid_list_prefix_with(s, None)
}

/// [`parse_cid_list_prefix`] that keeps a CID damaged in a paste (a character dropped, doubled
/// or swapped by hand-copying, so that it no longer decodes) as printed, in its place in the
/// list, and also appends it to `damaged`. A token that is not CID-shaped at all is still an
/// error.
pub fn parse_cid_list_prefix_lenient(s: &str, damaged: &mut Vec<String>) -> Result<(Vec<String>, usize), CidListError> {
    parse_cid_list_prefix_with(s, Some(damaged))
}

/// Whether a token that is no valid CID still looks like one a paste damaged: a CIDv1 in
/// base32 (`bafy…`, `bafk…`) or a CIDv0 (`Qm…`), 40–80 letters and digits.
pub fn looks_like_damaged_cid(token: &str) -> bool {
    (token.starts_with("bafy") || token.starts_with("bafk") || token.starts_with("Qm"))
        && (40..=80).contains(&token.len())
        && token.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn parse_cid_list_prefix_with(s: &str, damaged: Option<&mut Vec<String>>) -> Result<(Vec<String>, usize), CidListError> {
    let lead = s.len() - s.trim_start().len();
    let body = &s[lead..];
    let close = match body.as_bytes().first() {
        Some(b'[') => b']',
        Some(b'{') => b'}',
        _ => return Err(CidListError::Missing),
    };
    let end = memchr::memchr(close, body.as_bytes()).ok_or(CidListError::Unclosed)?;
    let inner = &body[1..end];
    let cids = parse_cid_tokens_with(inner, damaged)?;
    Ok((cids, lead + end + 1))
}

/// Parses whitespace- or comma-separated CIDs, re-joining tokens broken by line wraps.
pub fn parse_cid_tokens(inner: &str) -> Result<Vec<String>, CidListError> {
    parse_cid_tokens_with(inner, None)
}

/// [`parse_cid_tokens`] that keeps paste-damaged CIDs as [`parse_cid_list_prefix_lenient`] does.
pub fn parse_cid_tokens_lenient(inner: &str, damaged: &mut Vec<String>) -> Result<Vec<String>, CidListError> {
    parse_cid_tokens_with(inner, Some(damaged))
}

fn parse_cid_tokens_with(inner: &str, mut damaged: Option<&mut Vec<String>>) -> Result<Vec<String>, CidListError> {
    // The common case — ASCII tokens between spaces or commas, every token a CID — in one byte
    // walk; anything else (wraps, odd whitespace, a token that is no CID) takes the general
    // path below, which decides the same for the common case.
    let b = inner.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 60 + 1);
    let mut i = 0;
    let simple = loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        if i == b.len() {
            break true;
        }
        let start = i;
        i += alphanumeric_run(&b[i..]);
        if i == start || (i < b.len() && b[i] != b' ' && b[i] != b',') {
            break false;
        }
        match validate_cid(&inner[start..i]) {
            Ok(c) => out.push(c),
            Err(_) => break false,
        }
    };
    if simple {
        return Ok(out);
    }
    let tokens: Vec<&str> = inner
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        match validate_cid(tokens[i]) {
            Ok(c) => {
                out.push(c);
                i += 1;
            }
            Err(e) => {
                // Try to re-join a CID broken over up to three physical lines.
                let mut joined = tokens[i].to_string();
                let mut ok = None;
                for (k, t) in tokens.iter().enumerate().skip(i + 1).take(2) {
                    joined.push_str(t);
                    if let Ok(c) = validate_cid(&joined) {
                        ok = Some((c, k));
                        break;
                    }
                }
                match ok {
                    Some((c, k)) => {
                        out.push(c);
                        i = k + 1;
                    }
                    None => match damaged.as_deref_mut() {
                        // Kept as printed, flagged: the event is not lost for one character.
                        Some(list) if looks_like_damaged_cid(tokens[i]) => {
                            out.push(tokens[i].to_string());
                            list.push(tokens[i].to_string());
                            i += 1;
                        }
                        _ => return Err(e),
                    },
                }
            }
        }
    }
    Ok(out)
}

/// Length of the run of ASCII letters and digits at the start of `b`, eight bytes at a time (a
/// CID is ~60 of them, and a byte loop with three range checks costs ~9 instructions a byte).
fn alphanumeric_run(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte set when that byte is in lo..=hi. Exact for bytes below 0x80
    // (no carry crosses a byte); bytes at or above 0x80 are masked out by the caller.
    let in_range = |x: u64, lo: u8, hi: u8| (x + LO * (0x80 - lo) as u64) & !(x + LO * (0x7f - hi) as u64) & HI;
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let ascii = !w & HI;
        let x = w & !HI;
        let ok = (in_range(x, b'0', b'9') | in_range(x, b'A', b'Z') | in_range(x, b'a', b'z')) & ascii;
        if ok != HI {
            return i + ((!ok & HI).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

/// Finds every block-like CID (`bafy…`, `bafk…`, `Qm…` of plausible length) anywhere in free text,
/// e.g. inside an error message. Invalid candidates are skipped, not errors: free text is not a list.
pub fn find_cids_in_text(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let starts = bytes[i..].starts_with(b"bafy") || bytes[i..].starts_with(b"bafk");
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if starts && boundary {
            let len = bytes[i..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
            if let Ok(c) = validate_cid(&text[i..i + len]) {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2";
    const B: &str = "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4";

    #[test]
    fn tipset_and_key_forms() {
        let (c, n) = parse_cid_list_prefix(&format!("[{A} {B}] (height=5)")).unwrap();
        assert_eq!(c, vec![A, B]);
        assert_eq!(n, A.len() + B.len() + 3);
        let (c, _) = parse_cid_list_prefix(&format!("{{{B},{A}}} against")).unwrap();
        assert_eq!(c, vec![B, A]);
        let (c, _) = parse_cid_list_prefix("[]").unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn rejoins_wrapped_cids() {
        let (a1, a2) = A.split_at(30);
        let (c, _) = parse_cid_list_prefix(&format!("[{a1}\n{a2} {B}]")).unwrap();
        assert_eq!(c, vec![A, B]);
    }

    #[test]
    fn alphanumeric_run_matches_a_byte_loop() {
        // Every byte value at every position of a word, and runs ending at every offset.
        let slow = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        for bad in 0..=255u8 {
            for len in 0..20 {
                for at in 0..len {
                    let mut v = vec![b'q'; len];
                    v[at] = bad;
                    assert_eq!(super::alphanumeric_run(&v), slow(&v), "byte {bad:#x} at {at} of {len}");
                }
            }
        }
        let edges = b"09AZaz/:@[`{\x7f";
        for &c in edges {
            let v = [b'x', b'x', b'x', c, b'x', b'x', b'x', b'x', b'x'];
            assert_eq!(super::alphanumeric_run(&v), slow(&v), "{}", c as char);
        }
    }

    /// The short path must answer exactly as the crate's parse and rendering would.
    fn crate_answer(t: &str) -> Result<String, CidListError> {
        Cid::try_from(t.trim()).map(|c| c.to_string()).map_err(|_| CidListError::InvalidCid(t.trim().chars().take(80).collect()))
    }

    #[test]
    fn short_path_agrees_with_the_crate_on_edge_cids() {
        let cases = [
            A.to_string(),
            B.to_string(),
            A.to_uppercase(),
            format!("{A}a"),
            format!("{A}aaaaaaa"),
            A[..A.len() - 1].to_string(),
            // The last character's spare bits set: the same bytes, not the canonical text.
            format!("{}{}", &A[..A.len() - 1], if A.ends_with('2') { '3' } else { 'z' }),
            "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG".to_string(),
            "bafkqaaa".to_string(),
            "b".to_string(),
            "bafy".to_string(),
            // A CIDv0 multihash written as v1 bytes, and an explicit version 0.
            "baaaa".to_string(),
            "zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7".to_string(),
        ];
        for t in &cases {
            assert_eq!(validate_cid(t), crate_answer(t), "{t}");
        }
    }

    proptest::proptest! {
        /// Random texts shaped like CIDs (a base32 alphabet plus a few strays), and real CIDs
        /// with one character changed: the memo cleared, so that every one takes the short path.
        #[test]
        fn short_path_agrees_with_the_crate(chars in proptest::collection::vec(proptest::sample::select(b"abcdefghijklmnopqrstuvwxyz234567AZ018".to_vec()), 0..70), at in 0usize..62, c in proptest::sample::select(b"abyz2367AQ".to_vec())) {
            let t = String::from_utf8(chars).unwrap();
            KNOWN_CANONICAL.with(|k| k.borrow_mut().clear());
            proptest::prop_assert_eq!(validate_cid(&t), crate_answer(&t));
            let mut m = A.as_bytes().to_vec();
            m[at] = c;
            let m = String::from_utf8(m).unwrap();
            KNOWN_CANONICAL.with(|k| k.borrow_mut().clear());
            proptest::prop_assert_eq!(validate_cid(&m), crate_answer(&m));
        }
    }

    #[test]
    fn invalid_cid_is_an_error() {
        let truncated = &A[..40];
        assert!(matches!(parse_cid_list_prefix(&format!("[{truncated}]")), Err(CidListError::InvalidCid(_))));
        assert_eq!(parse_cid_list_prefix(&format!("[{A}")), Err(CidListError::Unclosed));
        assert_eq!(parse_cid_list_prefix("x"), Err(CidListError::Missing));
    }

    #[test]
    fn finds_cids_in_errors() {
        let t = format!("validating block {A}:\n  - parent {B} bad; x{A}");
        assert_eq!(find_cids_in_text(&t), vec![A, B]);
    }
}
