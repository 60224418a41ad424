//! The few SQL constructs that differ between BigQuery and DuckDB, as functions templates call.
//! Like dbt's `adapter.dispatch`: a template writes `{{ timestamp_trunc("timestamp", "HOUR") }}`
//! and gets `TIMESTAMP_TRUNC(timestamp, HOUR)` on BigQuery, `date_trunc('hour', timestamp)` on
//! DuckDB. Arguments are SQL expressions written by the template author; keywords (date parts,
//! type names) are checked against a fixed list, never pasted as given.

use minijinja::{Environment, Error, ErrorKind};

use crate::spec::types::ColumnType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    BigQuery,
    DuckDb,
}

impl Dialect {
    pub const ALL: [Dialect; 2] = [Dialect::BigQuery, Dialect::DuckDb];

    /// The name templates see as `target.dialect` and macro prefixes use (`duckdb__x`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::BigQuery => "bigquery",
            Dialect::DuckDb => "duckdb",
        }
    }

    /// Column type names in this dialect's DDL.
    pub fn type_name(self, t: ColumnType, precision: Option<u32>, scale: Option<u32>) -> String {
        use ColumnType::*;
        match self {
            Dialect::BigQuery => match (t, precision, scale) {
                (NUMERIC, Some(p), s) => format!("NUMERIC({p}, {})", s.unwrap_or(0)),
                (NUMERIC, None, Some(s)) => format!("NUMERIC({}, {s})", 29 + s),
                _ => format!("{t:?}"),
            },
            Dialect::DuckDb => match t {
                STRING => "VARCHAR".into(),
                BYTES => "BLOB".into(),
                INT64 => "BIGINT".into(),
                FLOAT64 => "DOUBLE".into(),
                // BigQuery's NUMERIC is (38, 9); a declared precision keeps DuckDB on 64-bit
                // decimals, which is what makes money math fast there.
                NUMERIC => format!(
                    "DECIMAL({}, {})",
                    precision.unwrap_or(38),
                    scale.unwrap_or(if precision.is_some() { 0 } else { 9 })
                ),
                BOOL => "BOOLEAN".into(),
                TIMESTAMP => "TIMESTAMP".into(),
                DATE => "DATE".into(),
                DATETIME => "TIMESTAMP".into(),
            },
        }
    }
}

const DATE_PARTS: &[&str] = &["MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"];

fn date_part(part: &str) -> Result<String, Error> {
    let upper = part.to_ascii_uppercase();
    if DATE_PARTS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "unknown date part `{part}`: use one of {}",
                DATE_PARTS.join(", ")
            ),
        ))
    }
}

fn type_keyword(name: &str) -> Result<ColumnType, Error> {
    use ColumnType::*;
    Ok(match name.to_ascii_uppercase().as_str() {
        "STRING" => STRING,
        "INT64" | "INTEGER" => INT64,
        "FLOAT64" | "FLOAT" => FLOAT64,
        "NUMERIC" => NUMERIC,
        "BOOL" | "BOOLEAN" => BOOL,
        "TIMESTAMP" => TIMESTAMP,
        "DATE" => DATE,
        "BYTES" => BYTES,
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "unknown type `{name}`: use STRING, INT64, FLOAT64, NUMERIC, BOOL, TIMESTAMP, DATE or BYTES"
                ),
            ));
        }
    })
}

/// Registers the dialect functions on a template environment.
pub fn register(env: &mut Environment<'static>, d: Dialect) {
    use Dialect::*;
    env.add_function(
        "timestamp_trunc",
        move |expr: String, part: String| -> Result<String, Error> {
            let part = date_part(&part)?;
            Ok(match d {
                BigQuery => format!("TIMESTAMP_TRUNC({expr}, {part})"),
                DuckDb => format!("date_trunc('{}', {expr})", part.to_ascii_lowercase()),
            })
        },
    );
    env.add_function("date_of", move |expr: String| match d {
        BigQuery => format!("DATE({expr})"),
        DuckDb => format!("CAST({expr} AS DATE)"),
    });
    // FLOAT64 division that yields NULL instead of failing on a zero divisor.
    env.add_function("safe_divide", move |a: String, b: String| match d {
        BigQuery => format!("SAFE_DIVIDE({a}, {b})"),
        DuckDb => format!("(CAST({a} AS DOUBLE) / NULLIF(CAST({b} AS DOUBLE), 0))"),
    });
    // A share or ratio as FLOAT64 rounded to `digits`, NULL when b = 0. The outer cast keeps
    // the type FLOAT64 on engines where ROUND returns a decimal (bqemulator does), so both
    // targets print the same digits.
    env.add_function("ratio", move |a: String, b: String, digits: u32| match d {
        BigQuery => format!("CAST(ROUND(SAFE_DIVIDE({a}, {b}), {digits}) AS FLOAT64)"),
        DuckDb => format!(
            "CAST(ROUND(CAST({a} AS DOUBLE) / NULLIF(CAST({b} AS DOUBLE), 0), {digits}) AS DOUBLE)"
        ),
    });
    // 1 = Sunday … 7 = Saturday, BigQuery's numbering, on both.
    env.add_function("day_of_week", move |expr: String| match d {
        BigQuery => format!("EXTRACT(DAYOFWEEK FROM {expr})"),
        DuckDb => format!("(dayofweek({expr}) + 1)"),
    });
    env.add_function("add_minutes", move |ts: String, minutes: String| match d {
        BigQuery => format!("TIMESTAMP_ADD({ts}, INTERVAL {minutes} MINUTE)"),
        DuckDb => format!("({ts} + to_minutes(CAST({minutes} AS BIGINT)))"),
    });
    env.add_function(
        "timestamp_sub_hours",
        move |ts: String, hours: String| match d {
            BigQuery => format!("TIMESTAMP_SUB({ts}, INTERVAL {hours} HOUR)"),
            DuckDb => format!("({ts} - to_hours(CAST({hours} AS BIGINT)))"),
        },
    );
    env.add_function(
        "seconds_between",
        move |later: String, earlier: String| match d {
            BigQuery => format!("TIMESTAMP_DIFF({later}, {earlier}, SECOND)"),
            DuckDb => format!("date_diff('second', {earlier}, {later})"),
        },
    );
    env.add_function("countif", move |cond: String| match d {
        BigQuery => format!("COUNTIF({cond})"),
        DuckDb => format!("count_if({cond})"),
    });
    env.add_function("approx_count_distinct", move |expr: String| match d {
        BigQuery => format!("APPROX_COUNT_DISTINCT({expr})"),
        DuckDb => format!("approx_count_distinct({expr})"),
    });
    env.add_function("type", move |name: String| -> Result<String, Error> {
        Ok(d.type_name(type_keyword(&name)?, None, None))
    });
    // Exact money arithmetic: BigQuery NUMERIC, DuckDB DECIMAL(18, 2).
    env.add_function("money", move |expr: String| match d {
        BigQuery => format!("CAST({expr} AS NUMERIC)"),
        DuckDb => format!("CAST({expr} AS DECIMAL(18, 2))"),
    });
    // A float for ratios and averages, so both targets print the same digits.
    env.add_function("to_float", move |expr: String| match d {
        BigQuery => format!("CAST({expr} AS FLOAT64)"),
        DuckDb => format!("CAST({expr} AS DOUBLE)"),
    });
}

/// Every function templates can call (the README documents each; a test checks it does).
pub const FUNCTIONS: &[(&str, &str)] = &[
    (
        "ref(\"name\")",
        "a table or view of the spec, fully qualified and quoted",
    ),
    (
        "param(\"name\")",
        "a declared query parameter, bound (never pasted)",
    ),
    (
        "timestamp_trunc(expr, \"HOUR\")",
        "truncate to MINUTE/HOUR/DAY/WEEK/MONTH/QUARTER/YEAR",
    ),
    ("date_of(expr)", "the DATE of a TIMESTAMP"),
    ("safe_divide(a, b)", "FLOAT64 a / b, NULL when b = 0"),
    (
        "ratio(a, b, digits)",
        "FLOAT64 a / b rounded, NULL when b = 0",
    ),
    ("day_of_week(expr)", "1 = Sunday … 7 = Saturday"),
    (
        "add_minutes(ts, n)",
        "ts + n minutes (e.g. UTC → local time)",
    ),
    ("timestamp_sub_hours(ts, n)", "ts − n hours"),
    (
        "seconds_between(later, earlier)",
        "whole seconds between two timestamps",
    ),
    ("countif(cond)", "number of rows where cond holds"),
    ("approx_count_distinct(expr)", "HyperLogLog distinct count"),
    ("type(\"INT64\")", "a type name in the target's dialect"),
    ("money(expr)", "exact decimal for currency"),
    ("to_float(expr)", "FLOAT64"),
];
