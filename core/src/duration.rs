//! Go `time.Duration` text (`117.831817ms`, `2.01µs`, `1m2.5s`), as Lotus prints it with `%s`.

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
