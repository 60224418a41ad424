//! Query parameters: declared in the spec with a type, given on the command line as text,
//! parsed here, and bound by the backend (BigQuery `queryParameters`, DuckDB prepared values).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::spec::types::ParamType;

#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    String(String),
    Int64(i64),
    Float64(f64),
    Bool(bool),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    Date(NaiveDate),
}

impl ParamValue {
    /// BigQuery's textual form of the value (`parameterValue.value`).
    pub fn bigquery_text(&self) -> String {
        match self {
            ParamValue::String(s) => s.clone(),
            ParamValue::Int64(i) => i.to_string(),
            ParamValue::Float64(f) => f.to_string(),
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Timestamp(us) => DateTime::<Utc>::from_timestamp_micros(*us)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string())
                .unwrap_or_default(),
            ParamValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }
}

/// Parses `text` as a value of type `t`; the message says what was expected.
pub fn parse_value(t: ParamType, text: &str) -> Result<ParamValue, String> {
    let text = text.trim();
    match t {
        ParamType::STRING => Ok(ParamValue::String(text.to_string())),
        ParamType::INT64 => text
            .parse()
            .map(ParamValue::Int64)
            .map_err(|_| format!("`{text}` is not an INT64")),
        ParamType::FLOAT64 => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(ParamValue::Float64)
            .ok_or_else(|| format!("`{text}` is not a FLOAT64")),
        ParamType::BOOL => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(ParamValue::Bool(true)),
            "false" => Ok(ParamValue::Bool(false)),
            _ => Err(format!("`{text}` is not a BOOL (true or false)")),
        },
        ParamType::TIMESTAMP => parse_timestamp(text)
            .map(ParamValue::Timestamp)
            .ok_or_else(|| format!("`{text}` is not a TIMESTAMP (e.g. 2026-11-27T14:00:00Z)")),
        ParamType::DATE => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(ParamValue::Date)
            .map_err(|_| format!("`{text}` is not a DATE (YYYY-MM-DD)")),
    }
}

/// Every declared parameter of `query` with its value: the one given (by name, the last one
/// wins), else the default. The error names the first parameter that has neither, or the value
/// that does not parse.
pub fn resolve(
    query: &crate::spec::types::Query,
    given: &[(&str, &str)],
) -> Result<Vec<(String, ParamValue)>, Unresolved> {
    let mut out = Vec::with_capacity(query.params.len());
    for p in &query.params {
        let name = p.name.as_str();
        let text = given
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .or_else(|| p.default.as_ref().map(|d| d.as_str()))
            .ok_or_else(|| Unresolved::Missing {
                name: name.to_string(),
                param_type: p.param_type.value,
            })?;
        let value =
            parse_value(p.param_type.value, text).map_err(|reason| Unresolved::Invalid {
                name: name.to_string(),
                reason,
            })?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// Why a query's parameters could not be resolved.
#[derive(Debug, PartialEq)]
pub enum Unresolved {
    Missing { name: String, param_type: ParamType },
    Invalid { name: String, reason: String },
}

/// RFC 3339, or a naive `YYYY-MM-DD[ T]HH:MM:SS[.f]` taken as UTC (as BigQuery does).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_type_and_explains_failures() {
        assert_eq!(
            parse_value(ParamType::INT64, "10"),
            Ok(ParamValue::Int64(10))
        );
        assert!(
            parse_value(ParamType::INT64, "ten")
                .unwrap_err()
                .contains("INT64")
        );
        assert_eq!(
            parse_value(ParamType::BOOL, "TRUE"),
            Ok(ParamValue::Bool(true))
        );
        assert!(parse_value(ParamType::FLOAT64, "NaN").is_err());
        assert_eq!(
            parse_value(ParamType::TIMESTAMP, "2026-11-27T14:00:00Z"),
            parse_value(ParamType::TIMESTAMP, "2026-11-27 14:00:00")
        );
        assert!(parse_value(ParamType::DATE, "2026-11-31").is_err());
    }

    #[test]
    fn bigquery_text_of_a_timestamp_is_utc() {
        let v = parse_value(ParamType::TIMESTAMP, "2026-11-27T09:00:00-05:00").unwrap();
        assert_eq!(v.bigquery_text(), "2026-11-27 14:00:00.000000+00:00");
    }
}
