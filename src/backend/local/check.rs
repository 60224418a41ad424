//! SQL checked by DuckDB itself, without touching the warehouse: an in-memory database with the
//! plan's schema, tables and views, then every query prepared against it.

use anyhow::Result;
use duckdb::Connection;

use super::provision::create_table_sql;
use crate::plan::{Desired, Plan, ResourceId};

/// Problems as (kind, name, DuckDB's message).
pub fn check_sql(
    plan: &Plan,
    queries: &[(String, String)],
) -> Result<Vec<(&'static str, String, String)>> {
    let conn = Connection::open_in_memory()?;
    let mut problems = Vec::new();
    for r in &plan.resources {
        match &r.desired {
            Desired::Dataset(d) => conn.execute_batch(&format!("CREATE SCHEMA \"{}\"", d.name))?,
            Desired::Table(t) => conn.execute_batch(&create_table_sql(t))?,
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
    for (name, sql) in queries {
        if let Err(e) = conn.prepare(sql) {
            problems.push(("query", name.clone(), first_line(&e.to_string())));
        }
    }
    Ok(problems)
}

fn first_line(text: &str) -> String {
    text.lines().take(3).collect::<Vec<_>>().join(" ")
}
