//! `up` on the local target: topics are folders, the dataset a DuckDB schema, tables and views
//! DuckDB relations. What was applied is recorded in `_bqflow.resources`, the local stand-in for
//! cloud metadata and labels: a relation without a record was not made by bqflow.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use duckdb::OptionalExt;

use super::record::RowSchema;
use super::shape;
use super::topic_log::TopicLog;
use super::warehouse::{META, Warehouse};
use crate::generate::{Model, dimensions};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{ColumnDef, Desired, Fields, Resource, TableDef};

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn relation(dataset: &str, name: &str) -> String {
    format!("{}.{}", quote(dataset), quote(name))
}

fn recorded(wh: &Warehouse, r: &Resource) -> Result<Option<Fields>> {
    let json: Option<String> = wh
        .conn
        .query_row(
            &format!("SELECT fields FROM {META}.resources WHERE kind = ? AND name = ?"),
            [r.id.kind.noun(), r.id.name.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    let Some(json) = json else { return Ok(None) };
    let map: BTreeMap<String, String> =
        serde_json::from_str(&json).context("corrupt resource record")?;
    // Keep only fields the current version compares; keys are 'static in `Fields`.
    let desired = r.fields();
    Ok(Some(
        desired
            .keys()
            .filter_map(|k| map.get(*k).map(|v| (*k, v.clone())))
            .collect(),
    ))
}

fn record(wh: &Warehouse, r: &Resource) -> Result<()> {
    let fields: BTreeMap<&str, String> = r.fields();
    wh.conn.execute(
        &format!(
            "INSERT INTO {META}.resources VALUES (?, ?, ?, now()::TIMESTAMP)
             ON CONFLICT (kind, name) DO UPDATE SET fields = excluded.fields, updated_at = excluded.updated_at"
        ),
        [r.id.kind.noun(), r.id.name.as_str(), serde_json::to_string(&fields)?.as_str()],
    )?;
    Ok(())
}

fn relation_exists(wh: &Warehouse, dataset: &str, name: &str) -> Result<bool> {
    let n: i64 = wh.conn.query_row(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [dataset, name],
        |row| row.get(0),
    )?;
    Ok(n > 0)
}

fn physically_exists(wh: &Warehouse, root: &Path, r: &Resource) -> Result<Option<bool>> {
    Ok(match &r.desired {
        Desired::Topic(t) => Some(TopicLog::dir_for(root, &t.name).is_dir()),
        Desired::Dataset(d) => {
            let n: i64 = wh.conn.query_row(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
                [d.name.as_str()],
                |row| row.get(0),
            )?;
            Some(n > 0)
        }
        Desired::Table(t) => Some(relation_exists(wh, &t.dataset, &t.name)?),
        Desired::View(v) => Some(relation_exists(wh, &v.dataset, &v.name)?),
        Desired::MaterializedView(m) => Some(relation_exists(wh, &m.dataset, &m.name)?),
        Desired::Rows(rows) => Some(relation_exists(wh, &rows.dataset, &rows.table)?),
        // Subscriptions and pipelines exist only as records locally; buckets not at all
        // (local plans have none).
        Desired::Subscription(_) | Desired::Pipeline(_) | Desired::Bucket(_) => None,
    })
}

pub fn observe(wh: &Warehouse, root: &Path, r: &Resource) -> Result<Observed> {
    let mut fields = recorded(wh, r)?;
    // A table's columns are what the warehouse has, whatever bqflow last recorded: someone may
    // have altered it, and the loader writes into what is there.
    if let (Desired::Table(t), Some(fields)) = (&r.desired, fields.as_mut()) {
        let actual = shape::actual(wh, &t.dataset, &t.name)?;
        if !actual.is_empty() {
            fields.insert("columns", shape::columns_as_planned(&actual, t));
        }
    }
    Ok(match (physically_exists(wh, root, r)?, fields) {
        (Some(false), _) | (None, None) => Observed::Missing,
        (_, Some(fields)) => Observed::Present {
            fields,
            owned: true,
        },
        // A relation or folder bqflow has no record of: someone else's.
        (Some(true), None) => Observed::Present {
            fields: Fields::new(),
            owned: false,
        },
    })
}

/// Applies a create or update; returns what was done, for the progress line.
pub fn apply(wh: &Warehouse, root: &Path, change: &Change) -> Result<String> {
    let r = &change.resource;
    let creating = change.action == Action::Create;
    let replacing = matches!(change.action, Action::Replace(_));
    let what = match &r.desired {
        Desired::Topic(t) => {
            TopicLog::create(root, &t.name)?;
            if creating { "created" } else { "updated" }.to_string()
        }
        Desired::Dataset(d) => {
            wh.conn
                .execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote(&d.name)))?;
            if creating { "created" } else { "updated" }.to_string()
        }
        Desired::Table(t) if creating => {
            wh.conn.execute_batch(&create_table_sql(t))?;
            "created".into()
        }
        Desired::Table(t) => {
            let added = add_missing_columns(wh, t)?;
            if added.is_empty() {
                "updated".into()
            } else {
                format!("added columns {}", added.join(", "))
            }
        }
        Desired::View(v) => {
            wh.conn
                .execute_batch(&format!(
                    "CREATE OR REPLACE VIEW {} AS\n{}",
                    relation(&v.dataset, &v.name),
                    v.sql
                ))
                .with_context(|| format!("DuckDB rejected the SQL of view `{}`", v.name))?;
            if creating { "created" } else { "replaced" }.to_string()
        }
        // A table holding the aggregate, filled from the rows already there; from then on the
        // loader folds each batch in, in the batch's own transaction (`rollup.rs`).
        Desired::MaterializedView(m) if creating || replacing => {
            // Replaced in one transaction: readers see the old rollup or the new, never none.
            wh.transaction(|conn| {
                if replacing {
                    conn.execute_batch(&format!(
                        "DROP TABLE IF EXISTS {}",
                        relation(&m.dataset, &m.name)
                    ))?;
                }
                super::rollup::create(conn, m)
                    .with_context(|| format!("DuckDB rejected materialized view `{}`", m.name))
            })?;
            if replacing {
                "rebuilt from its tables"
            } else {
                "created"
            }
            .into()
        }
        Desired::MaterializedView(_) => "updated".into(),
        Desired::Rows(rows) => {
            let n = load_dimension(wh, rows)?;
            format!("loaded {n} rows")
        }
        Desired::Subscription(_) | Desired::Pipeline(_) | Desired::Bucket(_) => {
            if creating { "created" } else { "updated" }.to_string()
        }
    };
    record(wh, r)?;
    Ok(what)
}

/// What `apply` does for a change, as the DuckDB statements and file operations it runs
/// (`plan --explain` on the local target).
pub fn explain(root: &Path, change: &Change) -> Vec<String> {
    let creating = change.action == Action::Create;
    let replacing = matches!(change.action, Action::Replace(_));
    if !creating && !replacing && !matches!(change.action, Action::Update(_)) {
        return vec![];
    }
    let record = format!("-- and records {} in {META}.resources", change.resource.id);
    let mut out = match &change.resource.desired {
        Desired::Topic(t) => vec![format!(
            "mkdir -p {}",
            TopicLog::dir_for(root, &t.name).display()
        )],
        Desired::Dataset(d) => vec![format!("CREATE SCHEMA IF NOT EXISTS {};", quote(&d.name))],
        Desired::Table(t) if creating => vec![format!("{};", create_table_sql(t))],
        Desired::Table(t) => vec![format!(
            "-- ALTER TABLE {} ADD COLUMN … for each column the table lacks",
            relation(&t.dataset, &t.name)
        )],
        Desired::View(v) => vec![format!(
            "CREATE OR REPLACE VIEW {} AS\n{};",
            relation(&v.dataset, &v.name),
            v.sql
        )],
        Desired::MaterializedView(m) if creating || replacing => vec![format!(
            "{}{};\n-- with 128-bit sums stored as BIGINT or DECIMAL(18, s); then every load \
             MERGEs its batch in (docs/materialized-views.md)",
            if replacing {
                format!("DROP TABLE {};\n", relation(&m.dataset, &m.name))
            } else {
                String::new()
            },
            super::rollup::create_sql(m, &[])
        )],
        Desired::Rows(r) => vec![format!(
            "DELETE FROM {0}; INSERT INTO {0} … -- the generator's {1:?} rows",
            relation(&r.dataset, &r.table),
            r.source
        )],
        Desired::MaterializedView(_)
        | Desired::Subscription(_)
        | Desired::Pipeline(_)
        | Desired::Bucket(_) => vec![],
    };
    out.push(record);
    out
}

fn column_sql(c: &ColumnDef) -> String {
    let not_null = if c.required { " NOT NULL" } else { "" };
    // BigQuery's REPEATED columns are empty arrays, never NULL.
    let default = if c.repeated { " DEFAULT []" } else { "" };
    format!("{} {}{not_null}{default}", quote(&c.name), c.duckdb_type)
}

pub fn create_table_sql(t: &TableDef) -> String {
    let columns: Vec<String> = t.columns.iter().map(column_sql).collect();
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        relation(&t.dataset, &t.name),
        columns.join(",\n  ")
    )
}

fn add_missing_columns(wh: &Warehouse, t: &TableDef) -> Result<Vec<String>> {
    let existing = shape::actual(wh, &t.dataset, &t.name)?;
    let mut added = Vec::new();
    for c in &t.columns {
        if !existing.iter().any(|a| a.name == c.name) {
            wh.conn.execute_batch(&format!(
                "ALTER TABLE {} ADD COLUMN {}",
                relation(&t.dataset, &t.name),
                column_sql(c)
            ))?;
            added.push(c.name.clone());
        }
    }
    Ok(added)
}

/// Replaces a dimension table's rows with the generator's. The rows go through the same strict
/// message parser as events, so the table's declared types are honoured exactly.
fn load_dimension(wh: &Warehouse, rows: &crate::plan::RowsDef) -> Result<usize> {
    let Some(table) = table_columns(wh, rows)? else {
        anyhow::bail!("table {}.{} is missing", rows.dataset, rows.table)
    };
    let model = Model::new(&rows.model);
    let messages = dimensions::messages(&model, rows.source);
    let schema = RowSchema::new(&table);
    wh.transaction(|conn| {
        conn.execute_batch(&format!(
            "DELETE FROM {}",
            relation(&rows.dataset, &rows.table)
        ))?;
        let mut app = conn.appender_to_db(&rows.table, &rows.dataset)?;
        let mut row = Vec::new();
        for m in &messages {
            schema
                .parse(m.as_bytes(), &mut row)
                .map_err(|e| anyhow::anyhow!("dimension row does not fit {}: {e}", rows.table))?;
            app.append_row(duckdb::appender_params_from_iter(row.iter()))?;
        }
        app.flush()?;
        Ok(messages.len())
    })
}

/// The table's actual columns, as the row parser needs them.
fn table_columns(wh: &Warehouse, rows: &crate::plan::RowsDef) -> Result<Option<Vec<ColumnDef>>> {
    let columns: Vec<ColumnDef> = shape::actual(wh, &rows.dataset, &rows.table)?
        .into_iter()
        .map(|a| ColumnDef {
            name: a.name,
            bigquery_type: String::new(),
            duckdb_type: a.duckdb_type,
            required: !a.nullable,
            repeated: false,
            description: None,
            fields: vec![],
        })
        .collect();
    Ok((!columns.is_empty()).then_some(columns))
}
