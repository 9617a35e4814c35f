//! Timestamps as Lotus writes them, parsed by hand on the hot path.
//!
//! Two layouts matter (lotus-facts §1.2, §3):
//! - go-log lines: `2006-01-02T15:04:05.000Z0700` — three fraction digits, zone `Z` or `+0800`;
//! - journal records: Go's RFC 3339 with nanoseconds, trailing zeros trimmed, zone `Z` or `+08:00`.
//!
//! Real logs also carry `+0000` (Rust FFI), no zone at all (some collectors strip it), and
//! a space instead of `T` when people paste. One parser accepts all of them and remembers how
//! the original was written, so output can reproduce the offset and precision the user saw.

use std::fmt;

/// An instant plus the way it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Nanoseconds since the Unix epoch, UTC.
    pub unix_nanos: i64,
    /// The zone offset as written, in seconds east of UTC (0 when absent).
    pub offset_secs: i32,
    /// Number of fraction digits as written (0–9).
    pub frac_digits: u8,
    /// False when the text carried no zone; the instant was then read as UTC.
    pub zone_known: bool,
}

/// Why a timestamp did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {text:?}: {reason}")]
pub struct TimestampError {
    pub text: String,
    pub reason: &'static str,
}

#[inline]
fn digits(b: &[u8], n: usize) -> Option<u32> {
    let b = b.get(..n)?;
    let mut v: u32 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

impl Timestamp {
    /// Length in bytes of the timestamp at the start of `b`, if `b` starts with one.
    /// Used to find where the next token begins without allocating.
    pub fn parse_prefix(b: &[u8]) -> Result<(Timestamp, usize), TimestampError> {
        parse_parts(b).map(|p| (p.timestamp(), p.end))
    }

    /// Parses a whole string; trailing bytes are an error.
    pub fn parse(s: &str) -> Result<Timestamp, TimestampError> {
        let (ts, n) = Timestamp::parse_prefix(s.as_bytes())?;
        if n != s.len() {
            return Err(TimestampError { text: s.to_string(), reason: "trailing characters" });
        }
        Ok(ts)
    }

    /// Builds a timestamp from Unix nanoseconds and a zone offset.
    pub fn from_unix_nanos(unix_nanos: i64, offset_secs: i32, frac_digits: u8) -> Timestamp {
        Timestamp { unix_nanos, offset_secs, frac_digits, zone_known: true }
    }

    /// Milliseconds since the epoch (floor).
    pub fn unix_millis(&self) -> i64 {
        self.unix_nanos.div_euclid(1_000_000)
    }

    /// RFC 3339 in the original offset and precision, e.g. `2021-11-26T09:44:30.657+08:00`.
    pub fn to_rfc3339(&self) -> String {
        self.to_string()
    }
}

/// The fraction of a second at `b[i..]` (`.657`, `,5`, or none): nanoseconds, digits kept
/// (at most 9) and where it ends. `None` for a separator without digits.
#[inline]
fn fraction(b: &[u8], mut i: usize) -> Option<(i64, u8, usize)> {
    if i >= b.len() || (b[i] != b'.' && b[i] != b',') {
        return Some((0, 0, i));
    }
    i += 1;
    let start = i;
    let mut nanos: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        if i - start < 9 {
            nanos = nanos * 10 + (b[i] - b'0') as i64;
        }
        i += 1;
    }
    let n = i - start;
    if n == 0 {
        return None;
    }
    const SCALE: [i64; 10] = [1_000_000_000, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];
    Some((nanos * SCALE[n.min(9)], n.min(9) as u8, i))
}

/// A timestamp's fields as read, before they are combined.
struct Parts {
    utc_secs: i64,
    nanos: i64,
    offset_secs: i32,
    frac_digits: u8,
    zone_known: bool,
    /// Where the zone (if any) starts and where the timestamp ends.
    zone_start: usize,
    end: usize,
}

impl Parts {
    fn timestamp(&self) -> Timestamp {
        // In range: `parse_parts` checked the product and the sum.
        Timestamp { unix_nanos: self.utc_secs * 1_000_000_000 + self.nanos, offset_secs: self.offset_secs, frac_digits: self.frac_digits, zone_known: self.zone_known }
    }
}

fn parse_parts(b: &[u8]) -> Result<Parts, TimestampError> {
    let err = |reason| TimestampError {
        text: String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned(),
        reason,
    };
    if b.len() < 19 {
        return Err(err("too short"));
    }
    let year = digits(b, 4).ok_or_else(|| err("bad year"))? as i64;
    if b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') || b[13] != b':' || b[16] != b':' {
        return Err(err("bad separators"));
    }
    let month = digits(&b[5..], 2).ok_or_else(|| err("bad month"))?;
    let day = digits(&b[8..], 2).ok_or_else(|| err("bad day"))?;
    let hour = digits(&b[11..], 2).ok_or_else(|| err("bad hour"))?;
    let min = digits(&b[14..], 2).ok_or_else(|| err("bad minute"))?;
    let sec = digits(&b[17..], 2).ok_or_else(|| err("bad second"))?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(err("date out of range"));
    }
    // 60 is a leap second; Go never writes it, but accept it rather than lose a line.
    if hour > 23 || min > 59 || sec > 60 {
        return Err(err("time out of range"));
    }
    let Some((nanos, frac_digits, mut i)) = fraction(b, 19) else { return Err(err("empty fraction")) };
    let mut offset_secs: i32 = 0;
    let mut zone_known = false;
    let zone_start = i;
    if i < b.len() {
        match b[i] {
            b'Z' | b'z' => {
                i += 1;
                zone_known = true;
            }
            b'+' | b'-' => {
                let sign = if b[i] == b'-' { -1 } else { 1 };
                let hh = digits(&b[i + 1..], 2).ok_or_else(|| err("bad zone hours"))?;
                let mut j = i + 3;
                if j < b.len() && b[j] == b':' {
                    j += 1;
                }
                let mm = digits(&b[j..], 2).ok_or_else(|| err("bad zone minutes"))?;
                if hh > 23 || mm > 59 {
                    return Err(err("zone out of range"));
                }
                offset_secs = sign * (hh as i32 * 3600 + mm as i32 * 60);
                zone_known = true;
                i = j + 2;
            }
            _ => {}
        }
    }
    let days = days_from_civil(year, month, day);
    let local_secs = days * 86400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64;
    let utc_secs = local_secs - offset_secs as i64;
    utc_secs
        .checked_mul(1_000_000_000)
        .and_then(|v| v.checked_add(nanos))
        .ok_or_else(|| err("out of range"))?;
    Ok(Parts { utc_secs, nanos, offset_secs, frac_digits, zone_known, zone_start, end: i })
}

/// The two-digit number at bit `at` of a word of digit values (`byte - '0'`, first digit in the
/// lower byte).
#[inline]
fn two_digits(x: u64, at: u32) -> u64 {
    ((x >> at) & 0xFF) * 10 + ((x >> (at + 8)) & 0xFF)
}

/// Reads timestamps like [`Timestamp::parse_prefix`], remembering the last one's date and zone:
/// the lines of a log share them for hours, so usually only the time of day and the fraction
/// are read.
#[derive(Clone, Debug, Default)]
pub struct PrefixCache {
    date: [u8; 10],
    days: i64,
    zone: [u8; 8],
    zone_len: usize,
    /// The low `zone_len` bytes of a word.
    zone_mask: u64,
    offset_secs: i32,
    zone_known: bool,
    valid: bool,
    /// `date` as a word and the two bytes after it (what `millis_form` compares).
    date_word: u64,
    date_tail: u16,
    /// A date and a zone are cached, and the date lies in 1970–2200: no time of that day
    /// overflows the nanosecond count, so [`PrefixCache::end_if_cached`] need not compute it.
    millis_ready: bool,
}

impl PrefixCache {
    /// Exactly [`Timestamp::parse_prefix`]'s answer.
    pub fn parse_prefix(&mut self, b: &[u8]) -> Result<(Timestamp, usize), TimestampError> {
        if let Some((x, y)) = self.millis_form(b) {
            // What `same_day` computes, from the digits already read.
            let local = self.days * 86400 + two_digits(x, 0) as i64 * 3600 + two_digits(x, 24) as i64 * 60 + two_digits(x, 48) as i64;
            let ms = ((y >> 8) & 0xFF) * 100 + ((y >> 16) & 0xFF) * 10 + ((y >> 24) & 0xFF);
            let unix_nanos = (local - self.offset_secs as i64) * 1_000_000_000 + ms as i64 * 1_000_000;
            return Ok((Timestamp { unix_nanos, offset_secs: self.offset_secs, frac_digits: 3, zone_known: self.zone_known }, 23 + self.zone_len));
        }
        if self.valid && b.len() >= 19 && u64::from_le_bytes(b[..8].try_into().expect("8")) == u64::from_le_bytes(self.date[..8].try_into().expect("8")) && b[8..10] == self.date[8..] {
            if let Some(hit) = self.same_day(b) {
                return Ok(hit);
            }
        }
        let p = parse_parts(b)?;
        let zone = &b[p.zone_start..p.end];
        self.valid = zone.len() <= self.zone.len();
        if self.valid {
            self.date.copy_from_slice(&b[..10]);
            self.date_word = u64::from_le_bytes(self.date[..8].try_into().expect("8 bytes"));
            self.date_tail = u16::from_le_bytes([self.date[8], self.date[9]]);
            let local = p.utc_secs + p.offset_secs as i64;
            self.days = local.div_euclid(86400);
            // Zero-padded: `same_day` compares it as one word.
            self.zone = [0; 8];
            self.zone[..zone.len()].copy_from_slice(zone);
            self.zone_len = zone.len();
            self.zone_mask = if zone.len() == 8 { u64::MAX } else { (1u64 << (8 * zone.len())) - 1 };
            self.offset_secs = p.offset_secs;
            self.zone_known = p.zone_known;
        }
        self.millis_ready = self.valid && self.zone_len > 0 && (0..84_000).contains(&self.days);
        Ok((p.timestamp(), p.end))
    }

    /// Where the timestamp at the start of `b` ends, when it is certainly a valid one of the
    /// cached date and zone with milliseconds (`2021-11-26T09:40:00.307+0800`, as go-log writes
    /// them): `Some(n)` only where [`PrefixCache::parse_prefix`] would answer `Ok((_, n))`, from
    /// a few word-wide tests and without computing the time. `None` decides nothing. Most log
    /// lines need no more: their time is not kept.
    #[inline]
    pub fn end_if_cached(&self, b: &[u8]) -> Option<usize> {
        self.millis_form(b).map(|_| 23 + self.zone_len)
    }

    /// The checks of [`PrefixCache::end_if_cached`]; returns the time of day `hh:mm:ss` and the
    /// fraction `.ddd` as words of digit values (each byte minus `'0'`; punctuation bytes left
    /// as they were, xor `'0'`).
    #[inline]
    fn millis_form(&self, b: &[u8]) -> Option<(u64, u64)> {
        if !self.millis_ready {
            return None;
        }
        // The zone as one masked word at b[23..31]; every read below is in b[..32] (a fixed-size
        // view: no bounds checks). A shorter text (a JSON line's `ts` string) is read zero-padded:
        // NUL is no digit, separator or zone byte, so the padding can only fail a check.
        let mut padded = [0u8; 32];
        let b: &[u8; 32] = match b.get(..32) {
            Some(head) => head.try_into().ok()?,
            None => {
                padded[..b.len()].copy_from_slice(b);
                &padded
            }
        };
        let word = |i: usize| u64::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]]);
        // The date as the first ten bytes: one word and the two bytes after it, as one compare.
        if word(0) != self.date_word || (u16::from_le_bytes([b[8], b[9]]) != self.date_tail) || (b[10] != b'T' && b[10] != b' ') {
            return None;
        }
        // `hh:mm:ss.ddd`: colons and a dot in place, digits elsewhere (a byte is a digit when
        // `byte ^ '0'` is below 10: adding 0x76 leaves its high bit clear; a byte at or above
        // 0x80 has it set already, and only such a byte can carry into its neighbour).
        let time = word(11);
        let frac = word(19) & 0xFFFF_FFFF; // `.ddd`
        const PUNCT_AT: u64 = 0x0000_FF00_00FF_0000;
        if time & PUNCT_AT != 0x0000_3A00_003A_0000 || frac & 0xFF != b'.' as u64 {
            return None;
        }
        let (x, y) = (time ^ 0x3030_3030_3030_3030, frac ^ 0x3030_3030);
        let bad = ((x.wrapping_add(0x7676_7676_7676_7676) | x) & 0xFFFF_00FF_FF00_FFFF) | ((y.wrapping_add(0x7676_7676) | y) & 0xFFFF_FF00);
        if bad & 0x8080_8080_8080_8080 != 0 {
            return None;
        }
        if two_digits(x, 0) > 23 || two_digits(x, 24) > 59 || two_digits(x, 48) > 60 {
            return None;
        }
        // The cached zone (never starting with a digit, so the fraction ends at three digits).
        (word(23) & self.zone_mask == u64::from_le_bytes(self.zone)).then_some((x, y))
    }

    /// The timestamp of `b` when its date equals the cached one: time of day and fraction are
    /// read, the zone compared. `None` when anything differs or is wrong (the caller then
    /// parses in full, which also produces the error).
    fn same_day(&self, b: &[u8]) -> Option<(Timestamp, usize)> {
        // A fixed-size view: the checks below need no bounds checks.
        let head: &[u8; 19] = b.get(..19)?.try_into().ok()?;
        if (head[10] != b'T' && head[10] != b' ') || head[13] != b':' || head[16] != b':' {
            return None;
        }
        let two = |i: usize| -> Option<i64> {
            let (h, l) = (head[i].wrapping_sub(b'0'), head[i + 1].wrapping_sub(b'0'));
            (h < 10 && l < 10).then(|| h as i64 * 10 + l as i64)
        };
        let (hour, min, sec) = (two(11)?, two(14)?, two(17)?);
        if hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let (nanos, frac_digits, mut i) = match b.get(19..24) {
            // Milliseconds, as go-log writes them, read at once; anything else in full.
            Some(&[b'.', d1, d2, d3, next]) if !next.is_ascii_digit() && [d1, d2, d3].iter().all(u8::is_ascii_digit) => {
                let ms = (d1 - b'0') as i64 * 100 + (d2 - b'0') as i64 * 10 + (d3 - b'0') as i64;
                (ms * 1_000_000, 3, 23)
            }
            _ => fraction(b, 19)?,
        };
        let zone = &self.zone[..self.zone_len];
        if zone.is_empty() {
            // No zone last time: the same only if none follows now either.
            if matches!(b.get(i), Some(b'Z' | b'z' | b'+' | b'-')) {
                return None;
            }
        } else if b.len() >= i + 8 {
            // The zone (at most 8 bytes) as one masked word: no call to `memcmp`.
            let word = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            let mask = if zone.len() == 8 { u64::MAX } else { (1u64 << (8 * zone.len())) - 1 };
            if word & mask != u64::from_le_bytes(self.zone) {
                return None;
            }
            i += zone.len();
        } else if b.get(i..i + zone.len()) == Some(zone) {
            i += zone.len();
        } else {
            return None;
        }
        let local = self.days * 86400 + hour * 3600 + min * 60 + sec;
        let utc = local - self.offset_secs as i64;
        let unix_nanos = utc.checked_mul(1_000_000_000)?.checked_add(nanos)?;
        Some((Timestamp { unix_nanos, offset_secs: self.offset_secs, frac_digits, zone_known: self.zone_known }, i))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.unix_nanos + self.offset_secs as i64 * 1_000_000_000;
        let secs = local.div_euclid(1_000_000_000);
        let nanos = local.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86400);
        let sod = secs.rem_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        write!(f, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, sod / 3600, (sod / 60) % 60, sod % 60)?;
        if self.frac_digits > 0 {
            let digits = format!("{:09}", nanos);
            write!(f, ".{}", &digits[..self.frac_digits as usize])?;
        }
        if self.offset_secs == 0 {
            write!(f, "Z")
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let a = self.offset_secs.abs();
            write!(f, "{}{:02}:{:02}", sign, a / 3600, (a / 60) % 60)
        }
    }
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a user-supplied time bound (`--since`/`--until`): RFC 3339 or the go-log form,
/// a bare date (`2021-11-26`, midnight UTC), or Unix seconds.
pub fn parse_user_time(s: &str) -> Result<Timestamp, TimestampError> {
    let t = s.trim();
    if let Ok(ts) = Timestamp::parse(t) {
        return Ok(ts);
    }
    if t.len() == 10 {
        if let Ok(ts) = Timestamp::parse(&format!("{t}T00:00:00Z")) {
            return Ok(ts);
        }
    }
    if let Ok(secs) = t.parse::<i64>() {
        if let Some(n) = secs.checked_mul(1_000_000_000) {
            return Ok(Timestamp { unix_nanos: n, offset_secs: 0, frac_digits: 0, zone_known: true });
        }
    }
    Err(TimestampError {
        text: s.to_string(),
        reason: "expected RFC 3339 (2021-11-26T09:44:30+08:00), a date (2021-11-26) or Unix seconds",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate};
    use proptest::prelude::*;

    #[test]
    fn golog_forms() {
        let t = Timestamp::parse("2021-11-26T09:44:30.657+0800").unwrap();
        assert_eq!(t.offset_secs, 8 * 3600);
        assert_eq!(t.frac_digits, 3);
        assert_eq!(t.to_string(), "2021-11-26T09:44:30.657+08:00");
        let expect = DateTime::parse_from_rfc3339("2021-11-26T09:44:30.657+08:00").unwrap();
        assert_eq!(t.unix_nanos, expect.timestamp_nanos_opt().unwrap());
        let t = Timestamp::parse("2021-04-17T19:45:41.038-0700").unwrap();
        assert_eq!(t.to_string(), "2021-04-17T19:45:41.038-07:00");
        let t = Timestamp::parse("2023-04-29T12:51:32.267+0000").unwrap();
        assert_eq!(t.to_string(), "2023-04-29T12:51:32.267Z");
        let t = Timestamp::parse("2024-06-23T12:15:52.094Z").unwrap();
        assert!(t.zone_known);
        let t = Timestamp::parse("2024-06-23T12:15:52.094").unwrap();
        assert!(!t.zone_known);
        assert_eq!(t.unix_nanos, Timestamp::parse("2024-06-23T12:15:52.094Z").unwrap().unix_nanos);
    }

    #[test]
    fn journal_forms() {
        let t = Timestamp::parse("2021-04-17T19:45:41.077431207-07:00").unwrap();
        assert_eq!(t.frac_digits, 9);
        assert_eq!(t.to_string(), "2021-04-17T19:45:41.077431207-07:00");
        let t = Timestamp::parse("2024-06-23T12:15:52.11Z").unwrap();
        assert_eq!(t.to_string(), "2024-06-23T12:15:52.11Z");
        assert_eq!(t.unix_nanos % 1_000_000_000, 110_000_000);
        let t = Timestamp::parse("2024-06-23T12:15:52Z").unwrap();
        assert_eq!(t.frac_digits, 0);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["2021-13-01T00:00:00Z", "2021-02-30T00:00:00Z", "2021-01-01T25:00:00Z", "2021-01-01", "abc", "2021-01-01T00:00:00+08", "2021-01-01T00:00:00.Z"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_times() {
        assert_eq!(parse_user_time("2021-11-26").unwrap().to_string(), "2021-11-26T00:00:00Z");
        assert_eq!(parse_user_time("1598306400").unwrap().to_string(), "2020-08-24T22:00:00Z");
        assert!(parse_user_time("yesterday").is_err());
    }

    #[test]
    fn end_if_cached_reads_go_log_timestamps() {
        let mut cache = PrefixCache::default();
        assert_eq!(cache.end_if_cached(b"2021-11-26T09:44:30.657+0800\tINFO\tchain\tchain/s.go:1\tx"), None, "nothing cached yet");
        cache.parse_prefix(b"2021-11-26T09:44:30.657+0800\tINFO\tchain\tchain/s.go:1\tx").unwrap();
        assert_eq!(cache.end_if_cached(b"2021-11-26T23:59:60.000+0800\tINFO\tmpool\tm/m.go:1\tx"), Some(28));
        assert_eq!(cache.end_if_cached(b"2021-11-26 00:00:00.999+0800\tINFO\tmpool\tm/m.go:1\tx"), Some(28));
        assert_eq!(cache.end_if_cached(b"2021-11-26T09:44:31.123+0800"), Some(28), "the timestamp alone");
        assert_eq!(cache.end_if_cached(b"2021-11-26T09:44:31.123+080"), None, "a zone cut short");
        for other in [
            &b"2021-11-27T09:44:30.657+0800\tINFO\tmpool\tm/m.go:1\tx"[..], // another day
            b"2021-11-26T24:44:30.657+0800\tINFO\tmpool\tm/m.go:1\tx",   // hour out of range
            b"2021-11-26T09:60:30.657+0800\tINFO\tmpool\tm/m.go:1\tx",   // minute
            b"2021-11-26T09:44:61.657+0800\tINFO\tmpool\tm/m.go:1\tx",   // second
            b"2021-11-26T09:44:30.6578+0800\tINFO\tmpool\tm/m.go:1\tx",  // four digits
            b"2021-11-26T09:44:30.657+0700\tINFO\tmpool\tm/m.go:1\tx",   // another zone
            b"2021-11-26T09:44:30,657+0800\tINFO\tmpool\tm/m.go:1\tx",   // comma
            b"2021-11-26T09:4\xc3:30.657+0800\tINFO\tmpool\tm/m.go:1\tx", // not a digit
            b"2021-11-26T09:44:30.657",                                       // no zone
        ] {
            assert_eq!(cache.end_if_cached(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    proptest! {
        #[test]
        fn agrees_with_chrono(secs in -2_000_000_000i64..4_000_000_000i64, nanos in 0u32..1_000_000_000, off_min in -720i32..840) {
            let offset = chrono::FixedOffset::east_opt(off_min * 60).unwrap();
            let dt = DateTime::from_timestamp(secs, nanos).unwrap().with_timezone(&offset);
            let text = dt.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let ts = Timestamp::parse(&text).unwrap();
            prop_assert_eq!(ts.unix_nanos, dt.timestamp_nanos_opt().unwrap());
            prop_assert_eq!(ts.to_string(), text);
        }

        /// `end_if_cached` answers only where a fresh parse agrees: after one line fills the
        /// cache, lines of that date with any byte of their first 32 changed (or none).
        #[test]
        fn end_if_cached_claims_only_what_parse_prefix_finds(
            first in 0usize..4, edits in prop::collection::vec((0usize..32, any::<u8>()), 0..3), zone in 0usize..5, cut in 18usize..40
        ) {
            let zones = ["+0800", "Z", "-07:00", "+05:30", "z"];
            let firsts = ["2021-11-26T09:44:30.657", "2021-11-26 00:00:00.000", "2199-12-31T23:59:60.999", "1970-01-01T00:00:00.001"];
            let mut cache = PrefixCache::default();
            let fill = format!("{}{}\tINFO\tchain\tchain/sync.go:1\tx", firsts[first], zones[zone]);
            prop_assert!(cache.parse_prefix(fill.as_bytes()).is_ok());
            let mut line = format!("{}{}\tWARN\tmpool\tmessagepool/messagepool.go:1043\tx", "2021-11-26T23:59:59.999", zones[zone]).into_bytes();
            line[..10].copy_from_slice(&fill.as_bytes()[..10]);
            for (at, byte) in edits {
                line[at] = byte;
            }
            // Shorter texts too (a JSON line's `ts` is the timestamp alone).
            line.truncate(cut);
            if let Some(n) = cache.end_if_cached(&line) {
                prop_assert_eq!(Timestamp::parse_prefix(&line).map(|(_, n)| n), Ok(n));
                prop_assert_eq!(cache.parse_prefix(&line), Timestamp::parse_prefix(&line));
            }
        }

        /// The cache answers exactly like a fresh parse, over runs of lines that share seconds,
        /// zones or nothing, including broken ones.
        #[test]
        fn prefix_cache_agrees_with_parse_prefix(
            picks in prop::collection::vec((0usize..10, 0usize..5, 0usize..7, 0usize..4), 1..40)
        ) {
            let seconds = ["2021-11-26T09:44:30", "2021-11-26T09:44:31", "2021-11-26 09:44:30", "2021-02-30T09:44:30", "2021-11-26T09:4x:30", "2021-11-26T23:59:59", "2021-11-26T24:00:00", "2021-11-26T00:00:60", "2021-11-26X00:00:00", "9999-12-31T23:59:59"];
            let fractions = ["", ".657", ".6", ".123456789123", "."];
            let zones = ["", "Z", "+0800", "+08:00", "-0700", "+08", "+2500"];
            let tails = ["", "\tINFO\tchain", " x", "1"];
            let mut cache = PrefixCache::default();
            for (s, f, z, t) in picks {
                let text = format!("{}{}{}{}", seconds[s], fractions[f], zones[z], tails[t]);
                prop_assert_eq!(cache.parse_prefix(text.as_bytes()), Timestamp::parse_prefix(text.as_bytes()), "{}", text);
            }
        }

        #[test]
        fn civil_roundtrip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
            let nd = NaiveDate::from_ymd_opt(y as i32, m, d).unwrap();
            prop_assert_eq!((nd - NaiveDate::from_ymd_opt(1970,1,1).unwrap()).num_days(), days);
        }
    }
}
