//! Test-only strict checker of the two event shapes, standing in for the warehouse's schema:
//! required fields, JSON types, RFC 3339 timestamps, no unknown keys. Valid events must pass and
//! every malformed kind must fail.

/// A scalar JSON value (events are flat objects).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    /// The number's source text, already checked against the JSON grammar.
    Num(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Shape {
    Sale,
    Inventory,
}

/// Parses one flat JSON object (scalar values only), rejecting duplicates and trailing bytes.
pub(crate) fn parse_flat(bytes: &[u8]) -> Result<Vec<(String, Value)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    p.expect(b'{')?;
    let mut fields: Vec<(String, Value)> = Vec::new();
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let value = p.value()?;
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate key {key}"));
            }
            fields.push((key, value));
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                other => return Err(format!("expected , or }} at {}, got {other:?}", p.i)),
            }
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing bytes at {}", p.i));
    }
    Ok(fields)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let b = self.peek();
        self.i += 1;
        b
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn expect(&mut self, b: u8) -> Result<(), String> {
        match self.next() {
            Some(x) if x == b => Ok(()),
            other => Err(format!(
                "expected {:?} at {}, got {other:?}",
                b as char,
                self.i - 1
            )),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?);
            match self.next() {
                Some(b'"') => return Ok(out),
                Some(b'\\') => match self.next() {
                    Some(b'"') => out.push('"'),
                    Some(b'\\') => out.push('\\'),
                    Some(b'/') => out.push('/'),
                    Some(b'n') => out.push('\n'),
                    Some(b'r') => out.push('\r'),
                    Some(b't') => out.push('\t'),
                    Some(b'b') => out.push('\u{8}'),
                    Some(b'f') => out.push('\u{c}'),
                    Some(b'u') => {
                        let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                        let code = u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
                            .map_err(|e| e.to_string())?;
                        out.push(char::from_u32(code).ok_or("surrogate escape")?);
                        self.i += 4;
                    }
                    other => return Err(format!("bad escape {other:?}")),
                },
                other => {
                    return Err(format!(
                        "unterminated string or raw control byte: {other:?}"
                    ));
                }
            }
        }
    }
    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(format!("unexpected value at {}", self.i))
            }
        }
    }
    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let s = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - s
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return Err(format!("bad number at {start}"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(format!("bad fraction at {start}"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(format!("bad exponent at {start}"));
            }
        }
        Ok(Value::Num(
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
        ))
    }
}

/// RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, with real calendar dates.
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > month_days[mo as usize - 1]
        || h > 23
        || mi > 59
        || sec > 60
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

fn id_like(s: &str, prefix: &str, dash: bool) -> bool {
    let Some(rest) = s.strip_prefix(prefix) else {
        return false;
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    match (dash, rest.split_once('-')) {
        (true, Some((seed, n))) => digits(seed) && digits(n) && n.len() >= 10,
        (false, None) => digits(rest),
        _ => false,
    }
}

/// Validates one event against its table schema.
pub(crate) fn check(bytes: &[u8], shape: Shape) -> Result<(), String> {
    let fields = parse_flat(bytes)?;
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let string = |k: &str| match get(k) {
        Some(Value::Str(s)) => Ok(s.as_str()),
        Some(v) => Err(format!("{k}: expected string, got {v:?}")),
        None => Err(format!("missing {k}")),
    };
    let integer = |k: &str| match get(k) {
        Some(Value::Num(n)) => n
            .parse::<i64>()
            .map_err(|_| format!("{k}: not an integer: {n}")),
        Some(v) => Err(format!("{k}: expected integer, got {v:?}")),
        None => Err(format!("missing {k}")),
    };
    let allowed: &[&str] = match shape {
        Shape::Sale => &[
            "transaction_id",
            "product_id",
            "timestamp",
            "quantity",
            "unit_price",
            "store_id",
        ],
        Shape::Inventory => &[
            "event_id",
            "product_id",
            "timestamp",
            "quantity_change",
            "store_id",
            "reason",
        ],
    };
    if let Some((k, _)) = fields.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown field {k}"));
    }
    if !id_like(string("product_id")?, "P", false) || !id_like(string("store_id")?, "S", false) {
        return Err("bad product_id or store_id".into());
    }
    if !is_rfc3339(string("timestamp")?) {
        return Err("bad timestamp".into());
    }
    match shape {
        Shape::Sale => {
            if !id_like(string("transaction_id")?, "T", true) {
                return Err("bad transaction_id".into());
            }
            if integer("quantity")? < 1 {
                return Err("quantity < 1".into());
            }
            match get("unit_price") {
                Some(Value::Num(n)) if n.parse::<f64>().is_ok_and(|p| p >= 0.0) => Ok(()),
                other => Err(format!("unit_price: {other:?}")),
            }
        }
        Shape::Inventory => {
            if !id_like(string("event_id")?, "I", true) {
                return Err("bad event_id".into());
            }
            integer("quantity_change")?;
            match string("reason")? {
                "opening" | "sale" | "restock" | "stockout" => Ok(()),
                r => Err(format!("bad reason {r}")),
            }
        }
    }
}

#[test]
fn checker_accepts_the_reference_and_rejects_near_misses() {
    let sale = br#"{"transaction_id":"T42-0000000001","product_id":"P00042","timestamp":"2026-11-27T15:04:05.123456Z","quantity":2,"unit_price":199.99,"store_id":"S007"}"#;
    check(sale, Shape::Sale).unwrap();
    check(sale, Shape::Inventory).unwrap_err();
    let inv = br#" { "event_id" : "I42-0000000001", "product_id":"P00042","timestamp":"2026-11-27T15:04:05Z","quantity_change":-2,"store_id":"S007","reason":"sale"} "#;
    check(inv, Shape::Inventory).unwrap();
    for bad in [
        r#"{"transaction_id":"T42-0000000001","product_id":"P00042","timestamp":"2026-11-27T15:04:05Z","quantity":2.5,"unit_price":1,"store_id":"S007"}"#,
        r#"{"transaction_id":"T42-0000000001","product_id":"P00042","timestamp":"2026-02-29T15:04:05Z","quantity":2,"unit_price":1,"store_id":"S007"}"#,
        r#"{"transaction_id":"T42-0000000001","product_id":"P00042","timestamp":"2026-11-27T15:04:05Z","quantity":02,"unit_price":1,"store_id":"S007"}"#,
        r#"{"transaction_id":"T42-0000000001","transaction_id":"T42-0000000001","product_id":"P00042","timestamp":"2026-11-27T15:04:05Z","quantity":2,"unit_price":1,"store_id":"S007"}"#,
    ] {
        assert!(check(bad.as_bytes(), Shape::Sale).is_err(), "{bad}");
    }
    assert!(is_rfc3339("2024-02-29T23:59:60.5+05:30"));
    assert!(!is_rfc3339("2026-11-27 15:04:05Z"));
}
