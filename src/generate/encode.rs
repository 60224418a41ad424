//! JSON encoding of events: the hot path of `generate`, so it appends bytes into a reused buffer
//! and never allocates or goes through `fmt` (which costs several times more per event).
//!
//! Formats: ids as strings, money from integer cents with exactly two decimals (never through a
//! float, so 0.1 + 0.2 problems cannot appear), timestamps RFC 3339 UTC with microseconds.

use super::model::{Event, EventKind, Model};

/// Appends one compact JSON object for `ev` (no trailing newline). `timestamp_us` is the time to
/// write: the model time in simulated mode, the wall clock otherwise.
pub fn encode(ev: &Event, model: &Model, timestamp_us: i64, out: &mut Vec<u8>) {
    out.reserve(192);
    match ev.kind {
        EventKind::Sale {
            transaction,
            product,
            store,
            quantity,
            unit_price_cents,
        } => {
            out.extend_from_slice(b"{\"transaction_id\":\"");
            out.extend_from_slice(&model.transaction_prefix);
            write_padded(out, transaction, 10);
            write_common(out, model, product, timestamp_us);
            out.extend_from_slice(b",\"quantity\":");
            write_u64(out, u64::from(quantity));
            out.extend_from_slice(b",\"unit_price\":");
            write_cents(out, unit_price_cents);
            out.extend_from_slice(b",\"store_id\":");
            write_str(out, &model.stores()[store as usize].store_id);
            out.push(b'}');
        }
        EventKind::Inventory {
            event,
            product,
            store,
            quantity_change,
            reason,
        } => {
            out.extend_from_slice(b"{\"event_id\":\"");
            out.extend_from_slice(&model.event_prefix);
            write_padded(out, event, 10);
            write_common(out, model, product, timestamp_us);
            out.extend_from_slice(b",\"quantity_change\":");
            write_i64(out, quantity_change);
            out.extend_from_slice(b",\"store_id\":");
            write_str(out, &model.stores()[store as usize].store_id);
            out.extend_from_slice(b",\"reason\":\"");
            out.extend_from_slice(reason.as_str().as_bytes());
            out.extend_from_slice(b"\"}");
        }
    }
}

/// The closing quote of the id, then product_id and timestamp (shared by both shapes).
#[inline]
fn write_common(out: &mut Vec<u8>, model: &Model, product: u32, timestamp_us: i64) {
    out.extend_from_slice(b"\",\"product_id\":");
    write_str(out, &model.products()[product as usize].product_id);
    out.extend_from_slice(b",\"timestamp\":\"");
    write_timestamp(out, timestamp_us);
    out.push(b'"');
}

/// A JSON string literal, escaping `"`, `\` and control characters (UTF-8 passes through).
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.push(b'"');
    // Ids never need escaping: one scan, one copy.
    if bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(out, bytes);
    }
    out.push(b'"');
}

#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            let (hi, lo) = (HEX[(b >> 4) as usize], HEX[(b & 15) as usize]);
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Decimal digits of `n` right-aligned in a buffer; returns the first digit's index.
#[inline]
fn digits(mut n: u64, buf: &mut [u8; 20]) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let i = digits(n, &mut buf);
    out.extend_from_slice(&buf[i..]);
}

#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Zero-padded to at least `width` digits (like `{:0width$}`; wider numbers are not cut).
#[inline]
pub(crate) fn write_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let i = digits(n, &mut buf).min(20 - width.min(20));
    out.extend_from_slice(&buf[i..]);
}

/// Cents as a decimal with exactly two fractional digits: 19999 -> 199.99, -5 -> -0.05.
#[inline]
pub fn write_cents(out: &mut Vec<u8>, cents: i64) {
    if cents < 0 {
        out.push(b'-');
    }
    let c = cents.unsigned_abs();
    write_u64(out, c / 100);
    out.push(b'.');
    write_padded(out, c % 100, 2);
}

/// "00".."99": two digits per lookup instead of a division per digit.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

#[inline]
fn pair(buf: &mut [u8], at: usize, n: u32) {
    let i = 2 * n as usize;
    buf[at] = PAIRS[i];
    buf[at + 1] = PAIRS[i + 1];
}

/// RFC 3339 UTC with exactly six fractional digits: `2026-11-27T15:04:05.123456Z`.
/// Years must be in 0..=9999 (the format has four year digits).
#[inline]
pub fn write_timestamp(out: &mut Vec<u8>, us: i64) {
    // Unsigned division is cheaper; times before 1970 take the signed path.
    let (days, sod, micros) = if us >= 0 {
        let (secs, micros) = (us as u64 / 1_000_000, (us as u64 % 1_000_000) as u32);
        ((secs / 86_400) as i64, (secs % 86_400) as u32, micros)
    } else {
        let secs = us.div_euclid(1_000_000);
        let micros = us.rem_euclid(1_000_000) as u32;
        (
            secs.div_euclid(86_400),
            secs.rem_euclid(86_400) as u32,
            micros,
        )
    };
    let (y, m, d) = civil_from_days(days);
    debug_assert!((0..=9999).contains(&y), "year {y} out of range");
    let y = y.clamp(0, 9999) as u32;
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    pair(&mut buf, 0, y / 100);
    pair(&mut buf, 2, y % 100);
    pair(&mut buf, 5, m);
    pair(&mut buf, 8, d);
    pair(&mut buf, 11, sod / 3600);
    pair(&mut buf, 14, sod / 60 % 60);
    pair(&mut buf, 17, sod % 60);
    pair(&mut buf, 20, micros / 10_000);
    pair(&mut buf, 22, micros / 100 % 100);
    pair(&mut buf, 24, micros % 100);
    out.extend_from_slice(&buf);
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`; eras of 400 years make it branch-light and exact).
#[inline]
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Shifted to 0000-03-01 so the common case (any year >= 0) runs on unsigned 32-bit
    // arithmetic, where divisions by constants are cheapest.
    let z = z + 719_468;
    let (era, doe) = if z >= 0 {
        ((z as u64 / 146_097) as i64, (z as u64 % 146_097) as u32)
    } else {
        (z.div_euclid(146_097), z.rem_euclid(146_097) as u32)
    };
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = i64::from(yoe) + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::super::model::{ModelConfig, Reason};
    use super::super::rng::Rand;
    use super::super::strict::{Shape, check};
    use super::*;
    use chrono::DateTime;

    fn ts(us: i64) -> String {
        let mut v = Vec::new();
        write_timestamp(&mut v, us);
        String::from_utf8(v).unwrap()
    }

    fn chrono_ts(us: i64) -> String {
        DateTime::from_timestamp_micros(us)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    }

    #[test]
    fn timestamps_match_chrono() {
        assert_eq!(ts(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(ts(-1), "1969-12-31T23:59:59.999999Z");
        // 2024-02-29 (leap day), 2000-02-29 (400-year leap), 2100-03-01 (no 2100-02-29).
        for s in [
            "2024-02-29T12:34:56.000001Z",
            "2000-02-29T00:00:00.000000Z",
            "2100-03-01T00:00:00.500000Z",
        ] {
            let us = DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
            assert_eq!(ts(us), s);
        }
        let mut r = Rand::new(3, 3);
        let (lo, hi) = (-62_135_596_800_000_000i64, 253_402_300_799_999_999i64); // years 1..=9999
        for _ in 0..200_000 {
            let us = lo + r.below((hi - lo) as u64) as i64;
            assert_eq!(ts(us), chrono_ts(us), "{us}");
        }
        for us in (0..2_000).map(|d| 1_600_000_000_000_000 + d * 86_399_999_999) {
            assert_eq!(ts(us), chrono_ts(us));
        }
    }

    #[test]
    fn numbers_and_money_are_exact() {
        let s = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = Vec::new();
            f(&mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(s(&|v| write_cents(v, 19_999)), "199.99");
        assert_eq!(s(&|v| write_cents(v, 5)), "0.05");
        assert_eq!(s(&|v| write_cents(v, -120)), "-1.20");
        assert_eq!(s(&|v| write_padded(v, 42, 10)), "0000000042");
        assert_eq!(s(&|v| write_padded(v, 12_345_678_901, 10)), "12345678901");
        assert_eq!(s(&|v| write_i64(v, i64::MIN)), i64::MIN.to_string());
        assert_eq!(s(&|v| write_u64(v, u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn strings_are_escaped() {
        let mut v = Vec::new();
        write_str(&mut v, "Nimbus 55\" TV \\ tab\t nl\n bell\u{7} é");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#""Nimbus 55\" TV \\ tab\t nl\n bell\u0007 é""#
        );
    }

    #[test]
    fn events_match_the_reference_format_and_pass_the_strict_check() {
        let model_cfg = ModelConfig::default();
        let mut m = Model::new(&model_cfg);
        let mut out = Vec::new();
        let mut reasons = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let e = m.next_event();
            out.clear();
            encode(&e, &m, e.model_time_us, &mut out);
            let json = std::str::from_utf8(&out).unwrap();
            let expected = match e.kind {
                EventKind::Sale {
                    transaction,
                    product,
                    store,
                    quantity,
                    unit_price_cents,
                } => {
                    format!(
                        r#"{{"transaction_id":"T42-{transaction:010}","product_id":"{}","timestamp":"{}","quantity":{quantity},"unit_price":{}.{:02},"store_id":"{}"}}"#,
                        m.products()[product as usize].product_id,
                        chrono_ts(e.model_time_us),
                        unit_price_cents / 100,
                        unit_price_cents % 100,
                        m.stores()[store as usize].store_id
                    )
                }
                EventKind::Inventory {
                    event,
                    product,
                    store,
                    quantity_change,
                    reason,
                } => {
                    reasons.insert(reason);
                    format!(
                        r#"{{"event_id":"I42-{event:010}","product_id":"{}","timestamp":"{}","quantity_change":{quantity_change},"store_id":"{}","reason":"{}"}}"#,
                        m.products()[product as usize].product_id,
                        chrono_ts(e.model_time_us),
                        m.stores()[store as usize].store_id,
                        reason.as_str()
                    )
                }
            };
            assert_eq!(json, expected);
            let shape = if e.stream.as_str() == "sales" {
                Shape::Sale
            } else {
                Shape::Inventory
            };
            check(&out, shape).unwrap_or_else(|err| panic!("{err}: {json}"));
        }
        assert!(reasons.contains(&Reason::Opening) && reasons.contains(&Reason::Sale));
    }
}
