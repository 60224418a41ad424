//! Turns one message (JSON object) into a row of a table, as strictly as BigQuery's streaming
//! ingestion does: every key must be a column, values must fit the column's type, REQUIRED
//! columns must be present. Whatever fails goes to the dead-letter table with the reason.
//!
//! Parsing walks the JSON once with a serde visitor straight into typed cells (no intermediate
//! `serde_json::Value` map): this is the loader's hot path.

use std::fmt;

use duckdb::ToSql;
use duckdb::types::{TimeUnit, ToSqlOutput, ValueRef};
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};

use crate::plan::ColumnDef;
use crate::sql::params::parse_timestamp;

#[derive(Clone, Copy, Debug, PartialEq)]
enum CellType {
    String,
    Bytes,
    Int64,
    Float64,
    /// Scale of the decimal and DuckDB's width for it.
    Decimal {
        width: u8,
        scale: u8,
    },
    Bool,
    Timestamp,
    Date,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    String(String),
    Bytes(Vec<u8>),
    Int64(i64),
    Float64(f64),
    Decimal {
        width: u8,
        scale: u8,
        value: i128,
    },
    Bool(bool),
    /// µs since the Unix epoch.
    Timestamp(i64),
    /// Days since the Unix epoch.
    Date(i32),
}

impl ToSql for Cell {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::String(s) => ValueRef::Text(s.as_bytes()),
            Cell::Bytes(b) => ValueRef::Blob(b),
            Cell::Int64(i) => ValueRef::BigInt(*i),
            Cell::Float64(f) => ValueRef::Double(*f),
            Cell::Decimal {
                width,
                scale,
                value,
            } => {
                let d = duckdb::types::Decimal::new(*width, *scale, *value)
                    .map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
                ValueRef::Decimal(d)
            }
            Cell::Bool(b) => ValueRef::Boolean(*b),
            Cell::Timestamp(us) => ValueRef::Timestamp(TimeUnit::Microsecond, *us),
            Cell::Date(d) => ValueRef::Date32(*d),
        }))
    }
}

struct Column {
    name: String,
    ty: CellType,
    required: bool,
}

/// The columns of a table, for parsing messages into its rows.
pub struct RowSchema {
    columns: Vec<Column>,
}

impl RowSchema {
    /// Built from the plan's column definitions (the DuckDB types decide the cell types).
    pub fn new(columns: &[ColumnDef]) -> RowSchema {
        let columns = columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                ty: cell_type(&c.duckdb_type),
                required: c.required,
            })
            .collect();
        RowSchema { columns }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    fn index(&self, key: &str) -> Option<usize> {
        // Few columns: a linear scan beats hashing.
        self.columns.iter().position(|c| c.name == key)
    }

    /// Parses `message` into `row` (one cell per column). The error is the dead-letter reason.
    pub fn parse(&self, message: &[u8], row: &mut Vec<Cell>) -> Result<(), String> {
        row.clear();
        row.resize(self.columns.len(), Cell::Null);
        let mut de = serde_json::Deserializer::from_slice(message);
        RowSeed { schema: self, row }
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| e.to_string())?;
        for (column, cell) in self.columns.iter().zip(row.iter()) {
            if column.required && *cell == Cell::Null {
                return Err(format!("missing required field: {}", column.name));
            }
        }
        Ok(())
    }
}

fn cell_type(duckdb_type: &str) -> CellType {
    let upper = duckdb_type.to_ascii_uppercase();
    if let Some(args) = upper.strip_prefix("DECIMAL(") {
        let mut parts = args
            .trim_end_matches(')')
            .split(',')
            .map(|p| p.trim().parse::<u8>().unwrap_or(0));
        let width = parts.next().unwrap_or(38);
        let scale = parts.next().unwrap_or(0);
        return CellType::Decimal { width, scale };
    }
    match upper.as_str() {
        "BIGINT" => CellType::Int64,
        "DOUBLE" => CellType::Float64,
        "BOOLEAN" => CellType::Bool,
        "TIMESTAMP" => CellType::Timestamp,
        "DATE" => CellType::Date,
        "BLOB" => CellType::Bytes,
        _ => CellType::String,
    }
}

struct RowSeed<'a> {
    schema: &'a RowSchema,
    row: &'a mut Vec<Cell>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let Some(i) = self.schema.index(&key) else {
                map.next_value::<IgnoredAny>()?;
                return Err(A::Error::custom(format!("no such field: {key}")));
            };
            let column = &self.schema.columns[i];
            let cell = map.next_value_seed(CellSeed {
                ty: column.ty,
                name: &column.name,
            })?;
            self.row[i] = cell;
        }
        Ok(())
    }
}

struct CellSeed<'a> {
    ty: CellType,
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Cell;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl CellSeed<'_> {
    fn bad<E: serde::de::Error>(&self, what: impl fmt::Display) -> E {
        let expected = match self.ty {
            CellType::String => "STRING",
            CellType::Bytes => "BYTES",
            CellType::Int64 => "INT64",
            CellType::Float64 => "FLOAT64",
            CellType::Decimal { .. } => "NUMERIC",
            CellType::Bool => "BOOL",
            CellType::Timestamp => "TIMESTAMP",
            CellType::Date => "DATE",
        };
        E::custom(format!(
            "field {}: cannot convert {what} to {expected}",
            self.name
        ))
    }

    fn parse_text<E: serde::de::Error>(&self, s: &str) -> Result<Cell, E> {
        let bad = || {
            self.bad(format_args!(
                "\"{}\"",
                s.chars().take(40).collect::<String>()
            ))
        };
        Ok(match self.ty {
            CellType::String => Cell::String(s.to_string()),
            CellType::Bytes => Cell::Bytes(s.as_bytes().to_vec()),
            CellType::Int64 => Cell::Int64(s.trim().parse().map_err(|_| bad())?),
            CellType::Float64 => Cell::Float64(
                s.trim()
                    .parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite())
                    .ok_or_else(bad)?,
            ),
            CellType::Decimal { width, scale } => {
                decimal_from_text(s.trim(), width, scale).ok_or_else(bad)?
            }
            CellType::Bool => match s {
                "true" => Cell::Bool(true),
                "false" => Cell::Bool(false),
                _ => return Err(bad()),
            },
            CellType::Timestamp => Cell::Timestamp(parse_timestamp(s).ok_or_else(bad)?),
            CellType::Date => {
                let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
                Cell::Date(
                    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
                        as i32,
                )
            }
        })
    }

    fn parse_f64<E: serde::de::Error>(&self, v: f64) -> Result<Cell, E> {
        Ok(match self.ty {
            CellType::Float64 => Cell::Float64(v),
            CellType::Int64 if v.fract() == 0.0 && v.abs() < 9.0e15 => Cell::Int64(v as i64),
            CellType::Decimal { width, scale } => {
                let scaled = (v * 10f64.powi(scale as i32)).round();
                if !scaled.is_finite() || scaled.abs() >= 10f64.powi(width as i32) {
                    return Err(self.bad(v));
                }
                Cell::Decimal {
                    width,
                    scale,
                    value: scaled as i128,
                }
            }
            // BigQuery takes a number for a TIMESTAMP as seconds since the epoch.
            CellType::Timestamp => Cell::Timestamp((v * 1e6).round() as i64),
            _ => return Err(self.bad(v)),
        })
    }
}

/// Exact decimal text (`-12.5`) scaled to `scale` digits; more digits than fit are rejected.
fn decimal_from_text(s: &str, width: u8, scale: u8) -> Option<Cell> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > scale as usize
        || whole.len() + scale as usize > width as usize
    {
        return None;
    }
    let mut value: i128 = 0;
    for b in whole
        .bytes()
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', scale as usize - frac.len()))
    {
        value = value.checked_mul(10)?.checked_add((b - b'0') as i128)?;
    }
    Some(Cell::Decimal {
        width,
        scale,
        value: if negative { -value } else { value },
    })
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value for field {}", self.name)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Cell, E> {
        match self.ty {
            CellType::Bool => Ok(Cell::Bool(v)),
            _ => Err(self.bad(v)),
        }
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cell, E> {
        match self.ty {
            CellType::Int64 => Ok(Cell::Int64(v)),
            CellType::Decimal { width, scale } => {
                decimal_from_text(&v.to_string(), width, scale).ok_or_else(|| self.bad(v))
            }
            _ => self.parse_f64(v as f64),
        }
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(self.bad(v)),
        }
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cell, E> {
        self.parse_f64(v)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cell, E> {
        self.parse_text(v)
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Cell, E> {
        match self.ty {
            CellType::String => Ok(Cell::String(v)),
            _ => self.parse_text(&v),
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Cell, A::Error> {
        Err(self.bad("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Cell, A::Error> {
        Err(self.bad("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> RowSchema {
        let col = |name: &str, duck: &str, required: bool| ColumnDef {
            name: name.into(),
            bigquery_type: String::new(),
            duckdb_type: duck.into(),
            required,
            repeated: false,
            description: None,
            fields: vec![],
        };
        RowSchema::new(&[
            col("transaction_id", "VARCHAR", true),
            col("timestamp", "TIMESTAMP", false),
            col("quantity", "BIGINT", false),
            col("unit_price", "DECIMAL(18, 2)", false),
        ])
    }

    #[test]
    fn a_valid_message_becomes_typed_cells() {
        let mut row = Vec::new();
        schema()
            .parse(br#"{"transaction_id":"T1","timestamp":"2026-11-27T15:04:05.123456Z","quantity":2,"unit_price":199.99}"#, &mut row)
            .unwrap();
        assert_eq!(row[0], Cell::String("T1".into()));
        assert_eq!(row[2], Cell::Int64(2));
        assert_eq!(
            row[3],
            Cell::Decimal {
                width: 18,
                scale: 2,
                value: 19999
            }
        );
        assert!(matches!(row[1], Cell::Timestamp(us) if us == 1_795_791_845_123_456));
    }

    #[test]
    fn strictness_matches_bigquery_ingestion() {
        let s = schema();
        let mut row = Vec::new();
        let reason = |m: &[u8]| s.parse(m, &mut Vec::new()).unwrap_err();
        assert!(
            reason(br#"{"timestamp":"2026-11-27T15:04:05Z"}"#)
                .contains("missing required field: transaction_id")
        );
        assert!(
            reason(br#"{"transaction_id":"T1","coupon":"X"}"#).contains("no such field: coupon")
        );
        assert!(reason(br#"{"transaction_id":"T1","quantity":"two"}"#).contains("field quantity"));
        assert!(
            reason(br#"{"transaction_id":"T1","timestamp":"2026-13-45T99:00:00Z"}"#)
                .contains("TIMESTAMP")
        );
        assert!(reason(br#"{"transaction_id":"T1","unit_price":"1.234"}"#).contains("NUMERIC"));
        assert!(reason(br#"{"transaction_id":"T1""#).contains("EOF"));
        assert!(reason(b"\xff garbage").contains("expected value"));
        assert!(reason(br#"[1,2]"#).contains("JSON object"));
        assert!(reason(br#"{"transaction_id":"T1"} trailing"#).contains("trailing"));
        // Numbers as strings are accepted where BigQuery accepts them.
        s.parse(
            br#"{"transaction_id":"T1","quantity":"3","unit_price":"-0.5"}"#,
            &mut row,
        )
        .unwrap();
        assert_eq!(
            row[3],
            Cell::Decimal {
                width: 18,
                scale: 2,
                value: -50
            }
        );
    }
}
