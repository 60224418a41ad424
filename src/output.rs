//! Query results, the same on every target: one value type, printed as a table, JSON or CSV.
//! Both backends convert into `Value`, so `query` prints identical text for identical data.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Exact decimal text, e.g. `-12.50`.
    Decimal(String),
    Text(String),
    /// µs since the Unix epoch, UTC.
    Timestamp(i64),
    Date(NaiveDate),
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug, Default)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

pub fn timestamp_text(us: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(us) {
        Some(t) if us % 1_000_000 == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => us.to_string(),
    }
}

/// Decimal text with trailing fractional zeros removed (BigQuery returns NUMERIC that way).
fn canonical_decimal(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => float_text(*f),
            Value::Decimal(d) => canonical_decimal(d).to_string(),
            Value::Text(s) => s.clone(),
            Value::Timestamp(us) => timestamp_text(*us),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::Bytes(b) => b.iter().fold(String::new(), |mut s, byte| {
                let _ = write!(s, "{byte:02x}");
                s
            }),
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Float(_) | Value::Decimal(_))
    }
}

/// Floats with at most 6 decimals: enough for ratios, and stable across engines whose last
/// binary digits differ.
fn float_text(f: f64) -> String {
    if f.is_nan() || f.is_infinite() {
        return f.to_string();
    }
    let s = format!("{f:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Decimal columns are padded to the widest scale present, so money reads `12.50`, not `12.5`.
fn column_texts(result: &QueryResult) -> Vec<Vec<String>> {
    let scales: Vec<usize> = (0..result.columns.len())
        .map(|c| {
            result
                .rows
                .iter()
                .filter_map(|r| match &r[c] {
                    Value::Decimal(d) => canonical_decimal(d).split_once('.').map(|(_, f)| f.len()),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
        })
        .collect();
    result
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&scales)
                .map(|(v, &scale)| match v {
                    Value::Decimal(d) if scale > 0 => {
                        let d = canonical_decimal(d);
                        let have = d.split_once('.').map_or(0, |(_, f)| f.len());
                        let point = if have == 0 { "." } else { "" };
                        format!("{d}{point}{}", "0".repeat(scale - have))
                    }
                    _ => v.text(),
                })
                .collect()
        })
        .collect()
}

pub fn render(result: &QueryResult, format: Format) -> String {
    match format {
        Format::Table => table(result),
        Format::Json => json(result),
        Format::Csv => csv(result),
    }
}

/// Text made safe to show in a terminal: control characters (a dead-letter payload can carry
/// escape sequences that recolour, retitle or rewrite the screen) become visible symbols —
/// ESC shows as `␛` — while newlines and tabs stay.
pub fn visible(text: &str) -> String {
    if !text.chars().any(is_hidden_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c {
            c if !is_hidden_control(c) => c,
            c if (c as u32) < 0x20 => char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'),
            '\u{7f}' => '\u{2421}',
            _ => '\u{FFFD}',
        })
        .collect()
}

fn is_hidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

fn table(result: &QueryResult) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(result.columns.iter().map(|c| Cell::new(visible(c))));
    for (row, texts) in result.rows.iter().zip(column_texts(result)) {
        t.add_row(row.iter().zip(texts).map(|(v, text)| {
            let cell = Cell::new(if *v == Value::Null {
                "NULL".to_string()
            } else {
                visible(&text)
            });
            if v.is_number() {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    let n = result.rows.len();
    format!("{t}\n{n} row{}\n", if n == 1 { "" } else { "s" })
}

fn json(result: &QueryResult) -> String {
    let rows: Vec<serde_json::Value> = result
        .rows
        .iter()
        .map(|row| {
            let object = result.columns.iter().zip(row).map(|(name, v)| {
                let value = match v {
                    Value::Null => serde_json::Value::Null,
                    Value::Bool(b) => (*b).into(),
                    Value::Int(i) => (*i).into(),
                    Value::Float(f) => float_text(*f)
                        .parse::<f64>()
                        .map_or(serde_json::Value::Null, Into::into),
                    Value::Decimal(d) => canonical_decimal(d)
                        .parse::<f64>()
                        .map_or(serde_json::Value::Null, Into::into),
                    other => other.text().into(),
                };
                (name.clone(), value)
            });
            serde_json::Value::Object(object.collect())
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&rows).expect("json");
    out.push('\n');
    out
}

/// CSV that is safe to open: a text cell a spreadsheet would run as a formula (`=…`, `+…`,
/// `-…`, `@…`) gets a leading `'`, as OWASP recommends; numbers stay numbers. Control
/// characters show as symbols (see `visible`); `--format json` keeps every byte.
fn csv(result: &QueryResult) -> String {
    fn field(s: &str) -> String {
        let s = visible(s);
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    fn cell(v: &Value, text: &str) -> String {
        match v {
            Value::Text(_) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
                field(&format!("'{text}"))
            }
            _ => field(text),
        }
    }
    let mut out = result
        .columns
        .iter()
        .map(|c| field(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for (row, texts) in result.rows.iter().zip(column_texts(result)) {
        let cells: Vec<String> = row.iter().zip(&texts).map(|(v, t)| cell(v, t)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QueryResult {
        QueryResult {
            columns: vec![
                "product".into(),
                "revenue".into(),
                "share".into(),
                "at".into(),
            ],
            rows: vec![
                vec![
                    Value::Text("TV, 55\"".into()),
                    Value::Decimal("1200.5".into()),
                    Value::Float(0.123456789),
                    Value::Timestamp(1_795_791_600_000_000),
                ],
                vec![
                    Value::Text("Lego".into()),
                    Value::Decimal("99.99".into()),
                    Value::Null,
                    Value::Null,
                ],
            ],
        }
    }

    #[test]
    fn csv_quotes_and_pads_money() {
        let out = render(&sample(), Format::Csv);
        assert_eq!(
            out,
            "product,revenue,share,at\n\"TV, 55\"\"\",1200.50,0.123457,2026-11-27T15:00:00Z\nLego,99.99,,\n"
        );
    }

    #[test]
    fn json_keeps_types() {
        let v: serde_json::Value = serde_json::from_str(&render(&sample(), Format::Json)).unwrap();
        assert_eq!(v[0]["revenue"], 1200.5);
        assert_eq!(v[1]["share"], serde_json::Value::Null);
        assert_eq!(v[0]["at"], "2026-11-27T15:00:00Z");
    }

    #[test]
    fn terminal_text_shows_control_characters_and_csv_defuses_formulas() {
        let result = QueryResult {
            columns: vec!["payload".into(), "n".into()],
            rows: vec![
                vec![
                    Value::Text("\u{1b}[2J\u{1b}]0;pwned\u{7}x".into()),
                    Value::Int(-5),
                ],
                vec![
                    Value::Text("=HYPERLINK(\"http://x\")".into()),
                    Value::Int(1),
                ],
            ],
        };
        let table = render(&result, Format::Table);
        assert!(
            !table.contains('\u{1b}') && !table.contains('\u{7}'),
            "{table}"
        );
        assert!(table.contains("␛[2J␛]0;pwned␇x"), "{table}");
        let csv = render(&result, Format::Csv);
        assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\",1"), "{csv}");
        assert!(csv.contains(",-5\n"), "numbers are not defused: {csv}");
        assert!(!csv.contains('\u{1b}'));
        let json = render(&result, Format::Json);
        assert!(
            json.contains("\\u001b[2J"),
            "JSON keeps every byte, escaped: {json}"
        );
    }

    #[test]
    fn table_counts_rows() {
        let out = render(&sample(), Format::Table);
        assert!(
            out.contains("1200.50") && out.ends_with("2 rows\n"),
            "{out}"
        );
    }
}
