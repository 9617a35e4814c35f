//! Text helpers both paths use: colour (detected, stripped), Rust markers, truncation.

use std::borrow::Cow;

/// `::` marks a Rust logger (`filcrypto::proofs`); such lines are foreign.
pub(super) fn is_rust_path(tok: &[u8]) -> bool {
    any_colon(tok, |i| tok.get(i + 1) == Some(&b':'))
}

/// `.rs:` anywhere in a caller marks a Rust source file.
pub(super) fn is_rust_caller(tok: &[u8]) -> bool {
    any_colon(tok, |i| i >= 3 && &tok[i - 3..i] == b".rs")
}

/// Whether `at` holds for the position of some `:` in `tok`, colons found eight bytes at a
/// time (loggers and callers are short: a search call's setup would cost more).
#[inline]
fn any_colon(tok: &[u8], at: impl Fn(usize) -> bool) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut words = tok.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let y = u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ (LO * b':' as u64);
        // High bit of each byte that was ':' — and perhaps of a byte after one (a borrow), so
        // each is checked.
        let mut m = y.wrapping_sub(LO) & !y & HI;
        while m != 0 {
            let i = base + (m.trailing_zeros() / 8) as usize;
            if tok[i] == b':' && at(i) {
                return true;
            }
            m &= m - 1;
        }
        base += 8;
    }
    words.remainder().iter().enumerate().any(|(k, c)| *c == b':' && at(base + k))
}

/// True when the line carries ANSI colour as bytes or as pasted caret text (`^[[`).
///
/// Called on every line, mostly on a message's first 64 bytes: a block test
/// ([`crate::bytes::first_block_with`]) skips to the first block holding an ESC or `^`, and the
/// exact check runs only from there.
pub(super) fn has_colour(raw: &[u8]) -> bool {
    let from = crate::bytes::first_block_with(raw, 0x1b, b'^');
    from < raw.len() && raw[from..].iter().enumerate().any(|(k, &c)| c == 0x1b || (c == b'^' && raw[from + k + 1..].starts_with(b"[[")))
}

/// The largest char boundary of `s` at or below `max`.
pub(super) fn floor_boundary(s: &str, max: usize) -> usize {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Removes ANSI SGR escapes, both as bytes (`ESC[34m`) and as pasted caret text (`^[[34m`).
pub(super) fn strip_colour(text: Cow<'_, str>) -> Cow<'_, str> {
    if !has_colour(text.as_bytes()) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    loop {
        let esc = rest.find('\u{1b}').map(|i| (i, 1));
        let caret = rest.find("^[").map(|i| (i, 2));
        let next = match (esc, caret) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        let Some((i, intro)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..i]);
        let after = &rest[i + intro..];
        if let Some(params) = after.strip_prefix('[') {
            let n = params.bytes().take_while(|c| c.is_ascii_digit() || *c == b';').count();
            if params[n..].starts_with('m') {
                rest = &params[n + 1..];
                continue;
            }
        }
        out.push_str(&rest[i..i + intro]);
        rest = after;
    }
    Cow::Owned(out)
}

pub(super) fn is_rust_logger(logger: &str, caller: Option<&str>) -> bool {
    // Byte checks, not substring searches: they run on every JSON line.
    is_rust_path(logger.as_bytes()) || caller.is_some_and(|c| is_rust_caller(c.as_bytes()))
}
