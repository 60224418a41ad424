//! Malformed events, to exercise dead-lettering downstream.
//!
//! Both the decision (`is_malformed`) and the corruption (`malformed`) are pure hashes of
//! (seed, seq): they never draw from the model's random stream, so turning injection on or off,
//! or changing its share, leaves every valid event exactly as it was.

use super::rng::{hash3, unit};

/// How a message was corrupted. Each kind fails a strict schema check for its own reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// The JSON is cut in the middle.
    Truncated,
    /// Not JSON at all: garbage bytes, possibly with a newline and invalid UTF-8.
    NotJson,
    /// The first field (transaction_id / event_id) removed; still valid JSON.
    MissingId,
    /// A number given as a word, e.g. `"quantity":"two"`.
    WrongType,
    /// An impossible or non-RFC 3339 timestamp.
    BadTimestamp,
    /// An extra `"coupon"` key the schema does not know.
    UnknownField,
}

impl Flaw {
    pub const ALL: [Flaw; 6] = [
        Flaw::Truncated,
        Flaw::NotJson,
        Flaw::MissingId,
        Flaw::WrongType,
        Flaw::BadTimestamp,
        Flaw::UnknownField,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flaw::Truncated => "truncated",
            Flaw::NotJson => "not_json",
            Flaw::MissingId => "missing_id",
            Flaw::WrongType => "wrong_type",
            Flaw::BadTimestamp => "bad_timestamp",
            Flaw::UnknownField => "unknown_field",
        }
    }
}

const SALT_DECIDE: u64 = 0x6D61_6C66_6F72_6D31;
const SALT_KIND: u64 = 0x6D61_6C66_6F72_6D32;

/// Whether message `seq` should be replaced by a malformed one (a `share` in [0, 1] of them).
pub fn is_malformed(seq: u64, seed: u64, share: f64) -> bool {
    share > 0.0 && unit(hash3(seed, SALT_DECIDE, seq)) < share
}

/// Appends a corrupted version of `valid_json` (one encoded event) to `out`; returns the kind.
/// Falls back to `NotJson` when the input lacks the field a kind needs.
pub fn malformed(valid_json: &[u8], seq: u64, seed: u64, out: &mut Vec<u8>) -> Flaw {
    let h = hash3(seed, SALT_KIND, seq);
    let pick = (h >> 8) as usize;
    let wanted = Flaw::ALL[(h % Flaw::ALL.len() as u64) as usize];
    let done = match wanted {
        Flaw::Truncated => truncate(valid_json, pick, out),
        Flaw::NotJson => false,
        Flaw::MissingId => drop_first_field(valid_json, out),
        Flaw::WrongType => number_as_word(valid_json, out),
        Flaw::BadTimestamp => bad_timestamp(valid_json, pick, out),
        Flaw::UnknownField => unknown_field(valid_json, pick, out),
    };
    if done {
        return wanted;
    }
    not_json(pick, h, out);
    Flaw::NotJson
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A strict prefix of an object, cut somewhere in its middle half: never complete JSON.
fn truncate(json: &[u8], pick: usize, out: &mut Vec<u8>) -> bool {
    if json.len() < 8 {
        return false;
    }
    out.extend_from_slice(&json[..json.len() / 4 + pick % (json.len() / 2)]);
    true
}

fn not_json(pick: usize, h: u64, out: &mut Vec<u8>) {
    match pick % 5 {
        0 => out.extend_from_slice(b"\xff\xfe\x00garbage\n\x80\x81"),
        1 => out.extend_from_slice(b"<html><body>502 Bad Gateway</body></html>\n"),
        2 => out.extend_from_slice(b"transaction_id=T42;qty=2\n\xc3\x28"),
        // A coloured log line, with sequences that would clear a terminal and retitle it.
        3 => out.extend_from_slice(b"\x1b[31mERROR\x1b[0m sale rejected\x1b[2J\x1b]0;pwned\x07\n"),
        _ => {
            // Starts with 0xFF, which never occurs in UTF-8, then random bytes.
            out.push(0xFF);
            out.extend_from_slice(&h.to_le_bytes());
            out.push(b'\n');
            out.extend_from_slice(&h.rotate_left(29).to_be_bytes());
        }
    }
}

/// `{"transaction_id":"...","product_id":...}` -> `{"product_id":...}`.
fn drop_first_field(json: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(comma) = find(json, b",") else {
        return false;
    };
    if !json.starts_with(b"{\"") {
        return false;
    }
    out.push(b'{');
    out.extend_from_slice(&json[comma + 1..]);
    true
}

/// `"quantity":2` -> `"quantity":"two"` (or `quantity_change`, or `unit_price`).
fn number_as_word(json: &[u8], out: &mut Vec<u8>) -> bool {
    const WORDS: [&str; 11] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    let key_end = [
        &b"\"quantity\":"[..],
        b"\"quantity_change\":",
        b"\"unit_price\":",
    ]
    .iter()
    .find_map(|k| find(json, k).map(|i| i + k.len()));
    let Some(start) = key_end else { return false };
    let len = json[start..]
        .iter()
        .position(|&b| b == b',' || b == b'}')
        .unwrap_or(json.len() - start);
    let text = std::str::from_utf8(&json[start..start + len]).unwrap_or("");
    let word = match text.parse::<i64>() {
        Ok(n) if (0..=10).contains(&n) => WORDS[n as usize].to_string(),
        Ok(n) if (-10..0).contains(&n) => format!("minus {}", WORDS[(-n) as usize]),
        _ => "lots".to_string(),
    };
    out.extend_from_slice(&json[..start]);
    out.push(b'"');
    out.extend_from_slice(word.as_bytes());
    out.push(b'"');
    out.extend_from_slice(&json[start + len..]);
    true
}

fn bad_timestamp(json: &[u8], pick: usize, out: &mut Vec<u8>) -> bool {
    const BAD: [&str; 4] = [
        "2026-13-45T99:00:00Z",
        "2026-11-31T10:00:00Z",
        "27/11/2026 15:04:05",
        "yesterday",
    ];
    let key = b"\"timestamp\":\"";
    let Some(start) = find(json, key).map(|i| i + key.len()) else {
        return false;
    };
    let Some(len) = json[start..].iter().position(|&b| b == b'"') else {
        return false;
    };
    out.extend_from_slice(&json[..start]);
    out.extend_from_slice(BAD[pick % BAD.len()].as_bytes());
    out.extend_from_slice(&json[start + len..]);
    true
}

fn unknown_field(json: &[u8], pick: usize, out: &mut Vec<u8>) -> bool {
    let Some(body) = json.strip_suffix(b"}") else {
        return false;
    };
    out.extend_from_slice(body);
    out.extend_from_slice(format!(",\"coupon\":\"BF{:04}\"}}", pick % 10_000).as_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::super::encode::encode;
    use super::super::model::{Model, ModelConfig, Stream};
    use super::super::strict::{Shape, check};
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_kind_is_rejected_by_a_strict_schema_check() {
        let mut model = Model::new(&ModelConfig::default());
        let (mut json, mut bad) = (Vec::new(), Vec::new());
        let mut kinds: HashMap<(Flaw, Stream), u32> = HashMap::new();
        for _ in 0..20_000 {
            let e = model.next_event();
            json.clear();
            encode(&e, &model, e.model_time_us, &mut json);
            let shape = if e.stream == Stream::Sales {
                Shape::Sale
            } else {
                Shape::Inventory
            };
            check(&json, shape).expect("valid events pass");
            bad.clear();
            let flaw = malformed(&json, e.seq, 42, &mut bad);
            *kinds.entry((flaw, e.stream)).or_default() += 1;
            let err = check(&bad, shape).expect_err(flaw.as_str());
            let reason_fits = match flaw {
                Flaw::MissingId => err.starts_with("missing"),
                Flaw::WrongType => err.contains("expected"),
                Flaw::BadTimestamp => err == "bad timestamp",
                Flaw::UnknownField => err == "unknown field coupon",
                Flaw::Truncated | Flaw::NotJson => true,
            };
            assert!(
                reason_fits,
                "{flaw:?}: {err}: {}",
                String::from_utf8_lossy(&bad)
            );
            if flaw == Flaw::MissingId {
                // Still JSON, only the id is gone.
                assert!(super::super::strict::parse_flat(&bad).is_ok());
            }
            if flaw == Flaw::NotJson {
                assert!(bad.contains(&b'\n'));
            }
        }
        for flaw in Flaw::ALL {
            for stream in [Stream::Sales, Stream::Inventory] {
                assert!(
                    kinds.get(&(flaw, stream)).copied().unwrap_or(0) > 100,
                    "{flaw:?} {stream:?}"
                );
            }
        }
    }

    #[test]
    fn decisions_are_deterministic_and_near_the_share() {
        let hits = (0..100_000).filter(|&s| is_malformed(s, 7, 0.01)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert!((0..1000).all(|s| is_malformed(s, 7, 0.3) == is_malformed(s, 7, 0.3)));
        assert!(!(0..10_000).any(|s| is_malformed(s, 7, 0.0)));
        assert!((0..10_000).all(|s| is_malformed(s, 7, 1.0)));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let json = br#"{"event_id":"I1-0000000001","product_id":"P00001","timestamp":"2026-11-27T10:00:00.000000Z","quantity_change":5,"store_id":"S001","reason":"opening"}"#;
        assert_eq!(malformed(json, 9, 1, &mut a), malformed(json, 9, 1, &mut b));
        assert_eq!(a, b);
        assert_eq!(malformed(b"", 9, 1, &mut Vec::new()), Flaw::NotJson);
    }
}
