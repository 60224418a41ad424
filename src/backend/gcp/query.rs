//! Queries on BigQuery: `jobs.query` with named parameters, then `jobs.getQueryResults` pages
//! until the last row (or the limit), decoded into the same values the local target returns.

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use super::Gcp;
use super::api::Request;
use super::bigquery::{self as bq, QueryOptions};
use super::endpoints::Service;
use crate::output::{QueryResult, Value as Cell};
use crate::sql::Rendered;
use crate::sql::params::ParamValue;

/// Rows per page; BigQuery caps a page by size too (10–20 MB), whichever comes first.
const PAGE_ROWS: usize = 10_000;
/// On-demand price per TiB scanned, for `--dry-run`'s estimate (`cost/prices.rs`).
pub const PRICE_PER_TIB_USD: f64 = crate::cost::prices::BIGQUERY_ON_DEMAND.usd;

fn parameter(name: &str, value: &ParamValue) -> Value {
    let t = match value {
        ParamValue::String(_) => "STRING",
        ParamValue::Int64(_) => "INT64",
        ParamValue::Float64(_) => "FLOAT64",
        ParamValue::Bool(_) => "BOOL",
        ParamValue::Timestamp(_) => "TIMESTAMP",
        ParamValue::Date(_) => "DATE",
    };
    json!({ "name": name, "parameterType": { "type": t }, "parameterValue": { "value": value.bigquery_text() } })
}

impl Gcp {
    fn options<'a>(
        &'a self,
        labels: &'a crate::plan::Labels,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
        dry_run: bool,
    ) -> QueryOptions<'a> {
        QueryOptions {
            location: &self.location,
            labels,
            maximum_bytes_billed: self.maximum_bytes_billed,
            parameters: rendered
                .params
                .iter()
                .filter_map(|name| {
                    params
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(n, v)| parameter(n, v))
                })
                .collect(),
            dry_run,
            max_results: None,
            default_dataset: Some(&self.dataset),
        }
    }

    /// Runs a query; at most `limit` rows are fetched.
    pub async fn query(
        &self,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
        limit: Option<usize>,
    ) -> Result<QueryResult> {
        Ok(self.query_billed(rendered, params, limit).await?.0)
    }

    /// Runs a query, and says how many bytes BigQuery billed for it (0 when the answer came
    /// from the cache; `None` when the service does not report it, as emulators do not).
    pub async fn query_billed(
        &self,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
        limit: Option<usize>,
    ) -> Result<(QueryResult, Option<u64>)> {
        let labels = self.job_labels();
        let mut options = self.options(&labels, rendered, params, false);
        options.max_results = Some(limit.unwrap_or(PAGE_ROWS).min(PAGE_ROWS));
        let mut response = bq::query(&self.api, &self.project, &rendered.sql, &options).await?;
        let job = response
            .pointer("/jobReference/jobId")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| anyhow!("BigQuery returned no job reference"))?;
        let location = response
            .pointer("/jobReference/location")
            .and_then(Value::as_str)
            .unwrap_or(&self.location)
            .to_string();
        let fields = response
            .pointer("/schema/fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut result = QueryResult {
            columns: fields
                .iter()
                .map(|f| f["name"].as_str().unwrap_or_default().to_string())
                .collect(),
            rows: Vec::new(),
        };
        let billed = bytes_field(&response, "totalBytesBilled");
        let want = limit.unwrap_or(usize::MAX);
        loop {
            for row in response
                .get("rows")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if result.rows.len() >= want {
                    return Ok((result, billed));
                }
                result.rows.push(decode_row(row, &fields)?);
            }
            let token = response
                .get("pageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(String::from);
            match token {
                Some(token) if result.rows.len() < want => {
                    response = self
                        .results_page(&job, &location, Some(&token), want - result.rows.len())
                        .await?;
                }
                _ => return Ok((result, billed)),
            }
        }
    }

    async fn results_page(
        &self,
        job: &str,
        location: &str,
        token: Option<&str>,
        rows: usize,
    ) -> Result<Value> {
        let mut req = Request::new(
            Service::BigQuery,
            Method::GET,
            format!("projects/{}/queries/{job}", self.project),
        )
        .query("location", location)
        .query("timeoutMs", "10000")
        .query("formatOptions.useInt64Timestamp", "true");
        if rows > 0 {
            req = req.query("maxResults", rows.min(PAGE_ROWS).to_string());
        }
        if let Some(t) = token {
            req = req.query("pageToken", t);
        }
        Ok(self.api.call(&req).await?)
    }

    /// Bytes the query would scan and the on-demand cost, without running it.
    pub async fn dry_run(
        &self,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
    ) -> Result<(u64, f64)> {
        let labels = self.job_labels();
        let options = self.options(&labels, rendered, params, true);
        let response = bq::query(&self.api, &self.project, &rendered.sql, &options).await?;
        let bytes = bytes_field(&response, "totalBytesProcessed").unwrap_or(0);
        Ok((
            bytes,
            bytes as f64 / (1u64 << 40) as f64 * PRICE_PER_TIB_USD,
        ))
    }
}

/// An int64 byte count, which BigQuery sends as a string.
fn bytes_field(response: &Value, name: &str) -> Option<u64> {
    match response.get(name)? {
        Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
}

/// One row of `{"f": [{"v": …}]}` by the schema's types (BigQuery sends scalars as strings).
fn decode_row(row: &Value, fields: &[Value]) -> Result<Vec<Cell>> {
    let cells = row
        .get("f")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("malformed row: {row}"))?;
    // A row that does not match its schema is a server's bug; showing it shifted would be ours.
    if cells.len() != fields.len() {
        bail!(
            "BigQuery returned a row of {} cells for a schema of {} columns; not showing a result that does not fit its columns",
            cells.len(),
            fields.len()
        );
    }
    Ok(cells
        .iter()
        .zip(fields)
        .map(|(c, f)| decode(&c["v"], f))
        .collect())
}

fn decode(v: &Value, field: &Value) -> Cell {
    if v.is_null() {
        return Cell::Null;
    }
    let mode = field["mode"].as_str().unwrap_or("NULLABLE");
    let text = v.as_str().unwrap_or_default();
    if mode == "REPEATED" || v.is_object() || v.is_array() {
        return Cell::Text(v.to_string());
    }
    match field["type"].as_str().unwrap_or("STRING") {
        "INTEGER" | "INT64" => text
            .parse()
            .map_or_else(|_| Cell::Text(text.into()), Cell::Int),
        "FLOAT" | "FLOAT64" => match text {
            "NaN" | "nan" => Cell::Float(f64::NAN),
            "Infinity" | "inf" => Cell::Float(f64::INFINITY),
            "-Infinity" | "-inf" => Cell::Float(f64::NEG_INFINITY),
            t => t.parse().map_or_else(|_| Cell::Text(t.into()), Cell::Float),
        },
        "NUMERIC" | "BIGNUMERIC" => Cell::Decimal(plain_decimal(text)),
        "BOOLEAN" | "BOOL" => Cell::Bool(text == "true"),
        // µs as an integer (useInt64Timestamp), or float seconds from older servers.
        "TIMESTAMP" => text
            .parse::<i64>()
            .ok()
            .or_else(|| text.parse::<f64>().ok().map(|s| (s * 1e6).round() as i64))
            .map_or_else(|| Cell::Text(text.into()), Cell::Timestamp),
        "DATE" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_or_else(|_| Cell::Text(text.into()), Cell::Date),
        "BYTES" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_or_else(|_| Cell::Text(text.into()), Cell::Bytes),
        _ => Cell::Text(text.into()),
    }
}

/// NUMERIC text in plain notation (`0E-9` → `0`).
fn plain_decimal(text: &str) -> String {
    if text.contains(['E', 'e']) {
        text.parse::<f64>()
            .map_or_else(|_| text.to_string(), |f| f.to_string())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_shorter_or_longer_than_its_schema_is_an_error_not_a_panic() {
        let fields = vec![
            json!({ "name": "a", "type": "STRING" }),
            json!({ "name": "b", "type": "INT64" }),
        ];
        let short = json!({ "f": [{ "v": "x" }] });
        let err = decode_row(&short, &fields).unwrap_err().to_string();
        assert!(err.contains("1 cells for a schema of 2 columns"), "{err}");
        let long = json!({ "f": [{ "v": "x" }, { "v": "1" }, { "v": "2" }] });
        assert!(decode_row(&long, &fields).is_err());
        let fits = json!({ "f": [{ "v": "x" }, { "v": "1" }] });
        assert_eq!(decode_row(&fits, &fields).unwrap().len(), 2);
    }

    #[test]
    fn cells_decode_by_type() {
        let field = |t: &str| json!({ "name": "x", "type": t });
        assert_eq!(decode(&json!("42"), &field("INTEGER")), Cell::Int(42));
        assert_eq!(
            decode(&json!("4.350000000"), &field("NUMERIC")),
            Cell::Decimal("4.350000000".into())
        );
        assert_eq!(
            decode(&json!("0E-9"), &field("NUMERIC")),
            Cell::Decimal("0".into())
        );
        assert_eq!(
            decode(&json!("1795791600000000"), &field("TIMESTAMP")),
            Cell::Timestamp(1_795_791_600_000_000)
        );
        assert_eq!(
            decode(&json!("1.7957916E9"), &field("TIMESTAMP")),
            Cell::Timestamp(1_795_791_600_000_000)
        );
        assert_eq!(decode(&json!("true"), &field("BOOLEAN")), Cell::Bool(true));
        assert_eq!(decode(&Value::Null, &field("STRING")), Cell::Null);
        assert!(matches!(decode(&json!("nan"), &field("FLOAT")), Cell::Float(f) if f.is_nan()));
    }
}
