//! The one query `verify` runs per fact table and generator seed, in either dialect: of the
//! ids with a given prefix (`T42-17`: sales of seed 42), how many were expected, how many
//! distinct ones landed, how many rows carry them, and how many landed unacknowledged.

use anyhow::{Result, anyhow};

use super::Dialect;
use crate::output::{QueryResult, Value};

/// One fact table's counts for one seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdCounts {
    pub expected: u64,
    pub distinct: u64,
    pub copies: u64,
    pub unacknowledged: u64,
}

/// The ids to count: in `column` of `relation`, those starting with `prefix` and numbered
/// after it. `acknowledged` are the inclusive ranges the generator was told had been
/// delivered; `None` (the local target, exactly-once by construction) expects every number
/// from 1 to the highest that landed.
pub struct IdQuery<'a> {
    pub relation: &'a str,
    pub column: &'a str,
    pub prefix: &'a str,
    pub acknowledged: Option<&'a [(u64, u64)]>,
}

impl IdQuery<'_> {
    /// The counting query. The prefix and ranges are made by bqflow (a letter, a seed and
    /// numbers), never spec input; the relation comes from the renderer.
    pub fn sql(&self, dialect: Dialect) -> String {
        let (column, prefix) = (self.column, self.prefix);
        let from = prefix.len() + 1;
        let (number, starts) = match dialect {
            Dialect::BigQuery => (
                format!("SAFE_CAST(SUBSTR({column}, {from}) AS INT64)"),
                format!("STARTS_WITH({column}, '{prefix}')"),
            ),
            Dialect::DuckDb => (
                format!("TRY_CAST(substr({column}, {from}) AS BIGINT)"),
                format!("starts_with({column}, '{prefix}')"),
            ),
        };
        let expected = match self.acknowledged {
            Some(ranges) => ranges
                .iter()
                .map(|(a, b)| b - a + 1)
                .sum::<u64>()
                .to_string(),
            None => "COALESCE(MAX(n), 0)".into(),
        };
        let acked = match self.acknowledged {
            None => "TRUE".to_string(),
            Some([]) => "FALSE".to_string(),
            Some(ranges) => ranges
                .iter()
                .map(|(a, b)| format!("(n BETWEEN {a} AND {b})"))
                .collect::<Vec<_>>()
                .join(" OR "),
        };
        format!(
            "SELECT {expected} AS expected, COUNT(DISTINCT CASE WHEN {acked} THEN n END) AS distinct_ids, \
             SUM(CASE WHEN {acked} THEN 1 ELSE 0 END) AS copies, SUM(CASE WHEN {acked} THEN 0 ELSE 1 END) AS unacknowledged \
             FROM (SELECT {number} AS n FROM {} WHERE {starts}) AS ids",
            self.relation
        )
    }

    /// The counts from the query's one row. A cell that cannot be read is an error, never a
    /// silent 0; NULL (no matching rows) is 0.
    pub fn read(&self, result: &QueryResult) -> Result<IdCounts> {
        let number = |col: usize| -> Result<u64> {
            match result.rows.first().and_then(|r| r.get(col)) {
                Some(Value::Int(n)) => Ok((*n).max(0) as u64),
                Some(Value::Decimal(d)) => d
                    .split('.')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| anyhow!("verify could not read the count `{d}`")),
                Some(Value::Null) => Ok(0),
                other => Err(anyhow!(
                    "verify could not read a count from {}: {other:?}",
                    self.relation
                )),
            }
        };
        Ok(IdCounts {
            expected: number(0)?,
            distinct: number(1)?,
            copies: number(2)?,
            unacknowledged: number(3)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_query_bounds_ids_by_the_acknowledged_ranges() {
        let ranges = [(1, 10), (20, 29)];
        let q = IdQuery {
            relation: "`p.d.t`",
            column: "transaction_id",
            prefix: "T42-",
            acknowledged: Some(&ranges),
        };
        let sql = q.sql(Dialect::BigQuery);
        assert!(sql.starts_with("SELECT 20 AS expected"), "{sql}");
        assert!(
            sql.contains("(n BETWEEN 1 AND 10) OR (n BETWEEN 20 AND 29)")
                && sql.contains("SUBSTR(transaction_id, 5)")
        );
        let local = IdQuery {
            relation: "\"d\".\"t\"",
            column: "event_id",
            prefix: "I7-",
            acknowledged: None,
        }
        .sql(Dialect::DuckDb);
        assert!(
            local.contains("COALESCE(MAX(n), 0)") && local.contains("starts_with(event_id, 'I7-')")
        );
        let nothing_acked = IdQuery {
            acknowledged: Some(&[]),
            ..q
        };
        assert!(
            nothing_acked
                .sql(Dialect::BigQuery)
                .contains("WHEN FALSE THEN")
        );
    }

    #[test]
    fn an_unreadable_count_is_an_error_and_null_is_zero() {
        let q = IdQuery {
            relation: "t",
            column: "c",
            prefix: "T1-",
            acknowledged: None,
        };
        let row = |cells: Vec<Value>| QueryResult {
            rows: vec![cells],
            ..Default::default()
        };
        let ok = q
            .read(&row(vec![
                Value::Int(5),
                Value::Decimal("4".into()),
                Value::Null,
                Value::Int(-1),
            ]))
            .unwrap();
        assert_eq!(
            ok,
            IdCounts {
                expected: 5,
                distinct: 4,
                copies: 0,
                unacknowledged: 0
            }
        );
        let bad = q.read(&row(vec![Value::Text("five".into())]));
        assert!(bad.unwrap_err().to_string().contains("could not read"));
    }
}
