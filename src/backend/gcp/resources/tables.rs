//! Datasets, tables, views and the dimension rows: observed in the plan's comparable form,
//! created or patched (docs/gcp-apis.md#bigquery).

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::{changed, millis};
use crate::backend::gcp::bigquery::{self as bq, Field};
use crate::backend::gcp::{Gcp, ROWS_LABEL, SQL_LABEL};
use crate::generate::{Model, dimensions};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{
    ColumnDef, DatasetDef, Fields, Labels, RowsDef, TableDef, ViewDef, columns_text, duration,
};
use crate::spec::types::Granularity;

impl Gcp {
    /// A dataset: location, description, default table expiration.
    pub(super) async fn observe_dataset(&self, d: &DatasetDef) -> Result<Observed> {
        let p = &self.project;
        Ok(match bq::get_dataset(&self.api, p, &d.name).await? {
            None => Observed::Missing,
            Some(ds) => {
                let mut f = Fields::new();
                f.insert("location", ds.location.clone().unwrap_or_default());
                f.insert("description", ds.description.clone().unwrap_or_default());
                f.insert(
                    "default_table_expiration",
                    millis(ds.default_table_expiration_ms.as_ref())
                        .map_or("default".into(), duration),
                );
                self.present(&ds.labels, f)
            }
        })
    }

    /// A table: its columns, partitioning and clustering.
    pub(super) async fn observe_table(&self, t: &TableDef) -> Result<Observed> {
        let p = &self.project;
        Ok(
            match bq::get_table(&self.api, p, &t.dataset, &t.name).await? {
                None => Observed::Missing,
                Some(table) => self.present(&table.labels, table_fields(&table, t)),
            },
        )
    }

    /// A view: its SQL as BigQuery returns it.
    pub(super) async fn observe_view(&self, v: &ViewDef) -> Result<Observed> {
        let p = &self.project;
        Ok(
            match bq::get_table(&self.api, p, &v.dataset, &v.name).await? {
                None => Observed::Missing,
                Some(table) => {
                    let mut f = Fields::new();
                    f.insert("description", table.description.clone().unwrap_or_default());
                    // The SQL as BigQuery returns it; where a server does not return it (some
                    // emulators), the fingerprint label written with it stands in.
                    let returned = table
                        .view
                        .as_ref()
                        .map(|v| v.query.clone())
                        .filter(|q| !q.is_empty());
                    let sql = match returned {
                        Some(sql) => sql,
                        None if table.labels.get(SQL_LABEL) == Some(&fingerprint_label(&v.sql)) => {
                            v.sql.clone()
                        }
                        None => "(not readable)".into(),
                    };
                    f.insert("sql", sql);
                    self.present(&table.labels, f)
                }
            },
        )
    }

    /// The dimension rows: which model loaded them (a label on their table).
    pub(super) async fn observe_rows(&self, rows: &RowsDef) -> Result<Observed> {
        let p = &self.project;
        Ok({
            match bq::get_table(&self.api, p, &rows.dataset, &rows.table).await? {
                None => Observed::Missing,
                Some(table) => {
                    let mut f = Fields::new();
                    let loaded = table.labels.get(ROWS_LABEL);
                    let want = fingerprint_label(&rows.fingerprint);
                    f.insert(
                        "fingerprint",
                        match loaded {
                            Some(l) if *l == want => rows.fingerprint.clone(),
                            Some(l) => format!("rows of another model ({l})"),
                            None => "(not loaded)".into(),
                        },
                    );
                    Observed::Present {
                        fields: f,
                        owned: self.owned(&table.labels),
                    }
                }
            }
        })
    }

    /// Creates or patches a dataset.
    pub(super) async fn apply_dataset(&self, d: &DatasetDef, change: &Change) -> Result<String> {
        let p = &self.project;
        let labels = &change.resource.labels;
        let create = change.action == Action::Create;
        if create {
            bq::insert_dataset(&self.api, p, &dataset_body(p, d, labels)).await?;
            return Ok("created".into());
        }
        bq::patch_dataset(
            &self.api,
            p,
            &d.name,
            json!({
                "labels": labels,
                "description": d.description,
                "defaultTableExpirationMs": d.default_table_expiration.map(|e| e.as_millis().to_string()),
            }),
        )
        .await?;
        Ok(format!("updated {}", changed(change)))
    }

    /// Creates a table, or patches it (new NULLABLE columns appended to its own schema).
    pub(super) async fn apply_table(&self, t: &TableDef, change: &Change) -> Result<String> {
        let p = &self.project;
        let labels = &change.resource.labels;
        let create = change.action == Action::Create;
        let mut labels = labels.clone();
        if create {
            bq::insert_table(&self.api, p, &table_body(p, t, &labels)).await?;
            return Ok("created".into());
        }
        let existing = bq::get_table(&self.api, p, &t.dataset, &t.name).await?;
        // Keep the dimension fingerprint the rows step wrote.
        if let Some(rows) = existing.as_ref().and_then(|e| e.labels.get(ROWS_LABEL)) {
            labels.insert(ROWS_LABEL.into(), rows.clone());
        }
        let body = table_body(p, t, &labels);
        let schema = existing
            .as_ref()
            .and_then(|e| e.schema.as_ref())
            .map_or(body.schema.clone(), |s| Some(extended(s, t)));
        bq::patch_table(
            &self.api,
            p,
            &t.dataset,
            &t.name,
            json!({ "schema": schema, "labels": labels, "description": t.description, "clustering": body.clustering }),
        )
        .await?;
        Ok(format!("updated {}", changed(change)))
    }

    /// Creates or patches a view.
    pub(super) async fn apply_view(&self, v: &ViewDef, change: &Change) -> Result<String> {
        let p = &self.project;
        let labels = &change.resource.labels;
        let create = change.action == Action::Create;
        let mut labels = labels.clone();
        labels.insert(SQL_LABEL.into(), fingerprint_label(&v.sql));
        if create {
            bq::insert_table(&self.api, p, &view_body(p, v, &labels)).await?;
            return Ok("created".into());
        }
        bq::patch_table(
            &self.api,
            p,
            &v.dataset,
            &v.name,
            json!({ "view": { "query": v.sql, "useLegacySql": false }, "labels": labels, "description": v.description }),
        )
        .await?;
        Ok(format!("updated {}", changed(change)))
    }

    /// Replaces a dimension table's rows with the generator's, through DML (streamed rows could
    /// not be deleted for up to 90 minutes), then records the fingerprint as a table label.
    pub(super) async fn load_rows(&self, rows: &RowsDef, change: &Change) -> Result<String> {
        let p = &self.project;
        let table = bq::get_table(&self.api, p, &rows.dataset, &rows.table)
            .await?
            .ok_or_else(|| anyhow!("table {}.{} is missing", rows.dataset, rows.table))?;
        let fields = table
            .schema
            .as_ref()
            .map(|s| s.fields.clone())
            .unwrap_or_default();
        let model = Model::new(&rows.model);
        let data = dimensions::rows(&model, rows.source);
        let target = format!("`{p}.{}.{}`", rows.dataset, rows.table);
        let query_labels = self.job_labels();
        let options = bq::QueryOptions::statement(&self.location, &query_labels);
        if change.action != Action::Create || table.num_rows.as_deref().is_some_and(|n| n != "0") {
            bq::query(
                &self.api,
                p,
                &format!("DELETE FROM {target} WHERE TRUE"),
                &options,
            )
            .await?;
        }
        let columns: Vec<&Field> = fields
            .iter()
            .filter(|f| data.first().is_some_and(|row| row.get(&f.name).is_some()))
            .collect();
        // Batches keep each statement well under BigQuery's query size limit.
        for chunk in data.chunks(500) {
            let values = chunk
                .iter()
                .map(|row| {
                    let cells = columns
                        .iter()
                        .map(|f| literal(row.get(&f.name).unwrap_or(&Value::Null), &f.field_type))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(format!("({})", cells.join(", ")))
                })
                .collect::<Result<Vec<_>>>()?;
            let names: Vec<String> = columns.iter().map(|f| format!("`{}`", f.name)).collect();
            let sql = format!(
                "INSERT INTO {target} ({}) VALUES\n{}",
                names.join(", "),
                values.join(",\n")
            );
            bq::query(&self.api, p, &sql, &options)
                .await
                .context("loading dimension rows")?;
        }
        let mut labels = table.labels.clone();
        labels.insert(ROWS_LABEL.into(), fingerprint_label(&rows.fingerprint));
        bq::patch_table(
            &self.api,
            p,
            &rows.dataset,
            &rows.table,
            json!({ "labels": labels }),
        )
        .await?;
        Ok(format!("loaded {} rows", data.len()))
    }
}

/// The table's schema as it is, with the spec's new columns after it. BigQuery accepts a
/// patched schema that keeps every existing field in its place and appends NULLABLE ones; the
/// plan (`plan/columns.rs`) only lets such a change through. Order in the spec does not matter
/// to the loaders, which write by name.
fn extended(existing: &bq::Schema, t: &TableDef) -> bq::Schema {
    let mut fields = existing.fields.clone();
    for c in &t.columns {
        if !fields.iter().any(|f| f.name == c.name) {
            fields.push(field(c));
        }
    }
    bq::Schema { fields }
}

/// A label value for the dimension fingerprint: labels hold at most 63 lowercase characters.
pub fn fingerprint_label(fingerprint: &str) -> String {
    format!("{:016x}", crate::plan::fnv1a(fingerprint.as_bytes()))
}

/// A JSON value as a GoogleSQL literal of the column's type.
fn literal(value: &Value, field_type: &str) -> Result<String> {
    Ok(match (value, field_type) {
        (Value::Null, _) => "NULL".into(),
        (Value::String(s), _) => {
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    '\\' => "\\\\".to_string(),
                    '\'' => "\\'".to_string(),
                    '\n' => "\\n".to_string(),
                    '\r' => "\\r".to_string(),
                    c if c.is_control() => format!("\\u{:04x}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            format!("'{escaped}'")
        }
        (Value::Bool(b), _) => if *b { "TRUE" } else { "FALSE" }.into(),
        (Value::Number(n), "NUMERIC" | "BIGNUMERIC") => format!("NUMERIC '{n}'"),
        (Value::Number(n), _) => n.to_string(),
        (other, t) => bail!("cannot write {other} into a {t} column"),
    })
}

fn dataset_body(project: &str, d: &DatasetDef, labels: &Labels) -> bq::Dataset {
    bq::Dataset {
        dataset_reference: bq::DatasetReference {
            project_id: project.into(),
            dataset_id: d.name.clone(),
        },
        location: d.location.clone(),
        labels: labels.clone(),
        description: d.description.clone(),
        default_table_expiration_ms: d
            .default_table_expiration
            .map(|e| e.as_millis().to_string()),
        access: None,
    }
}

fn field(c: &ColumnDef) -> Field {
    // "NUMERIC(18, 2)" → type NUMERIC, precision "18", scale "2".
    let (field_type, precision, scale) = match c.bigquery_type.split_once('(') {
        Some((t, args)) => {
            let mut parts = args
                .trim_end_matches(')')
                .split(',')
                .map(|a| a.trim().to_string());
            (t.to_string(), parts.next(), parts.next())
        }
        None => (c.bigquery_type.clone(), None, None),
    };
    Field {
        name: c.name.clone(),
        field_type,
        mode: Some(
            if c.repeated {
                "REPEATED"
            } else if c.required {
                "REQUIRED"
            } else {
                "NULLABLE"
            }
            .into(),
        ),
        description: c.description.clone(),
        precision,
        scale,
        fields: c.fields.iter().map(field).collect(),
        other: Default::default(),
    }
}

/// The schema as the API returns it, in the plan's notation (legacy type names normalised).
fn column_def(f: &Field) -> ColumnDef {
    let base = match f.field_type.as_str() {
        "INTEGER" => "INT64",
        "FLOAT" => "FLOAT64",
        "BOOLEAN" => "BOOL",
        "STRUCT" => "RECORD",
        other => other,
    };
    let bigquery_type = match (&f.precision, &f.scale) {
        (Some(p), s) => format!("{base}({p}, {})", s.as_deref().unwrap_or("0")),
        (None, Some(s)) => format!("{base}({}, {s})", 29 + s.parse::<u32>().unwrap_or(0)),
        (None, None) => base.to_string(),
    };
    ColumnDef {
        name: f.name.clone(),
        bigquery_type,
        duckdb_type: String::new(),
        required: f.mode.as_deref() == Some("REQUIRED"),
        repeated: f.mode.as_deref() == Some("REPEATED"),
        description: f.description.clone(),
        fields: f.fields.iter().map(column_def).collect(),
    }
}

fn table_body(project: &str, t: &TableDef, labels: &Labels) -> bq::Table {
    bq::Table {
        table_reference: bq::TableReference {
            project_id: project.into(),
            dataset_id: t.dataset.clone(),
            table_id: t.name.clone(),
        },
        schema: Some(bq::Schema {
            fields: t.columns.iter().map(field).collect(),
        }),
        time_partitioning: t.partitioning.as_ref().map(|(column, g, expiration)| {
            bq::TimePartitioning {
                partition_type: format!("{g:?}"),
                field: Some(column.clone()),
                expiration_ms: expiration.map(|e| e.as_millis().to_string()),
            }
        }),
        clustering: (!t.clustering.is_empty()).then(|| bq::Clustering {
            fields: t.clustering.clone(),
        }),
        view: None,
        materialized_view: None,
        labels: labels.clone(),
        description: t.description.clone(),
        table_type: None,
        num_rows: None,
        streaming_buffer: None,
    }
}

fn table_fields(table: &bq::Table, desired: &TableDef) -> Fields {
    let mut f = Fields::new();
    f.insert("description", table.description.clone().unwrap_or_default());
    let mut columns: Vec<ColumnDef> = table
        .schema
        .as_ref()
        .map(|s| s.fields.iter().map(column_def).collect())
        .unwrap_or_default();
    // A server that does not echo NUMERIC precision and scale (some emulators) cannot show a
    // difference there: take the declared ones rather than report a change that is none.
    for c in columns.iter_mut().filter(|c| c.bigquery_type == "NUMERIC") {
        let declared = desired.columns.iter().find(|d| d.name == c.name);
        if let Some(d) = declared.filter(|d| d.bigquery_type.starts_with("NUMERIC")) {
            c.bigquery_type = d.bigquery_type.clone();
        }
    }
    f.insert("columns", columns_text(&columns));
    f.insert(
        "partitioning",
        table.time_partitioning.as_ref().map_or("none".into(), |p| {
            let granularity = match p.partition_type.as_str() {
                "HOUR" => Granularity::HOUR,
                "MONTH" => Granularity::MONTH,
                "YEAR" => Granularity::YEAR,
                _ => Granularity::DAY,
            };
            let expiring = millis(p.expiration_ms.as_ref())
                .map(|e| format!(" expiring after {}", duration(e)))
                .unwrap_or_default();
            format!(
                "{granularity:?}({}){expiring}",
                p.field.as_deref().unwrap_or("_PARTITIONTIME")
            )
        }),
    );
    f.insert(
        "clustering",
        table
            .clustering
            .as_ref()
            .filter(|c| !c.fields.is_empty())
            .map_or("none".into(), |c| c.fields.join(", ")),
    );
    f
}

fn view_body(project: &str, v: &ViewDef, labels: &Labels) -> bq::Table {
    bq::Table {
        table_reference: bq::TableReference {
            project_id: project.into(),
            dataset_id: v.dataset.clone(),
            table_id: v.name.clone(),
        },
        view: Some(bq::ViewDefinition {
            query: v.sql.clone(),
            use_legacy_sql: false,
        }),
        labels: labels.clone(),
        description: v.description.clone(),
        ..bq::Table::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_for_googlesql() {
        assert_eq!(
            literal(&json!("Nimbus 55\" TV's"), "STRING").unwrap(),
            "'Nimbus 55\" TV\\'s'"
        );
        assert_eq!(
            literal(&json!(199.99), "NUMERIC").unwrap(),
            "NUMERIC '199.99'"
        );
        assert_eq!(literal(&json!(true), "BOOLEAN").unwrap(), "TRUE");
        assert_eq!(literal(&Value::Null, "STRING").unwrap(), "NULL");
        assert!(literal(&json!([1]), "STRING").is_err());
    }

    #[test]
    fn numeric_columns_round_trip_through_the_api_notation() {
        let c = ColumnDef {
            name: "price".into(),
            bigquery_type: "NUMERIC(18, 2)".into(),
            duckdb_type: String::new(),
            required: true,
            repeated: false,
            description: None,
            fields: vec![],
        };
        let f = field(&c);
        assert_eq!(
            (
                f.field_type.as_str(),
                f.precision.as_deref(),
                f.scale.as_deref()
            ),
            ("NUMERIC", Some("18"), Some("2"))
        );
        assert_eq!(columns_text(&[column_def(&f)]), columns_text(&[c]));
        let legacy = Field {
            name: "n".into(),
            field_type: "INTEGER".into(),
            ..Field::default()
        };
        assert_eq!(column_def(&legacy).bigquery_type, "INT64");
    }

    #[test]
    fn fingerprint_labels_are_valid_label_values() {
        let l = fingerprint_label("GeneratorProducts bqflow-model-1 seed=42");
        assert!(crate::spec::names::label_value(&l).is_ok());
        assert_ne!(
            l,
            fingerprint_label("GeneratorProducts bqflow-model-1 seed=43")
        );
    }
}
