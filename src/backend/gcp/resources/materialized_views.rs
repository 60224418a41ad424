//! BigQuery materialized views: `tables.insert` with `materializedView {query, enableRefresh,
//! refreshIntervalMs}` and the base table's clustering keys; `tables.patch` for the refresh
//! settings, the only part BigQuery changes in place (docs/gcp-apis.md#bigquery).

use anyhow::Result;
use serde_json::json;

use super::{changed, millis};
use crate::backend::gcp::bigquery as bq;
use crate::backend::gcp::{Gcp, SQL_LABEL};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Fields, Labels, MaterializedViewDef, duration};

use super::fingerprint_label;

impl Gcp {
    pub(super) async fn observe_materialized_view(
        &self,
        m: &MaterializedViewDef,
    ) -> Result<Observed> {
        let Some(table) = bq::get_table(&self.api, &self.project, &m.dataset, &m.name).await?
        else {
            return Ok(Observed::Missing);
        };
        let definition = table.materialized_view.clone().unwrap_or_default();
        let mut f = Fields::new();
        f.insert("description", table.description.clone().unwrap_or_default());
        // The SQL as BigQuery returns it; where a server does not (some emulators), the
        // fingerprint label written with it stands in, as for views.
        let sql = match Some(definition.query).filter(|q| !q.is_empty()) {
            Some(sql) => sql,
            None if table.labels.get(SQL_LABEL) == Some(&fingerprint_label(&m.sql)) => {
                m.sql.clone()
            }
            None => "(not readable)".into(),
        };
        f.insert("sql", sql);
        f.insert(
            "enable_refresh",
            definition.enable_refresh.unwrap_or(true).to_string(),
        );
        f.insert(
            "refresh_interval",
            millis(definition.refresh_interval_ms.as_ref())
                .map_or_else(|| duration(crate::plan::DEFAULT_REFRESH), duration),
        );
        f.insert(
            "clustering",
            table
                .clustering
                .as_ref()
                .filter(|c| !c.fields.is_empty())
                .map_or("none".into(), |c| c.fields.join(", ")),
        );
        Ok(self.present(&table.labels, f))
    }

    pub(super) async fn apply_materialized_view(
        &self,
        m: &MaterializedViewDef,
        change: &Change,
    ) -> Result<String> {
        let p = &self.project;
        let mut labels = change.resource.labels.clone();
        labels.insert(SQL_LABEL.into(), fingerprint_label(&m.sql));
        if change.action == Action::Create {
            bq::insert_table(&self.api, p, &body(p, m, &labels)).await?;
            return Ok("created".into());
        }
        bq::patch_table(
            &self.api,
            p,
            &m.dataset,
            &m.name,
            json!({
                "materializedView": refresh_settings(m),
                "labels": labels,
                "description": m.description,
            }),
        )
        .await?;
        Ok(format!("updated {}", changed(change)))
    }
}

/// The patchable part: BigQuery keeps the query as it was created.
fn refresh_settings(m: &MaterializedViewDef) -> serde_json::Value {
    json!({
        "query": m.sql,
        "enableRefresh": m.enable_refresh,
        "refreshIntervalMs": m.refresh_interval.as_millis().to_string(),
    })
}

pub fn body(project: &str, m: &MaterializedViewDef, labels: &Labels) -> bq::Table {
    bq::Table {
        table_reference: bq::TableReference {
            project_id: project.into(),
            dataset_id: m.dataset.clone(),
            table_id: m.name.clone(),
        },
        materialized_view: Some(bq::MaterializedViewDefinition {
            query: m.sql.clone(),
            enable_refresh: Some(m.enable_refresh),
            refresh_interval_ms: Some(m.refresh_interval.as_millis().to_string()),
            last_refresh_time: None,
        }),
        clustering: (!m.clustering.is_empty()).then(|| bq::Clustering {
            fields: m.clustering.clone(),
        }),
        labels: labels.clone(),
        description: m.description.clone(),
        ..bq::Table::default()
    }
}
