//! Go's text forms of `time.Time` and `time.Duration`, byte for byte, because the journal and
//! the log lines lsync writes must be indistinguishable from Lotus's (lotus-facts §1.2, §2.1, §3).
//!
//! Three time layouts are needed, each in a fixed zone offset (Go writes the process's local
//! zone; lsync takes the offset as a parameter so output never depends on the machine):
//! - journal `Timestamp`: `time.Time` JSON = RFC 3339 with nanoseconds, trailing zeros of the
//!   fraction dropped, zone `Z` or `+08:00` ([`rfc3339_nano`]);
//! - go-log line timestamps: `2006-01-02T15:04:05.000Z0700`, exactly three fraction digits,
//!   zone `Z` or `+0800` ([`golog_timestamp`]);
//! - rolled journal file names: `2006-01-02T150405Z0700` ([`roll_stamp`]).
//!
//! Durations go both ways here: [`GoDuration`] prints `Duration.String`, and
//! [`parse_go_duration_ms`] reads it back (as `time.ParseDuration` would). Timestamps are read
//! by `time`, which also accepts the many layouts that are not Go's (syslog, pasted, journald).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// The wall-clock fields of `unix_nanos` seen from a zone `offset_secs` east of UTC, plus the
/// nanosecond fraction. Out-of-range instants (beyond chrono's ±262,000 years) clamp to the
/// Unix epoch rather than panic: no real clock produces them.
fn local_parts(unix_nanos: i64, offset_secs: i32) -> (NaiveDateTime, u32) {
    let local = unix_nanos.saturating_add(i64::from(offset_secs) * NANOS_PER_SEC);
    let secs = local.div_euclid(NANOS_PER_SEC);
    let nanos = local.rem_euclid(NANOS_PER_SEC) as u32;
    let naive = DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc();
    (naive, nanos)
}

/// Go's `Z07:00` (`colon = true`) or `Z0700` zone text. Go prints `Z` for a zero offset and
/// drops any seconds of the offset.
fn write_zone(out: &mut String, offset_secs: i32, colon: bool) {
    if offset_secs == 0 {
        out.push('Z');
        return;
    }
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let minutes = offset_secs.unsigned_abs() / 60;
    let (hh, mm) = (minutes / 60, minutes % 60);
    if colon {
        out.push_str(&format!("{sign}{hh:02}:{mm:02}"));
    } else {
        out.push_str(&format!("{sign}{hh:02}{mm:02}"));
    }
}

/// Go's `time.Time` JSON form (RFC3339Nano): `2021-04-17T19:45:41.077431207-07:00`,
/// `2024-06-23T12:15:52.11Z`, `2024-06-23T12:15:52Z` — the fraction loses its trailing zeros
/// and disappears when zero.
pub fn rfc3339_nano(unix_nanos: i64, offset_secs: i32) -> String {
    let (local, nanos) = local_parts(unix_nanos, offset_secs);
    let mut out = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos > 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    write_zone(&mut out, offset_secs, true);
    out
}

/// go-log's `ISO8601TimeEncoder` layout `2006-01-02T15:04:05.000Z0700`: milliseconds truncated
/// (Go formats by truncation), zone without a colon.
pub fn golog_timestamp(unix_nanos: i64, offset_secs: i32) -> String {
    let (local, nanos) = local_parts(unix_nanos, offset_secs);
    let mut out = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    out.push_str(&format!(".{:03}", nanos / 1_000_000));
    write_zone(&mut out, offset_secs, false);
    out
}

/// Lotus's `RFC3339nocolon` layout `2006-01-02T150405Z0700`, used in rolled journal names.
pub fn roll_stamp(unix_nanos: i64, offset_secs: i32) -> String {
    let (local, _) = local_parts(unix_nanos, offset_secs);
    let mut out = local.format("%Y-%m-%dT%H%M%S").to_string();
    write_zone(&mut out, offset_secs, false);
    out
}

/// A `time.Duration` (signed nanoseconds) that displays exactly as Go's `Duration.String`:
/// `0s`, `850ns`, `2.01µs` (U+00B5), `117.831817ms`, `1.5s`, `1m2.5s`, `1h0m0s`, `-3s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub i64);

impl GoDuration {
    /// From a std duration, saturating at Go's maximum (about 292 years).
    pub fn from_std(d: Duration) -> Self {
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// From milliseconds (e.g. the difference of two follower clock readings).
    pub fn from_millis(ms: i64) -> Self {
        Self(ms.saturating_mul(1_000_000))
    }
}

/// `v / 10^prec` as Go's `fmtFrac` prints it: the integer part, and the fraction digits with
/// trailing zeros removed (empty when the fraction is zero).
fn split_fraction(v: u64, prec: u32) -> (u64, String) {
    let scale = 10u64.pow(prec);
    let (int, frac) = (v / scale, v % scale);
    if frac == 0 {
        return (int, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (int, digits.trim_end_matches('0').to_string())
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let negative = self.0 < 0;
        let nanos = self.0.unsigned_abs();
        if nanos == 0 {
            return f.write_str("0s");
        }
        let sign = if negative { "-" } else { "" };
        let with_fraction = |int: u64, frac: &str| {
            if frac.is_empty() {
                int.to_string()
            } else {
                format!("{int}.{frac}")
            }
        };
        if nanos < 1_000_000_000 {
            // Below one second Go switches to the largest unit that keeps an integer part.
            let (prec, unit) = match nanos {
                n if n < 1_000 => (0, "ns"),
                n if n < 1_000_000 => (3, "\u{b5}s"),
                _ => (6, "ms"),
            };
            let (int, frac) = split_fraction(nanos, prec);
            return write!(f, "{sign}{}{unit}", with_fraction(int, &frac));
        }
        let (secs, frac) = split_fraction(nanos, 9);
        let (mins, secs) = (secs / 60, secs % 60);
        let seconds = format!("{}s", with_fraction(secs, &frac));
        if mins == 0 {
            return write!(f, "{sign}{seconds}");
        }
        let (hours, mins) = (mins / 60, mins % 60);
        if hours == 0 {
            write!(f, "{sign}{mins}m{seconds}")
        } else {
            write!(f, "{sign}{hours}h{mins}m{seconds}")
        }
    }
}

/// Parses Go duration text into milliseconds. Accepts `µs` (U+00B5), `μs` (U+03BC) and `us`.
/// Returns `None` for anything Go's `time.ParseDuration` would reject.
pub fn parse_go_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ms = 0.0f64;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ns" => 1e-6,
            "us" | "µs" | "μs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return None,
        };
        total_ms += number * unit_ms;
        rest = &rest[unit_len..];
    }
    Some(if neg { -total_ms } else { total_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_print_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (850, "850ns"),
            (1_000, "1\u{b5}s"),
            (2_010, "2.01\u{b5}s"),
            (117_831_817, "117.831817ms"),
            (1_000_000, "1ms"),
            (1_500_000_000, "1.5s"),
            (62_500_000_000, "1m2.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (-3_000_000_000, "-3s"),
            (-2_010, "-2.01\u{b5}s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (i64::MAX, "2562047h47m16.854775807s"),
        ];
        for &(nanos, text) in cases {
            assert_eq!(GoDuration(nanos).to_string(), text, "{nanos} ns");
        }
        assert_eq!(GoDuration::from_millis(2500).to_string(), "2.5s");
        assert_eq!(
            GoDuration::from_std(Duration::from_micros(1500)).to_string(),
            "1.5ms"
        );
    }

    #[test]
    fn time_layouts_match_go() {
        // 2021-11-11T08:13:30.689264594Z
        let t = 1_636_618_410_689_264_594i64;
        assert_eq!(
            rfc3339_nano(t, 8 * 3600),
            "2021-11-11T16:13:30.689264594+08:00"
        );
        assert_eq!(rfc3339_nano(t, 0), "2021-11-11T08:13:30.689264594Z");
        assert_eq!(
            rfc3339_nano(1_719_144_952_110_000_000, 0),
            "2024-06-23T12:15:52.11Z"
        );
        assert_eq!(
            rfc3339_nano(1_719_144_952_000_000_000, -7 * 3600),
            "2024-06-23T05:15:52-07:00"
        );
        assert_eq!(golog_timestamp(t, 8 * 3600), "2021-11-11T16:13:30.689+0800");
        assert_eq!(golog_timestamp(t, 0), "2021-11-11T08:13:30.689Z");
        assert_eq!(
            golog_timestamp(t, -(5 * 3600 + 30 * 60)),
            "2021-11-11T02:43:30.689-0530"
        );
        assert_eq!(roll_stamp(t, 2 * 3600), "2021-11-11T101330+0200");
        assert_eq!(roll_stamp(t, 0), "2021-11-11T081330Z");
        // Before the epoch the fraction still counts forward from the second.
        assert_eq!(rfc3339_nano(-1, 0), "1969-12-31T23:59:59.999999999Z");
    }

    proptest! {
        /// What we print, lsync-core's Go-duration parser reads back to within a nanosecond.
        #[test]
        fn duration_text_round_trips(nanos in -10_000_000_000_000i64..10_000_000_000_000) {
            let text = GoDuration(nanos).to_string();
            let ms = parse_go_duration_ms(&text).expect("parses");
            prop_assert!((ms * 1e6 - nanos as f64).abs() <= 1.0 + nanos.unsigned_abs() as f64 * 1e-15, "{text}");
        }

        /// The journal timestamp parses back with lsync-core to the same instant and offset.
        #[test]
        fn journal_timestamps_round_trip(nanos in 0i64..4_000_000_000_000_000_000, off_min in -720i32..840) {
            let text = rfc3339_nano(nanos, off_min * 60);
            let parsed = crate::Timestamp::parse(&text).unwrap();
            prop_assert_eq!(parsed.unix_nanos, nanos);
            prop_assert_eq!(parsed.offset_secs, off_min * 60);
        }
    }
}

#[cfg(test)]
mod duration_parse_tests {
    use super::parse_go_duration_ms as p;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.map(|a| (a - b).abs() < 1e-9 * b.abs().max(1.0)).unwrap_or(false)
    }

    #[test]
    fn go_forms() {
        assert!(close(p("117.831817ms"), 117.831817));
        assert!(close(p("2.01µs"), 0.00201));
        assert!(close(p("2.01μs"), 0.00201));
        assert!(close(p("1m2.5s"), 62_500.0));
        assert!(close(p("1h0m0s"), 3_600_000.0));
        assert!(close(p("850ns"), 0.00085));
        assert!(close(p("0s"), 0.0));
        assert!(close(p("0"), 0.0));
        assert!(close(p("-1.5s"), -1500.0));
        assert!(close(p("3.419µs"), 0.003419));
    }

    #[test]
    fn rejects() {
        for bad in ["", "ms", "1", "1x", "1.2.3s", "s1", "-"] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
