//! Google's JSON wire formats that both the validator and the fakes need: `bytes` as base64,
//! `google.protobuf.Duration` as `"600s"`, timestamps as RFC 3339.

use std::time::Duration;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes a proto3 JSON `bytes` value. Google accepts the standard and the URL-safe
/// alphabet, with or without padding.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Parses a proto3 JSON duration: decimal seconds with up to nine fractional digits and a
/// mandatory `s` suffix (`"600s"`, `"1.5s"`). Negative durations are valid on the wire but
/// never meaningful for these APIs, so they are refused.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let body = s.strip_suffix('s')?;
    let (whole, frac) = match body.split_once('.') {
        Some((w, f)) => (w, f),
        None => (body, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if body.contains('.') && frac.is_empty() {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(Duration::new(secs, nanos))
}

/// Checks a proto3 JSON duration's syntax, allowing the sign `parse_duration` refuses.
pub(crate) fn is_duration(s: &str) -> bool {
    parse_duration(s.strip_prefix('-').unwrap_or(s)).is_some()
}

/// RFC 3339 with nanoseconds and `Z`, as Google's APIs print timestamps.
pub(crate) fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// RFC 3339 with microseconds and `Z`: BigQuery's TIMESTAMP precision.
pub(crate) fn timestamp_micros(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn now() -> String {
    timestamp(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("600s"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("600"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1.s"), None);
        assert_eq!(parse_duration("10m"), None);
        assert!(is_duration("-3s"));
    }

    #[test]
    fn base64_in_both_alphabets() {
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("aGk"), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_base64("not base64!"), None);
    }
}
