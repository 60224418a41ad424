//! Targets behind one interface. Commands build a plan, then ask the backend to observe, apply,
//! query, report status, accept events and tear down; the backend decides how.

// Until the gcp backend lands, a build without DuckDB has only the gcp stub, whose methods
// ignore their arguments.
#![cfg_attr(
    not(feature = "duckdb"),
    allow(unused_variables, unused_mut, unreachable_code)
)]

#[cfg(feature = "duckdb")]
pub mod local;

use anyhow::{Result, bail};

use crate::cli::Target;
use crate::generate::run::Sink;
use crate::output::QueryResult;
use crate::plan::dag::{Outcome, Progress, Step};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Kind, Plan, ResourceId};
use crate::spec::Project;
use crate::sql::params::ParamValue;
use crate::sql::{Dialect, Rendered};

/// Per event stream (sales, inventory): the last generator sequence already delivered.
pub type ResumePoints = [Option<u64>; 2];

pub enum Backend {
    #[cfg(feature = "duckdb")]
    Local(local::Local),
    /// Parsed and validated today; provisioning through the REST APIs comes with the gcp backend.
    Gcp,
}

/// One row of `status` per table.
pub struct TableReport {
    pub table: String,
    pub rows: i64,
    /// µs since the Unix epoch of the newest event, for fact tables.
    pub newest: Option<i64>,
}

/// One row of `status` per pipeline.
pub struct PipelineReport {
    pub name: String,
    pub route: String,
    pub state: String,
    pub backlog: u64,
    pub last_load: Option<i64>,
    pub dead_lettered: i64,
}

pub struct StatusReport {
    pub location: String,
    pub resources: Vec<(ResourceId, Observed)>,
    pub tables: Vec<TableReport>,
    pub pipelines: Vec<PipelineReport>,
}

fn gcp_pending() -> anyhow::Error {
    anyhow::anyhow!(
        "the gcp target is validated but cannot provision yet in this version; use --target local (the default)"
    )
}

impl Backend {
    pub fn for_target(project: &Project, target: Target) -> Result<Backend> {
        match target {
            #[cfg(feature = "duckdb")]
            Target::Local => Ok(Backend::Local(local::Local::new(&project.local_dir()))),
            #[cfg(not(feature = "duckdb"))]
            Target::Local => bail!(
                "this bqflow was built without the `duckdb` feature: the local target is unavailable"
            ),
            Target::Gcp => {
                let _ = project;
                Ok(Backend::Gcp)
            }
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(_) => Dialect::DuckDb,
            Backend::Gcp => Dialect::BigQuery,
        }
    }

    /// Human-readable place, for messages ("local .bqflow", "gcp project p").
    pub fn location(&self) -> String {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => format!("local target ({})", l.root.display()),
            Backend::Gcp => "gcp".into(),
        }
    }

    pub fn observe(&self, plan: &Plan) -> Result<Vec<Observed>> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.observe(plan),
            Backend::Gcp => Err(gcp_pending()),
        }
    }

    /// Applies creates and updates concurrently in dependency order.
    pub async fn apply(
        &self,
        changes: &[Change],
        progress: &dyn Progress,
    ) -> Result<Vec<(ResourceId, Outcome)>> {
        let steps: Vec<Step<&Change>> = changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Update(_)))
            .map(|c| Step {
                id: c.resource.id.clone(),
                deps: c.resource.deps.clone(),
                item: c,
            })
            .collect();
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.apply_all(steps, progress).await,
            Backend::Gcp => {
                let _ = (steps, progress);
                Err(gcp_pending())
            }
        }
    }

    pub fn query(
        &self,
        plan: &Plan,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
    ) -> Result<QueryResult> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.query(plan, rendered, params),
            Backend::Gcp => Err(gcp_pending()),
        }
    }

    pub fn status(&self, plan: &Plan) -> Result<StatusReport> {
        let observed = self.observe(plan)?;
        let resources: Vec<(ResourceId, Observed)> = plan
            .resources
            .iter()
            .map(|r| r.id.clone())
            .zip(observed)
            .collect();
        let mut report = StatusReport {
            location: self.location(),
            resources,
            tables: vec![],
            pipelines: vec![],
        };
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.status(plan, &mut report)?,
            Backend::Gcp => return Err(gcp_pending()),
        }
        Ok(report)
    }

    /// Removes what the plan declares; returns what was removed.
    pub fn teardown(&self, plan: &Plan) -> Result<Vec<String>> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.teardown(plan),
            Backend::Gcp => Err(gcp_pending()),
        }
    }

    /// A sink for `generate`, and where to resume each stream.
    pub fn sink(
        &self,
        plan: &Plan,
        topics: [&str; 2],
        producer: &str,
    ) -> Result<(Box<dyn Sink>, ResumePoints)> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => {
                let resume = l.resume_points(plan, topics, producer)?;
                Ok((Box::new(l.sink(plan, topics, producer)?), resume))
            }
            Backend::Gcp => Err(gcp_pending()),
        }
    }

    /// Whether anything of this project exists (so `teardown` knows it has work).
    pub fn any_present(&self, plan: &Plan) -> Result<bool> {
        Ok(self
            .observe(plan)?
            .iter()
            .any(|o| matches!(o, Observed::Present { owned: true, .. })))
    }
}

/// Labels say which resources are data (asked about before deletion).
pub fn holds_data(kind: Kind) -> bool {
    matches!(kind, Kind::Dataset | Kind::Table | Kind::Topic)
}

#[allow(dead_code)]
fn unreachable_target() -> Result<()> {
    bail!("unreachable")
}
