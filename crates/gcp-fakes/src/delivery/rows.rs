//! Turns a message into an `insertAll` row the way BigQuery's streaming ingestion would
//! accept it, or into the reason it would not.
//!
//! The check happens here, not upstream, because bqemulator is lax where BigQuery is strict:
//! its insertAll drops unknown keys, stores a missing REQUIRED field as NULL and answers a
//! whole batch with 500 for one bad value. Values that pass are sent in one canonical form
//! per type (INT64 as a string, TIMESTAMP as RFC 3339 in UTC, NUMERIC as exact text), so the
//! emulator never sees a spelling it might parse differently from BigQuery.
//!
//! The rules follow bqflow's local loader (`src/backend/local/record.rs`), so a malformed
//! event is dead-lettered for the same reason whichever target runs the pipeline.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{Map, Number, Value};

/// A column's type, from `TableFieldSchema.type` (legacy and standard names).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Type {
    String,
    Bytes,
    Int64,
    Float64,
    /// NUMERIC / BIGNUMERIC: at most `int_digits` digits before the point, `scale` after.
    Numeric {
        int_digits: u32,
        scale: u32,
    },
    Bool,
    Timestamp,
    Date,
    DateTime,
    Time,
    /// JSON, GEOGRAPHY, INTERVAL, RANGE…: passed through unchecked.
    Opaque,
    Record(Vec<Column>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Column {
    pub name: String,
    pub ty: Type,
    pub required: bool,
    pub repeated: bool,
}

/// A table schema as `tables.get` returns it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Schema {
    pub columns: Vec<Column>,
}

impl Schema {
    /// Parses `schema.fields` of a `Table`. `declared` are the fields a client sent when it
    /// created the table, consulted for NUMERIC precision and scale, which some emulators
    /// (bqemulator) do not echo.
    pub fn from_table(table: &Value, declared: Option<&Value>) -> Schema {
        Schema {
            columns: columns(&table["schema"]["fields"], declared),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    /// Parses message data as a JSON object and checks it against the columns.
    pub fn row_from_json(
        &self,
        data: &[u8],
        drop_unknown: bool,
    ) -> Result<Map<String, Value>, String> {
        self.row(parse_object(data)?, drop_unknown)
    }

    /// Checks an object against the columns; the row to send, or why it does not fit.
    pub fn row(
        &self,
        object: Map<String, Value>,
        drop_unknown: bool,
    ) -> Result<Map<String, Value>, String> {
        record(&self.columns, object, drop_unknown, "")
    }
}

/// Message data as a JSON object.
pub(crate) fn parse_object(data: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice(data).map_err(|e| format!("invalid JSON: {e}"))? {
        Value::Object(object) => Ok(object),
        _ => Err("the message is not a JSON object".into()),
    }
}

fn columns(fields: &Value, declared: Option<&Value>) -> Vec<Column> {
    let Some(fields) = fields.as_array() else {
        return Vec::new();
    };
    fields
        .iter()
        .map(|f| {
            let name = f["name"].as_str().unwrap_or("").to_string();
            let mine = declared.and_then(|d| {
                d.as_array()?
                    .iter()
                    .find(|x| x["name"].as_str() == Some(name.as_str()))
            });
            let mode = f["mode"].as_str().unwrap_or("NULLABLE");
            Column {
                ty: field_type(f, mine),
                name,
                required: mode == "REQUIRED",
                repeated: mode == "REPEATED",
            }
        })
        .collect()
}

fn field_type(f: &Value, declared: Option<&Value>) -> Type {
    let ty = f["type"].as_str().unwrap_or("STRING").to_ascii_uppercase();
    // Precision and scale are int64 fields: JSON strings, though numbers are tolerated.
    let number = |key: &str| {
        let pick = |v: &Value| match &v[key] {
            Value::String(s) => s.parse::<u32>().ok(),
            v => v.as_u64().and_then(|n| u32::try_from(n).ok()),
        };
        pick(f).or_else(|| declared.and_then(pick))
    };
    match ty.as_str() {
        "STRING" => Type::String,
        "BYTES" => Type::Bytes,
        "INTEGER" | "INT64" => Type::Int64,
        "FLOAT" | "FLOAT64" => Type::Float64,
        "NUMERIC" | "BIGNUMERIC" | "BIGDECIMAL" | "DECIMAL" => {
            let big = ty.starts_with("BIG");
            // Defaults: NUMERIC(38, 9), BIGNUMERIC(76, 38) (integer digits rounded down).
            let scale = number("scale").unwrap_or(if big { 38 } else { 9 });
            let int_digits = match number("precision") {
                Some(p) => p.saturating_sub(scale),
                None if big => 38,
                None => 29,
            };
            Type::Numeric { int_digits, scale }
        }
        "BOOLEAN" | "BOOL" => Type::Bool,
        "TIMESTAMP" => Type::Timestamp,
        "DATE" => Type::Date,
        "DATETIME" => Type::DateTime,
        "TIME" => Type::Time,
        "RECORD" | "STRUCT" => Type::Record(columns(&f["fields"], declared.map(|d| &d["fields"]))),
        _ => Type::Opaque,
    }
}

fn record(
    columns: &[Column],
    mut object: Map<String, Value>,
    drop_unknown: bool,
    prefix: &str,
) -> Result<Map<String, Value>, String> {
    let mut row = Map::new();
    for column in columns {
        let path = format!("{prefix}{}", column.name);
        let value = object.remove(&column.name).unwrap_or(Value::Null);
        let cell = if column.repeated {
            match value {
                Value::Null => Value::Array(Vec::new()),
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .map(|v| match v {
                            Value::Null => Err(format!("field {path}: NULL inside an ARRAY")),
                            v => cell(column, v, drop_unknown, &path),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(bad(&column.ty, &path, &other)),
            }
        } else if value.is_null() {
            if column.required {
                return Err(format!("missing required field: {path}"));
            }
            continue;
        } else {
            cell(column, value, drop_unknown, &path)?
        };
        row.insert(column.name.clone(), cell);
    }
    // What is left matched no column.
    if let Some(key) = object.keys().next()
        && !drop_unknown
    {
        return Err(format!("no such field: {prefix}{key}"));
    }
    Ok(row)
}

fn cell(column: &Column, value: Value, drop_unknown: bool, path: &str) -> Result<Value, String> {
    let fail = |v: &Value| bad(&column.ty, path, v);
    Ok(match (&column.ty, value) {
        (Type::Record(fields), Value::Object(o)) => {
            Value::Object(record(fields, o, drop_unknown, &format!("{path}."))?)
        }
        (Type::Opaque, v) => v,
        (ty, Value::String(s)) => text(ty, &s).ok_or_else(|| fail(&Value::String(s)))?,
        (ty, Value::Number(n)) => number(ty, &n).ok_or_else(|| fail(&Value::Number(n)))?,
        (Type::Bool, Value::Bool(b)) => Value::Bool(b),
        (_, v) => return Err(fail(&v)),
    })
}

fn bad(ty: &Type, path: &str, value: &Value) -> String {
    let name = match ty {
        Type::String => "STRING",
        Type::Bytes => "BYTES",
        Type::Int64 => "INT64",
        Type::Float64 => "FLOAT64",
        Type::Numeric { .. } => "NUMERIC",
        Type::Bool => "BOOL",
        Type::Timestamp => "TIMESTAMP",
        Type::Date => "DATE",
        Type::DateTime => "DATETIME",
        Type::Time => "TIME",
        Type::Opaque => "JSON",
        Type::Record(_) => "RECORD",
    };
    let mut shown = value.to_string();
    if shown.len() > 60 {
        let cut = (0..=57)
            .rev()
            .find(|&i| shown.is_char_boundary(i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push_str("...");
    }
    format!("field {path}: cannot convert {shown} to {name}")
}

/// A JSON string in a column of type `ty`, in canonical form; `None` if it does not fit.
fn text(ty: &Type, s: &str) -> Option<Value> {
    Some(match ty {
        Type::String => Value::String(s.to_string()),
        Type::Bytes => {
            crate::wire::decode_base64(s)?;
            Value::String(s.to_string())
        }
        Type::Int64 => Value::String(s.trim().parse::<i64>().ok()?.to_string()),
        Type::Float64 => Value::Number(Number::from_f64(s.trim().parse::<f64>().ok()?)?),
        Type::Numeric { int_digits, scale } => {
            Value::String(decimal(s.trim(), *int_digits, *scale)?)
        }
        Type::Bool => Value::Bool(match s {
            "true" => true,
            "false" => false,
            _ => return None,
        }),
        Type::Timestamp => Value::String(crate::wire::timestamp_micros(timestamp(s)?)),
        Type::Date => {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            Value::String(s.to_string())
        }
        Type::DateTime => {
            let t = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
            Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        }
        Type::Time => {
            NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()?;
            Value::String(s.to_string())
        }
        Type::Opaque | Type::Record(_) => return None,
    })
}

/// A JSON number in a column of type `ty`, in canonical form; `None` if it does not fit.
fn number(ty: &Type, n: &Number) -> Option<Value> {
    Some(match ty {
        Type::Int64 => match n.as_i64() {
            Some(i) => Value::String(i.to_string()),
            // 3.0 is an integer; 2.5 and 1e300 are not.
            None => {
                let f = n.as_f64()?;
                if f.fract() != 0.0 || f.abs() >= 9.0e15 {
                    return None;
                }
                Value::String((f as i64).to_string())
            }
        },
        Type::Float64 => Value::Number(n.clone()),
        Type::Numeric { int_digits, scale } => match n.as_i64() {
            Some(i) => Value::String(decimal(&i.to_string(), *int_digits, *scale)?),
            // A binary float has no exact decimal digits: round it to the scale, as the
            // local loader does.
            None => {
                let f = n.as_f64()?;
                let rounded = format!("{:.*}", *scale as usize, f);
                Value::String(decimal(&rounded, *int_digits, *scale)?)
            }
        },
        // BigQuery reads a number in a TIMESTAMP as seconds since the epoch.
        Type::Timestamp => {
            let micros = (n.as_f64()? * 1e6).round();
            if !micros.is_finite() || micros.abs() > 2.6e17 {
                return None;
            }
            Value::String(crate::wire::timestamp_micros(
                DateTime::from_timestamp_micros(micros as i64)?,
            ))
        }
        _ => return None,
    })
}

/// Exact decimal text with at most `scale` fractional and `int_digits` integer digits,
/// normalised (`+1.50` → `1.50`); `None` otherwise.
fn decimal(s: &str, int_digits: u32, scale: u32) -> Option<String> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    if frac.len() > scale as usize || whole.len() > int_digits as usize {
        return None;
    }
    let whole = if whole.is_empty() { "0" } else { whole };
    let sign = if negative { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    })
}

/// RFC 3339, or `YYYY-MM-DD[ T]HH:MM:SS[.f]` (UTC) with an optional zone, or a date.
fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    let s = s.trim_end_matches(" UTC").trim_end_matches('Z');
    for f in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.to_utc());
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        let table = json!({"schema": {"fields": [
            {"name": "transaction_id", "type": "STRING", "mode": "REQUIRED"},
            {"name": "timestamp", "type": "TIMESTAMP"},
            {"name": "quantity", "type": "INTEGER"},
            {"name": "unit_price", "type": "NUMERIC"},
            {"name": "ok", "type": "BOOLEAN"},
            {"name": "ratio", "type": "FLOAT"},
            {"name": "day", "type": "DATE"},
            {"name": "tags", "type": "STRING", "mode": "REPEATED"},
            {"name": "item", "type": "RECORD", "fields": [{"name": "sku", "type": "STRING"}]},
        ]}});
        // bqemulator drops precision and scale; the declared schema has them.
        let declared =
            json!([{"name": "unit_price", "type": "NUMERIC", "precision": "18", "scale": "2"}]);
        Schema::from_table(&table, Some(&declared))
    }

    fn row(data: &str) -> Result<Value, String> {
        schema()
            .row_from_json(data.as_bytes(), false)
            .map(Value::Object)
    }

    #[test]
    fn valid_values_are_sent_in_canonical_form() {
        let r = row(
            r#"{"transaction_id":"T1","timestamp":"2026-11-27 15:04:05.5","quantity":"3",
            "unit_price":199.99,"ok":"true","ratio":"0.5","day":"2026-11-27","tags":null,
            "item":{"sku":"A"}}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            json!({"transaction_id":"T1","timestamp":"2026-11-27T15:04:05.500000Z","quantity":"3",
                "unit_price":"199.99","ok":true,"ratio":0.5,"day":"2026-11-27","tags":[],
                "item":{"sku":"A"}})
        );
        let r = row(r#"{"transaction_id":"T1","timestamp":"2026-11-27T09:00:00-05:00","quantity":2.0,"unit_price":"-0.5"}"#).unwrap();
        assert_eq!(r["timestamp"], "2026-11-27T14:00:00.000000Z");
        assert_eq!(r["quantity"], "2");
        assert_eq!(r["unit_price"], "-0.5");
        assert_eq!(
            row(r#"{"transaction_id":"T1","timestamp":1.5}"#).unwrap()["timestamp"],
            "1970-01-01T00:00:01.500000Z"
        );
    }

    #[test]
    fn each_malformed_kind_has_its_reason() {
        let reason = |d: &str| row(d).unwrap_err();
        assert!(reason(r#"{"transaction_id":"T1","quantity":2"#).starts_with("invalid JSON"));
        assert!(
            schema()
                .row_from_json(b"\xff\xfe\x00garbage", false)
                .unwrap_err()
                .starts_with("invalid JSON")
        );
        assert_eq!(reason("[1,2]"), "the message is not a JSON object");
        assert_eq!(
            reason(r#"{"quantity":2}"#),
            "missing required field: transaction_id"
        );
        assert_eq!(
            reason(r#"{"transaction_id":"T1","quantity":"two"}"#),
            r#"field quantity: cannot convert "two" to INT64"#
        );
        for ts in [
            "2026-13-45T99:00:00Z",
            "2026-11-31T10:00:00Z",
            "27/11/2026 15:04:05",
            "yesterday",
        ] {
            assert!(
                reason(&format!(r#"{{"transaction_id":"T1","timestamp":"{ts}"}}"#))
                    .contains("TIMESTAMP"),
                "{ts}"
            );
        }
        assert_eq!(
            reason(r#"{"transaction_id":"T1","coupon":"BF1"}"#),
            "no such field: coupon"
        );
        assert!(reason(r#"{"transaction_id":"T1","unit_price":"1.234"}"#).contains("NUMERIC"));
        assert!(
            reason(r#"{"transaction_id":"T1","unit_price":"12345678901234567.5"}"#)
                .contains("NUMERIC")
        );
        assert!(reason(r#"{"transaction_id":"T1","quantity":2.5}"#).contains("INT64"));
        assert!(reason(r#"{"transaction_id":"T1","ok":1}"#).contains("BOOL"));
        assert!(reason(r#"{"transaction_id":5}"#).contains("STRING"));
        assert!(reason(r#"{"transaction_id":"T1","day":"2026-02-30"}"#).contains("DATE"));
        assert_eq!(
            reason(r#"{"transaction_id":"T1","item":{"x":1}}"#),
            "no such field: item.x"
        );
        assert!(reason(r#"{"transaction_id":"T1","tags":"a"}"#).contains("field tags"));
        assert_eq!(
            reason(r#"{"transaction_id":null}"#),
            "missing required field: transaction_id"
        );
    }

    #[test]
    fn unknown_keys_can_be_dropped() {
        let r = schema()
            .row_from_json(
                br#"{"transaction_id":"T1","coupon":"X","item":{"sku":"A","x":1}}"#,
                true,
            )
            .unwrap();
        assert_eq!(
            Value::Object(r),
            json!({"transaction_id":"T1","tags":[],"item":{"sku":"A"}})
        );
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal("007.10", 3, 2).as_deref(), Some("7.10"));
        assert_eq!(decimal("-.5", 3, 2).as_deref(), Some("-0.5"));
        assert_eq!(decimal("1000", 3, 2), None);
        assert_eq!(decimal(".", 3, 2), None);
        assert_eq!(decimal("1e5", 9, 2), None);
    }
}
