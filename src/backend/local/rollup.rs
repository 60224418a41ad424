//! Materialized views on the local target: DuckDB has none, so each is a table the loader
//! keeps up to date. A batch of rows is staged in `sql::rollup::BATCH_RELATION`, appended to
//! its table, and the view's SQL over just the batch is merged into the view's table — all in
//! the transaction that records the batch's segments as consumed. A crash before the commit
//! leaves neither the rows nor their share of the aggregate; after it, both. Exactly-once for
//! the facts is therefore exactly-once for the rollups (docs/materialized-views.md).

use anyhow::{Context, Result};
use duckdb::Connection;

use super::provision::relation;
use crate::plan::MaterializedViewDef;
use crate::sql::rollup::{BATCH_RELATION, Merge};

/// The rollup's table, filled from the rows its table already holds.
pub fn create_sql(m: &MaterializedViewDef) -> String {
    format!(
        "CREATE TABLE {} AS\n{}",
        relation(&m.dataset, &m.name),
        m.sql
    )
}

/// Makes the staging table empty and shaped like `dataset.table` (its real columns, in order).
pub fn stage(conn: &Connection, dataset: &str, table: &str) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE _bqflow_batch AS SELECT * FROM {} LIMIT 0",
        relation(dataset, table)
    ))?;
    Ok(())
}

/// Appends the staged batch to its table and merges it into every rollup of that table.
pub fn fold(
    conn: &Connection,
    dataset: &str,
    table: &str,
    rollups: &[MaterializedViewDef],
) -> Result<()> {
    conn.execute_batch(&format!(
        "INSERT INTO {} BY NAME SELECT * FROM {BATCH_RELATION}",
        relation(dataset, table)
    ))?;
    for m in rollups {
        conn.execute_batch(&merge_sql(m)?)
            .with_context(|| format!("folding a batch into materialized view `{}`", m.name))?;
    }
    Ok(())
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One partial value merged into another; NULL (an aggregate over no non-NULL value) is the
/// identity, as for the aggregate itself.
fn merged(column: &str, merge: Merge) -> String {
    let (t, s) = (format!("t.{column}"), format!("s.{column}"));
    let both = match merge {
        Merge::Add => format!("{t} + {s}"),
        Merge::Min => format!("LEAST({t}, {s})"),
        Merge::Max => format!("GREATEST({t}, {s})"),
    };
    format!("CASE WHEN {t} IS NULL THEN {s} WHEN {s} IS NULL THEN {t} ELSE {both} END")
}

/// MERGE of the batch's aggregate into the view's table, matching keys NULL-safely.
pub fn merge_sql(m: &MaterializedViewDef) -> Result<String> {
    let batch = m
        .batch_sql
        .as_deref()
        .context("a local materialized view without its batch SQL")?;
    let keys: Vec<String> = m.shape.keys.iter().map(|k| quote(k)).collect();
    let on = if keys.is_empty() {
        "TRUE".to_string()
    } else {
        keys.iter()
            .map(|k| format!("t.{k} IS NOT DISTINCT FROM s.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let set = m
        .shape
        .measures
        .iter()
        .map(|(name, merge)| format!("{} = {}", quote(name), merged(&quote(name), *merge)))
        .collect::<Vec<_>>()
        .join(", ");
    let columns: Vec<String> = keys
        .iter()
        .cloned()
        .chain(m.shape.measures.iter().map(|(n, _)| quote(n)))
        .collect();
    Ok(format!(
        "MERGE INTO {} AS t USING ({batch}) AS s ON ({on})
         WHEN MATCHED THEN UPDATE SET {set}
         WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
        relation(&m.dataset, &m.name),
        columns.join(", "),
        columns
            .iter()
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
