//! Targets behind one interface. Commands build a plan, then ask the backend to observe, apply,
//! query, report status, accept events and tear down; the backend decides how.

pub mod gcp;
#[cfg(feature = "duckdb")]
pub mod local;
pub mod lock;

use anyhow::Result;

use crate::generate::run::Sink;
use crate::output::QueryResult;
use crate::plan::dag::{Outcome, Progress, Step};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Placement, Plan, ResourceId};
use crate::spec::Project;
use crate::sql::params::ParamValue;
use crate::sql::{Dialect, Rendered};
use crate::ui::Ui;

pub use lock::GENERATE_LOCK;

/// Marks a local target `bqflow demo` provisioned, so the next demo may start it afresh.
/// Without it the data is the user's (`up` and `generate` by hand), and the demo asks first.
pub const DEMO_MARK: &str = "made-by-demo";

pub enum Backend {
    #[cfg(feature = "duckdb")]
    Local(local::Local),
    Gcp(Box<gcp::Gcp>),
}

/// Per event stream (sales, inventory): the last generator sequence already delivered.
pub type ResumePoints = [Option<u64>; 2];

/// One row of `status` per table.
pub struct TableReport {
    pub table: String,
    pub rows: i64,
    /// µs since the Unix epoch of the newest event, for fact tables.
    pub newest: Option<i64>,
}

/// A figure a target can report, or why it cannot: `status` shows "unknown", never a blank
/// that reads as zero.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading<T> {
    Known(T),
    Unknown(String),
}

/// One row of `status` per pipeline.
pub struct PipelineReport {
    pub name: String,
    pub route: String,
    pub state: String,
    /// Messages waiting (gcp: Cloud Monitoring's count of undelivered messages).
    pub backlog: Reading<u64>,
    /// µs since the Unix epoch of the last load; `Known(None)`: nothing loaded yet.
    pub last_load: Reading<Option<i64>>,
    pub dead_lettered: i64,
}

pub struct StatusReport {
    pub location: String,
    pub resources: Vec<(ResourceId, Observed)>,
    pub tables: Vec<TableReport>,
    pub pipelines: Vec<PipelineReport>,
}

/// One query of a batch (a dashboard refresh): its SQL and parameter values.
pub struct BatchQuery<'a> {
    pub rendered: &'a Rendered,
    pub params: &'a [(String, ParamValue)],
}

/// A batch's answers, each succeeding or failing on its own, and how fresh the data is.
pub struct BatchAnswer {
    pub results: Vec<std::result::Result<QueryResult, String>>,
    /// Bytes BigQuery billed for the batch; `None` where nothing is billed.
    pub bytes_billed: Option<u64>,
    pub pulse: Pulse,
}

/// The newest event in the fact tables and what arrived lately.
#[derive(Clone, Debug, Default)]
pub struct Pulse {
    /// µs since the Unix epoch of the newest event time.
    pub newest: Option<i64>,
    /// Events that arrived in the last minute (local: loaded; gcp: event time within it).
    pub last_minute: Option<u64>,
    /// Topic segments still waiting to be loaded (local target).
    pub backlog: Option<u64>,
}

/// What teardown will delete, by kind, and what it will leave alone: shown before it starts.
pub struct Doomed {
    pub groups: Vec<(&'static str, Vec<String>)>,
    pub left_alone: Vec<String>,
}

/// What teardown removed, and what it would not touch.
pub struct TeardownReport {
    pub deleted: Vec<String>,
    pub left_alone: Vec<String>,
    pub failed: Vec<String>,
}

impl Backend {
    pub fn for_target(project: &Project, placement: &Placement) -> Result<Backend> {
        match placement {
            #[cfg(feature = "duckdb")]
            Placement::Local => Ok(Backend::Local(local::Local::new(&project.local_dir()))),
            #[cfg(not(feature = "duckdb"))]
            Placement::Local => {
                anyhow::bail!(
                    "this bqflow was built without the `duckdb` feature: the local target is unavailable"
                )
            }
            Placement::Gcp(g) => Ok(Backend::Gcp(Box::new(gcp::Gcp::new(project, g)?))),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(_) => Dialect::DuckDb,
            Backend::Gcp(_) => Dialect::BigQuery,
        }
    }

    /// Human-readable place, for messages.
    pub fn location(&self) -> String {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => format!("local target ({})", l.root.display()),
            Backend::Gcp(g) => g.location_text(),
        }
    }

    pub async fn observe(&self, plan: &Plan) -> Result<Vec<Observed>> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.observe(plan),
            Backend::Gcp(g) => g.observe(plan).await,
        }
    }

    /// Applies creates and updates concurrently in dependency order.
    pub async fn apply(
        &self,
        plan: &Plan,
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
            Backend::Gcp(g) => g.apply_all(plan, steps, progress).await,
        }
    }

    /// Runs a rendered query; at most `limit` rows come back.
    pub async fn query(
        &self,
        plan: &Plan,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
        limit: Option<usize>,
    ) -> Result<QueryResult> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => {
                let mut result = l.query(plan, rendered, params)?;
                if let Some(limit) = limit {
                    result.rows.truncate(limit);
                }
                Ok(result)
            }
            Backend::Gcp(g) => {
                g.preflight(plan).await?;
                g.query(rendered, params, limit).await
            }
        }
    }

    /// Runs several queries at once — in one warehouse session locally, as concurrent jobs on
    /// BigQuery — and reads how fresh the data is. A query that fails does not stop the others.
    /// Locally, a warehouse another process keeps for longer than `wait` is a
    /// [`local::warehouse::Busy`] error.
    pub async fn query_batch(
        &self,
        plan: &Plan,
        queries: &[BatchQuery<'_>],
        limit: Option<usize>,
        wait: std::time::Duration,
    ) -> Result<BatchAnswer> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.query_batch(plan, queries, limit, wait),
            Backend::Gcp(g) => {
                let _ = wait;
                g.preflight(plan).await?;
                g.query_batch(plan, queries, limit).await
            }
        }
    }

    /// Bytes a batch would process, from BigQuery dry runs; `None` where nothing is billed.
    pub async fn estimate_bytes(
        &self,
        plan: &Plan,
        queries: &[BatchQuery<'_>],
    ) -> Result<Option<u64>> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(_) => Ok(None),
            Backend::Gcp(g) => {
                g.preflight(plan).await?;
                Ok(Some(g.estimate_batch(plan, queries).await?))
            }
        }
    }

    /// Loads everything still in transit where the target can (local topic logs), so counts
    /// that follow see every event.
    pub async fn settle(&self, plan: &Plan) -> Result<()> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.settle(plan),
            // Pub/Sub → BigQuery is the pipelines' business; `verify --wait` polls instead.
            Backend::Gcp(_) => {
                let _ = plan;
                Ok(())
            }
        }
    }

    /// The gcp target, when that is what this is (for what only BigQuery has, like a Looker
    /// Studio link).
    pub fn as_gcp(&self) -> Option<&gcp::Gcp> {
        match self {
            Backend::Gcp(g) => Some(g),
            #[cfg(feature = "duckdb")]
            Backend::Local(_) => None,
        }
    }

    /// What a query would do, without running it: the SQL, and on gcp the bytes and cost.
    pub async fn dry_run(
        &self,
        plan: &Plan,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
    ) -> Result<String> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(_) => Ok(format!(
                "{}
(local target: nothing is billed)",
                rendered.sql
            )),
            Backend::Gcp(g) => {
                g.preflight(plan).await?;
                let (bytes, cost) = g.dry_run(rendered, params).await?;
                Ok(format!(
                    "{}
would process {bytes} bytes ({:.2} GB), about ${cost:.4} on demand at ${}/TiB",
                    rendered.sql,
                    bytes as f64 / 1e9,
                    gcp::query::PRICE_PER_TIB_USD
                ))
            }
        }
    }

    pub async fn status(&self, plan: &Plan) -> Result<StatusReport> {
        let observed = self.observe(plan).await?;
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
            Backend::Gcp(g) => g.status(plan, &mut report).await?,
        }
        Ok(report)
    }

    /// Finds what this deployment made, asks `confirm` with the list, then deletes exactly
    /// that. `None` when `confirm` said no (nothing was touched).
    pub async fn teardown(
        &self,
        plan: &Plan,
        ui: &Ui,
        drain_timeout: std::time::Duration,
        confirm: &mut dyn FnMut(&Doomed) -> bool,
    ) -> Result<Option<TeardownReport>> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => {
                let found = l.find(plan)?;
                let doomed = Doomed {
                    groups: found.groups(),
                    left_alone: found.left_alone.clone(),
                };
                if !confirm(&doomed) {
                    return Ok(None);
                }
                Ok(Some(l.remove(found)?))
            }
            Backend::Gcp(g) => {
                let found = g.find(plan, ui).await?;
                let doomed = Doomed {
                    groups: found.groups(),
                    left_alone: found.left_alone.clone(),
                };
                if !confirm(&doomed) {
                    return Ok(None);
                }
                let r = g.remove(found, ui, drain_timeout).await?;
                Ok(Some(TeardownReport {
                    deleted: r.deleted,
                    left_alone: r.left_alone,
                    failed: r.failed,
                }))
            }
        }
    }

    /// A sink for `generate`, and where to resume each stream.
    pub async fn sink(
        &self,
        plan: &Plan,
        topics: [&str; 2],
        producer: &str,
    ) -> Result<(Box<dyn Sink>, ResumePoints)> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => {
                let resume = l.resume_points(topics, producer)?;
                Ok((Box::new(l.sink(plan, topics, producer)?), resume))
            }
            Backend::Gcp(g) => {
                let (sink, resume) = g.sink(plan, topics, producer).await?;
                Ok((Box::new(sink), resume))
            }
        }
    }

    /// What the generator had acknowledged on this target: a ledger on gcp; none locally,
    /// where loading is exactly-once by construction.
    pub async fn ledger(&self) -> Result<Option<crate::generate::ledger::Ledger>> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(_) => Ok(None),
            Backend::Gcp(g) => Ok(Some(crate::generate::ledger::Ledger::load(
                &g.ledger_path(),
            )?)),
        }
    }

    /// Every generator run recorded on the target, by producer id (its model and seed): the
    /// ledger's entries on gcp, the loaded cursors locally. `verify` checks each.
    pub async fn producers(&self) -> Result<Vec<String>> {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => local::cursor::producers(&l.root),
            Backend::Gcp(_) => Ok(self
                .ledger()
                .await?
                .map(|l| l.producers.into_keys().collect())
                .unwrap_or_default()),
        }
    }

    /// Where this target keeps local state (the generator's lock and ledger).
    pub fn state_dir(&self) -> std::path::PathBuf {
        match self {
            #[cfg(feature = "duckdb")]
            Backend::Local(l) => l.root.clone(),
            Backend::Gcp(g) => g.state_dir.clone(),
        }
    }

    /// Whether anything of this project exists (so `teardown` knows it has work).
    pub async fn any_present(&self, plan: &Plan) -> Result<bool> {
        Ok(self
            .observe(plan)
            .await?
            .iter()
            .any(|o| matches!(o, Observed::Present { owned: true, .. })))
    }
}
