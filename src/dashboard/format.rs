//! How values read on a dashboard: money with a currency sign and cents, ratios as
//! percentages, counts with thousands separators, times in UTC — in full for tiles, tables and
//! tooltips, and compact (`$1.2M`) for axis ticks.

use chrono::DateTime;

use crate::output::Value;
use crate::spec::dashboard::Format;

/// A value as a number, if it is one.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        Value::Decimal(d) => d.parse().ok(),
        _ => None,
    }
}

/// The format a column gets when the spec names none.
pub fn default_for(v: &Value) -> Option<Format> {
    match v {
        Value::Int(_) => Some(Format::Count),
        Value::Float(_) | Value::Decimal(_) => Some(Format::Number),
        Value::Timestamp(_) | Value::Date(_) => Some(Format::Time),
        _ => None,
    }
}

/// The full text of a value.
pub fn full(v: &Value, format: Option<Format>) -> String {
    let format = format.or_else(|| default_for(v));
    match (v, format) {
        (Value::Null, _) => "—".into(),
        (Value::Timestamp(us), _) => timestamp(*us),
        (Value::Date(d), _) => d.format("%Y-%m-%d").to_string(),
        (Value::Decimal(d), Some(Format::Number) | None) => decimal_text(d),
        (_, Some(f)) => match number(v) {
            Some(n) => full_number(n, f),
            None => plain(v),
        },
        (_, None) => plain(v),
    }
}

/// A number in full in the given format.
pub fn full_number(n: f64, format: Format) -> String {
    match format {
        Format::Money => {
            let digits = if n.abs() >= 100_000.0 { 0 } else { 2 };
            signed(n, |a| format!("${}", grouped(a, digits)))
        }
        Format::Percent => format!("{}%", trim(&format!("{:.1}", n * 100.0))),
        Format::Count => signed(n, |a| grouped(a, 0)),
        Format::Number | Format::Time => signed(n, |a| trim(&grouped(a, 2))),
    }
}

/// A short form for axis ticks: `$1.2M`, `35k`, `12%`.
pub fn compact(n: f64, format: Option<Format>) -> String {
    match format {
        Some(Format::Percent) => format!("{}%", trim(&format!("{:.1}", n * 100.0))),
        Some(Format::Money) => signed(n, |a| format!("${}", short(a))),
        _ => signed(n, short),
    }
}

fn short(a: f64) -> String {
    let (value, suffix) = match a {
        a if a >= 1e9 => (a / 1e9, "B"),
        a if a >= 1e6 => (a / 1e6, "M"),
        a if a >= 1e3 => (a / 1e3, "k"),
        a => (a, ""),
    };
    let digits = if value >= 100.0 || (suffix.is_empty() && value.fract() == 0.0) {
        0
    } else {
        1
    };
    format!("{}{suffix}", trim(&format!("{value:.digits$}")))
}

/// A change, with its sign always written: `+$1,204.50`, `−3`.
pub fn delta(n: f64, format: Option<Format>) -> String {
    let text = full_number(n.abs(), format.unwrap_or(Format::Number));
    if n > 0.0 {
        format!("+{text}")
    } else if n < 0.0 {
        format!("−{text}")
    } else {
        text
    }
}

pub fn timestamp(us: i64) -> String {
    DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| us.to_string())
}

/// Bytes as a person reads them: `0 B`, `12.4 MB`, `1.05 GB` (decimal units, as BigQuery bills).
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e12 => format!("{:.2} TB", n / 1e12),
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n:.0} B"),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Int(i) => grouped(*i as f64, 0),
        Value::Float(f) => f.to_string(),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        other => full(other, None),
    }
}

/// Exact decimal text with thousands separators, keeping its scale (`12345.50` → `12,345.50`).
fn decimal_text(d: &str) -> String {
    let (sign, digits) = d.strip_prefix('-').map_or(("", d), |rest| ("−", rest));
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let mut out = String::from(sign);
    out.push_str(&group_digits(whole));
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

fn signed(n: f64, body: impl Fn(f64) -> String) -> String {
    if n < 0.0 && body(-n) != body(0.0) {
        format!("−{}", body(-n))
    } else {
        body(n.abs())
    }
}

/// `1234567.891` with 2 digits → `1,234,567.89`.
fn grouped(a: f64, digits: usize) -> String {
    let text = format!("{a:.digits$}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = group_digits(whole);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

fn group_digits(whole: &str) -> String {
    let mut out = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Drops trailing zeros of a fraction: `12.50` → `12.5`, `3.0` → `3`.
fn trim(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(full_number(1234.5, Format::Money), "$1,234.50");
        assert_eq!(full_number(1_234_567.891, Format::Money), "$1,234,568");
        assert_eq!(full_number(-12.0, Format::Money), "−$12.00");
        assert_eq!(compact(1_260_000.0, Some(Format::Money)), "$1.3M");
        assert_eq!(compact(950.0, Some(Format::Money)), "$950");
    }

    #[test]
    fn other_formats() {
        assert_eq!(full_number(0.1234, Format::Percent), "12.3%");
        assert_eq!(full_number(1_000_000.0, Format::Count), "1,000,000");
        assert_eq!(full_number(1234.5678, Format::Number), "1,234.57");
        assert_eq!(compact(35_000.0, None), "35k");
        assert_eq!(compact(0.5, Some(Format::Percent)), "50%");
        assert_eq!(delta(1204.5, Some(Format::Money)), "+$1,204.50");
        assert_eq!(delta(-3.0, Some(Format::Count)), "−3");
        assert_eq!(bytes(12_400_000), "12.4 MB");
    }

    #[test]
    fn values_get_a_format_from_their_type() {
        assert_eq!(full(&Value::Decimal("12345.50".into()), None), "12,345.50");
        assert_eq!(full(&Value::Decimal("-5".into()), None), "−5");
        assert_eq!(full(&Value::Int(98765), None), "98,765");
        assert_eq!(
            full(&Value::Timestamp(1_795_791_600_000_000), None),
            "2026-11-27 15:00:00 UTC"
        );
        assert_eq!(full(&Value::Null, Some(Format::Money)), "—");
        assert_eq!(full(&Value::Text("low".into()), Some(Format::Money)), "low");
    }
}
