//! The plan's materialized views: each rendered and checked (`sql/rollup.rs`), depending on
//! the one table it summarises.

use std::collections::BTreeMap;
use std::time::Duration;

use super::build::{Builder, id, labels_of};
use super::{Desired, Kind, MaterializedViewDef, Placement, Resource};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::sql::Renderer;
use crate::sql::rollup::BATCH_RELATION;

/// BigQuery's default `refreshIntervalMs`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30 * 60);

impl Builder<'_> {
    pub(super) fn materialized_views(
        &self,
        renderer: &Renderer,
        placement: &Placement,
        found: &mut Diagnostics,
    ) -> Vec<Resource> {
        let mut out = Vec::new();
        for m in &self.spec.materialized_views {
            let (rendered, shape) = match renderer.materialized_view(m) {
                Ok(r) => r,
                Err(d) => {
                    found.push(d);
                    continue;
                }
            };
            // One table of the spec, fed by rows (not a view: BigQuery refreshes from a
            // table's changes, and the loader folds a table's batches).
            let base = match rendered.refs.as_slice() {
                [only] => self.spec.tables.iter().find(|t| t.name.as_str() == only),
                _ => None,
            };
            let Some(base) = base else {
                found.push(Diagnostic::new(
                    &self.project.file,
                    m.name.at,
                    format!(
                        "materialized view `{}` must read exactly one table declared under `tables:` through ref(); it reads {}",
                        m.name,
                        if rendered.refs.is_empty() {
                            "none".to_string()
                        } else {
                            rendered.refs.join(", ")
                        }
                    ),
                ));
                continue;
            };
            let batch_sql = match placement {
                Placement::Local => renderer
                    .redirected(
                        BTreeMap::from([(base.name.value.clone(), BATCH_RELATION.to_string())]),
                        |r| r.materialized_view(m),
                    )
                    .ok()
                    .map(|(r, _)| r.sql),
                Placement::Gcp(_) => None,
            };
            out.push(Resource {
                id: id(
                    Kind::MaterializedView,
                    format!("{}.{}", self.dataset, m.name),
                ),
                deps: vec![
                    self.dataset_id.clone(),
                    id(Kind::Table, format!("{}.{}", self.dataset, base.name)),
                ],
                desired: Desired::MaterializedView(MaterializedViewDef {
                    dataset: self.dataset.clone(),
                    name: m.name.value.clone(),
                    description: m.description.as_ref().map(|d| d.value.clone()),
                    sql: rendered.sql,
                    base: base.name.value.clone(),
                    shape,
                    batch_sql,
                    enable_refresh: m.enable_refresh.unwrap_or(true),
                    refresh_interval: m
                        .refresh_interval
                        .as_ref()
                        .map_or(DEFAULT_REFRESH, |d| d.value),
                }),
                labels: labels_of(self.project, &m.labels),
            });
        }
        out
    }
}
