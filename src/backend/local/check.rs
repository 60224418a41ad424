//! SQL checked by DuckDB itself, without touching the warehouse: an in-memory database with the
//! plan's schema, tables and views, then every query run against the empty tables — which also
//! tells the columns each query returns, for checking dashboards.

use anyhow::Result;
use duckdb::Connection;
use duckdb::arrow::datatypes::DataType;

use super::duckdb_value;
use super::provision::create_table_sql;
use crate::backend::sql_check::{Checked, Columns, Problem};
use crate::plan::{Desired, Plan, ResourceId};

/// Problems, and the result columns of the queries that ran.
pub fn check_sql(plan: &Plan, queries: &[Checked]) -> Result<(Vec<Problem>, Columns)> {
    // The spec's SQL runs here (over empty tables, for its result's shape): it gets no file,
    // network or extension access, and no extension is loaded on its behalf.
    let config = duckdb::Config::default()
        .enable_external_access(false)?
        .enable_autoload_extension(false)?;
    let conn = Connection::open_in_memory_with_flags(config)?;
    let mut problems = Vec::new();
    for r in &plan.resources {
        match &r.desired {
            // Unqualified names resolve in the dataset, as they do when the query runs.
            Desired::Dataset(d) => conn.execute_batch(&format!(
                "CREATE SCHEMA \"{0}\"; SET schema = '{0}'",
                d.name
            ))?,
            Desired::Table(t) => conn.execute_batch(&create_table_sql(t))?,
            // Made as `up` makes it, and its fold run once over an empty staged batch: a
            // mistake surfaces here, not mid-load (`rollup.rs`).
            Desired::MaterializedView(m) => {
                let made = super::rollup::create(&conn, m).and_then(|()| match &m.batch_sql {
                    Some(_) => {
                        super::rollup::stage(&conn, &m.dataset, &m.base)?;
                        Ok(conn.execute_batch(&super::rollup::merge_sql(m)?)?)
                    }
                    None => Ok(()),
                });
                if let Err(e) = made {
                    problems.push((
                        "materialized view",
                        m.name.clone(),
                        first_line(&format!("{e:#}")),
                    ));
                }
            }
            _ => {}
        }
    }
    // Views in dependency order; a view whose dependency failed is reported once, at the root.
    let mut done: Vec<&ResourceId> = Vec::new();
    let views: Vec<_> = plan
        .resources
        .iter()
        .filter(|r| matches!(r.desired, Desired::View(_)))
        .collect();
    let mut pending = views.clone();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|r| {
            let Desired::View(v) = &r.desired else {
                return false;
            };
            let ready = r
                .deps
                .iter()
                .all(|d| done.contains(&d) || !views.iter().any(|w| &w.id == d));
            if !ready {
                return true;
            }
            let sql = format!("CREATE VIEW \"{}\".\"{}\" AS\n{}", v.dataset, v.name, v.sql);
            match conn.execute_batch(&sql) {
                Ok(()) => done.push(&r.id),
                Err(e) => problems.push(("view", v.name.clone(), first_line(&e.to_string()))),
            }
            false
        });
        if pending.len() == before {
            break;
        }
    }
    let mut columns = Columns::new();
    for q in queries {
        match result_columns(&conn, q) {
            Ok(found) => {
                columns.insert(q.name.clone(), found);
            }
            Err(e) => problems.push(("query", q.name.clone(), first_line(&e.to_string()))),
        }
    }
    Ok((problems, columns))
}

/// Runs the query over the empty tables for its result's shape.
fn result_columns(conn: &Connection, q: &Checked) -> duckdb::Result<Vec<(String, &'static str)>> {
    let mut stmt = conn.prepare(&q.sql)?;
    let values: Vec<duckdb::types::Value> = q
        .params
        .iter()
        .map(|v| v.as_ref().map_or(duckdb::types::Value::Null, duckdb_value))
        .collect();
    let rows = stmt.query(duckdb::params_from_iter(values))?;
    let Some(stmt) = rows.as_ref() else {
        return Ok(vec![]);
    };
    Ok((0..stmt.column_count())
        .map(|i| {
            let name = stmt
                .column_name(i)
                .map_or_else(|_| format!("column{i}"), |n| n.clone());
            (name, type_name(&stmt.column_type(i)))
        })
        .collect())
}

/// The spec's vocabulary for a result column's type.
fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => "INT64",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "FLOAT64",
        DataType::Decimal128(..) | DataType::Decimal256(..) => "NUMERIC",
        DataType::Timestamp(..) => "TIMESTAMP",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING",
        DataType::Boolean => "BOOL",
        _ => "OTHER",
    }
}

fn first_line(text: &str) -> String {
    text.lines().take(3).collect::<Vec<_>>().join(" ")
}
