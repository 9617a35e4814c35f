//! A strict, allocation-free scan of one JSON log line (zap's `{"level":…,"ts":…,"msg":…}`):
//! validates the whole text as JSON and returns the raw values of the keys that decide what the
//! line is. It exists because building a `serde_json::Value` of every JSON line cost more than
//! everything else the parser does with it.
//!
//! It answers only where serde_json would certainly answer the same: anything it does not fully
//! model — `\u` escapes (surrogate rules), exponents and huge numbers (range errors), escaped or
//! repeated keys among the five, deep nesting — returns `None`, and the caller parses with serde.
//! A test feeds both the same mutated lines.

/// One of the five values: its raw JSON text, and whether it is a string without escapes
/// (whose content is then `raw` without its quotes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Raw<'a> {
    pub raw: &'a str,
    pub plain_string: bool,
}

impl<'a> Raw<'a> {
    /// The content of a string without escapes.
    pub fn plain(&self) -> Option<&'a str> {
        self.plain_string.then(|| &self.raw[1..self.raw.len() - 1])
    }
}

/// The raw JSON values of the keys `parse_json_line` reads, borrowed from the line.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Head<'a> {
    pub level: Option<Raw<'a>>,
    pub ts: Option<Raw<'a>>,
    pub logger: Option<Raw<'a>>,
    pub caller: Option<Raw<'a>>,
    pub msg: Option<Raw<'a>>,
}

/// The keys of [`Head`], in its order.
const HEAD_KEYS: [&str; 5] = ["level", "ts", "logger", "caller", "msg"];

impl<'a> Head<'a> {
    fn from_values([level, ts, logger, caller, msg]: [Option<Raw<'a>>; 5]) -> Head<'a> {
        Head { level, ts, logger, caller, msg }
    }
}

/// Scans `text` as one JSON object (surrounding whitespace allowed).
pub(crate) fn scan_object(text: &str) -> Option<Head<'_>> {
    if let Some(head) = scan_zap(text) {
        return Some(head);
    }
    object_values(text, HEAD_KEYS).map(Head::from_values)
}

/// The raw values of `keys` in `text`, one JSON object (surrounding whitespace allowed), with
/// the whole text validated as [`scan_object`] does. `None` where this scan does not fully
/// model the text (the module comment), or a wanted key is repeated or any key escaped (either
/// may change which value serde keeps): the caller then parses with serde.
pub(crate) fn object_values<'t, const N: usize>(text: &'t str, keys: [&str; N]) -> Option<[Option<Raw<'t>>; N]> {
    let b = text.as_bytes();
    let mut s = Scanner { b, i: 0, escaped: false };
    let mut found = [None; N];
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    s.i += 1;
    s.ws();
    if s.peek()? == b'}' {
        s.i += 1;
    } else {
        s.members(text, &keys, &mut found)?;
    }
    s.ws();
    (s.i == b.len()).then_some(found)
}

/// zap's own layout, `{"level":"…","ts":"…","logger":"…","caller":"…","msg":"…"` and then any
/// other members: the five keys are matched as literals instead of being scanned and looked
/// up. Anything else (another order, spaces, a missing key) is `None`, for the general scan.
fn scan_zap(text: &str) -> Option<Head<'_>> {
    let b = text.as_bytes();
    let mut s = Scanner { b, i: 0, escaped: false };
    let mut found = [None; 5];
    let keys: [&[u8]; 5] = [b"{\"level\":", b",\"ts\":", b",\"logger\":", b",\"caller\":", b",\"msg\":"];
    for (k, literal) in keys.into_iter().enumerate() {
        if !b[s.i..].starts_with(literal) {
            return None;
        }
        s.i += literal.len();
        let start = s.i;
        if s.peek()? != b'"' {
            return None;
        }
        s.string()?;
        found[k] = Some(Raw { raw: &text[start..s.i], plain_string: !s.escaped });
    }
    match s.peek()? {
        b'}' => s.i += 1,
        b',' => {
            s.i += 1;
            s.members(text, &HEAD_KEYS, &mut found)?;
        }
        _ => return None,
    }
    s.ws();
    (s.i == b.len()).then(|| Head::from_values(found))
}

/// True when `b` is certainly one JSON value, as serde_json would accept it (surrounding
/// whitespace allowed). False means invalid *or* beyond what this scan models (see the module
/// comment): the caller then asks serde.
pub(crate) fn is_one_value(b: &[u8]) -> bool {
    let mut s = Scanner { b, i: 0, escaped: false };
    s.ws();
    if s.value(1).is_none() {
        return false;
    }
    s.ws();
    s.i == b.len()
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    /// Whether the last string scanned held an escape.
    escaped: bool,
}

impl Scanner<'_> {
    /// Members up to and including the object's closing `}` (at least one member follows),
    /// the raw value of each of `keys` into `found`; a repeated wanted key (serde_json keeps
    /// the last one) or any escaped key (it might decode to a wanted one) is `None`: serde
    /// decides.
    fn members<'t>(&mut self, text: &'t str, keys: &[&str], found: &mut [Option<Raw<'t>>]) -> Option<()> {
        loop {
            self.ws();
            let (ks, ke) = self.string()?;
            if self.escaped {
                return None;
            }
            let key = &text[ks..ke];
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let start = self.i;
            self.value(1)?;
            if let Some(k) = keys.iter().position(|w| *w == key) {
                if found[k].is_some() {
                    return None;
                }
                found[k] = Some(Raw { raw: &text[start..self.i], plain_string: self.b[start] == b'"' && !self.escaped });
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// A string; returns the range of its raw content (between the quotes).
    fn string(&mut self) -> Option<(usize, usize)> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            // Up to the next quote, backslash or control character, in one vectorised pass.
            let rest = &self.b[self.i..];
            let k = crate::bytes::first_json_special(rest);
            if k == rest.len() {
                return None; // unterminated
            }
            self.i += k;
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    self.escaped = escaped;
                    return Some((start, self.i - 1));
                }
                b'\\' => match self.b.get(self.i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                        escaped = true;
                        self.i += 2
                    }
                    _ => return None, // `\u…` (surrogate rules) or an invalid escape
                },
                _ => return None, // a control character
            }
        }
    }

    fn value(&mut self, depth: u32) -> Option<()> {
        if depth > 64 {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)?` — no exponent, and not so long that range matters.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let frac = self.i;
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
            if self.i == frac {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) || self.i - start > 300 {
            return None;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_five_keys_of_a_zap_line() {
        let l = r#"{"level":"info","ts":"2021-12-09T20:17:00.911+0800","logger":"mpool","caller":"m.go:1","msg":"mpool add","n":[1,2.5,{"a":null}],"ok":true}"#;
        let h = scan_object(l).unwrap();
        assert_eq!(h.level.unwrap().plain(), Some("info"));
        assert_eq!(h.msg.unwrap().plain(), Some("mpool add"));
        assert_eq!(h.caller.unwrap().raw, r#""m.go:1""#);
        let h = scan_object(r#"{"msg":"a\"b","level":5}"#).unwrap();
        assert_eq!((h.msg.unwrap().plain(), h.level.unwrap().plain()), (None, None));
        for bad in [
            r#"{"level":"info","msg":"x"} x"#,
            r#"{"level":"info","msg":"x",}"#,
            r#"{"level":"info","msg":"x""#,
            r#"{"msg":"a","msg":"b"}"#,
            r#"{"msg":"\u0041"}"#,
            r#"{"n":1e5}"#,
            r#"{"n":01}"#,
            "{\"msg\":\"tab\there\"}",
            r#"["msg"]"#,
        ] {
            assert!(scan_object(bad).is_none(), "{bad}");
        }
    }

    fn corpus() -> Vec<&'static str> {
        include_str!("../../fixtures/generated/v1.26-json/daemon.log").lines().filter(|l| l.starts_with('{')).take(400).collect()
    }

    proptest! {
        /// Where the scan answers, serde_json agrees: a valid object, with the same five values.
        #[test]
        fn agrees_with_serde_json(seed in 0usize..10_000, pos in 0usize..400, byte in any::<u8>(), op in 0u8..4) {
            let corpus = corpus();
            let mut line = corpus[seed % corpus.len()].as_bytes().to_vec();
            let p = pos % (line.len() + 1);
            match op {
                0 if p < line.len() => line[p] = byte,
                1 if p < line.len() => { line.remove(p); }
                2 => line.insert(p, byte),
                _ => line.truncate(p),
            }
            let Ok(text) = std::str::from_utf8(&line) else { return Ok(()) };
            let serde = serde_json::from_str::<serde_json::Value>(text);
            if let Some(h) = scan_object(text) {
                let v = serde.expect("scan accepted what serde rejects");
                let o = v.as_object().expect("an object");
                for (key, raw) in [("level", h.level), ("ts", h.ts), ("logger", h.logger), ("caller", h.caller), ("msg", h.msg)] {
                    let want = o.get(key).cloned();
                    let got = raw.map(|r| serde_json::from_str::<serde_json::Value>(r.raw).unwrap());
                    prop_assert_eq!(&got, &want, "{}", key);
                    if let Some(p) = raw.and_then(|r| r.plain()) {
                        prop_assert_eq!(Some(serde_json::Value::String(p.to_string())), want);
                    }
                }
            }
        }
    }

    #[test]
    fn every_real_json_line_is_scanned() {
        for l in corpus() {
            assert!(scan_object(l).is_some(), "{l}");
        }
    }
}
