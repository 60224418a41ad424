//! BigQuery materialized views. Created with the `CREATE MATERIALIZED VIEW` statement (a query
//! job), then given their refresh settings, labels and description by `tables.patch` with
//! `materializedView {enableRefresh, refreshIntervalMs}` — the part BigQuery changes in place.
//! The statement rather than `tables.insert`: both are Google's documented ways, and the
//! statement is the one emulators implement too (bqemulator 1.4 stores an inserted
//! `materializedView` as an empty table). A view made but not yet patched carries no labels,
//! which counts as ours (docs/ownership.md), so an interrupted `up` finishes it next time.

use anyhow::{Context, Result};
use serde_json::json;

use super::{changed, millis};
use crate::backend::gcp::bigquery as bq;
use crate::backend::gcp::{Gcp, REFRESH_LABEL, SQL_LABEL};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Fields, MaterializedViewDef, duration};

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
        // What BigQuery returns; where a server leaves a setting out (some emulators), the
        // labels written with it stand in: the SQL's fingerprint, as for views, and the
        // refresh settings themselves.
        let definition = table.materialized_view.clone().unwrap_or_default();
        let mut f = Fields::new();
        f.insert("description", table.description.clone().unwrap_or_default());
        let sql = match Some(definition.query).filter(|q| !q.is_empty()) {
            Some(sql) => sql,
            None if table.labels.get(SQL_LABEL) == Some(&fingerprint_label(&m.sql)) => {
                m.sql.clone()
            }
            None => "(not readable)".into(),
        };
        f.insert("sql", sql);
        let written = table.labels.get(REFRESH_LABEL).and_then(|l| {
            let (enable, ms) = l.split_once('-')?;
            Some((enable == "true", ms.parse::<u64>().ok()?))
        });
        let enable = definition
            .enable_refresh
            .or(written.map(|(e, _)| e))
            .unwrap_or(true);
        let interval = millis(definition.refresh_interval_ms.as_ref())
            .or(written.map(|(_, ms)| std::time::Duration::from_millis(ms)))
            .unwrap_or(crate::plan::DEFAULT_REFRESH);
        f.insert("enable_refresh", enable.to_string());
        f.insert("refresh_interval", duration(interval));
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
        labels.insert(
            REFRESH_LABEL.into(),
            format!("{}-{}", m.enable_refresh, m.refresh_interval.as_millis()),
        );
        let replace = matches!(change.action, Action::Replace(_));
        if replace {
            // Derived data: dropped and made again from its tables (BigQuery cannot change a
            // materialized view's query in place).
            bq::delete_table(&self.api, p, &m.dataset, &m.name).await?;
        }
        let create = change.action == Action::Create || replace;
        if create {
            let statement = format!(
                "CREATE MATERIALIZED VIEW `{p}.{}.{}` AS\n{}",
                m.dataset, m.name, m.sql
            );
            let job_labels = self.job_labels();
            let options = bq::QueryOptions::statement(&self.location, &job_labels);
            bq::query(&self.api, p, &statement, &options)
                .await
                .with_context(|| format!("creating materialized view `{}`", m.name))?;
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
        Ok(if replace {
            "rebuilt from its tables".into()
        } else if create {
            "created".into()
        } else {
            format!("updated {}", changed(change))
        })
    }
}

/// The patchable part (`query` is required in the object; BigQuery keeps it as created).
fn refresh_settings(m: &MaterializedViewDef) -> serde_json::Value {
    json!({
        "query": m.sql,
        "enableRefresh": m.enable_refresh,
        "refreshIntervalMs": m.refresh_interval.as_millis().to_string(),
    })
}
