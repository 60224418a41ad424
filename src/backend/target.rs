//! The one interface commands talk to, and its two implementations: `local::Local` (DuckDB and
//! topic logs; its work is synchronous and answers at once) and `gcp::Gcp` (REST calls). A new
//! target is one more `impl Target`; the CLI holds a `Box<dyn Target>` and never asks which
//! one it has. Async methods return boxed futures (`Answer`) so the trait stays object-safe
//! without a macro crate; everything runs on the one runtime (`src/runtime.rs`).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Result;

use super::{
    BatchAnswer, BatchQuery, Doomed, Notify, ResumePoints, StatusReport, TeardownReport, gcp,
};
use crate::generate::ledger::Ledger;
use crate::generate::run::Sink;
use crate::output::QueryResult;
use crate::plan::dag::{Outcome, Progress, Step};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Kind, Plan, ResourceId};
use crate::sql::id_counts::{IdCounts, IdQuery};
use crate::sql::params::ParamValue;
use crate::sql::{Dialect, Rendered};

/// What an async target method returns.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + 'a>>;

/// Wraps a result computed at once (the local target's synchronous work) as an `Answer`.
#[cfg(feature = "duckdb")]
fn ready<'a, T: 'a>(result: Result<T>) -> Answer<'a, T> {
    Box::pin(std::future::ready(result))
}

pub trait Target: Send + Sync {
    /// The SQL dialect of the spec's views and queries here.
    fn dialect(&self) -> Dialect;
    /// Where, for messages: `local target (.bqflow)`, `gcp project p (…)`.
    fn location(&self) -> String;
    /// Short, for a dashboard header: `local · .bqflow`, `gcp · p`.
    fn label(&self) -> String;
    /// The GCP project queries are billed to, where they are (dashboards show bytes billed and
    /// `--looker` links BigQuery tables); `None` locally.
    fn billing_project(&self) -> Option<&str>;
    /// Where this target keeps local state (the generator's lock and ledger), and whether
    /// `generate` makes that folder itself (gcp) or `up` does (local).
    fn state_dir(&self) -> PathBuf;
    fn generate_makes_state_dir(&self) -> bool;

    /// Whether a field of a resource of this kind can change in place; `plan` shows the
    /// others as "cannot change".
    fn updatable(&self, kind: Kind, field: &str) -> bool;

    /// The commands that make one change by hand (`plan --explain`): `gcloud` and `bq` on
    /// gcp, DuckDB statements locally. None for what needs no change.
    fn explain(&self, change: &Change) -> Vec<String>;

    /// What exists, per plan resource.
    fn observe<'a>(&'a self, plan: &'a Plan) -> Answer<'a, Vec<Observed>>;
    /// Applies the steps (creates and updates) concurrently in dependency order.
    fn apply_steps<'a>(
        &'a self,
        plan: &'a Plan,
        steps: Vec<Step<&'a Change>>,
        progress: &'a dyn Progress,
    ) -> Answer<'a, Vec<(ResourceId, Outcome)>>;
    /// Runs a rendered query; at most `limit` rows come back.
    fn query<'a>(
        &'a self,
        plan: &'a Plan,
        rendered: &'a Rendered,
        params: &'a [(String, ParamValue)],
        limit: Option<usize>,
    ) -> Answer<'a, QueryResult>;
    /// Runs several queries at once — in one warehouse session locally, as concurrent jobs on
    /// BigQuery — and reads how fresh the data is. A query that fails does not stop the
    /// others. Locally, a warehouse another process keeps for longer than `wait` is a
    /// `backend::Busy` error.
    fn query_batch<'a>(
        &'a self,
        plan: &'a Plan,
        queries: &'a [BatchQuery<'a>],
        limit: Option<usize>,
        wait: Duration,
    ) -> Answer<'a, BatchAnswer>;
    /// Bytes a batch would process, from BigQuery dry runs; `None` where nothing is billed.
    fn estimate_bytes<'a>(
        &'a self,
        plan: &'a Plan,
        queries: &'a [BatchQuery<'a>],
    ) -> Answer<'a, Option<u64>>;
    /// What a query would do, without running it: the SQL, and on gcp the bytes and cost.
    fn dry_run<'a>(
        &'a self,
        plan: &'a Plan,
        rendered: &'a Rendered,
        params: &'a [(String, ParamValue)],
    ) -> Answer<'a, String>;
    /// Loads everything still in transit where the target can (local topic logs), so counts
    /// that follow see every event.
    fn settle<'a>(&'a self, plan: &'a Plan) -> Answer<'a, ()>;
    /// Fills in the table and pipeline rows of `status`.
    fn status_details<'a>(&'a self, plan: &'a Plan, report: &'a mut StatusReport)
    -> Answer<'a, ()>;
    /// Finds what this deployment made, asks `confirm` with the list, then deletes exactly
    /// that. `None` when `confirm` said no (nothing was touched).
    fn teardown<'a>(
        &'a self,
        plan: &'a Plan,
        ui: &'a dyn Notify,
        drain_timeout: Duration,
        confirm: &'a mut dyn FnMut(&Doomed) -> bool,
    ) -> Answer<'a, Option<TeardownReport>>;
    /// A sink for `generate`, and where to resume each stream.
    fn sink<'a>(
        &'a self,
        plan: &'a Plan,
        topics: [&'a str; 2],
        producer: &'a str,
    ) -> Answer<'a, (Box<dyn Sink>, ResumePoints)>;
    /// What the generator had acknowledged: a ledger on gcp; none locally, where loading is
    /// exactly-once by construction.
    fn ledger<'a>(&'a self) -> Answer<'a, Option<Ledger>>;
    /// Every generator run recorded on the target, by producer id (its model and seed): the
    /// ledger's entries on gcp, the loaded cursors locally. `verify` checks each.
    fn producers<'a>(&'a self) -> Answer<'a, Vec<String>>;

    /// Applies the creates and updates among `changes`.
    fn apply<'a>(
        &'a self,
        plan: &'a Plan,
        changes: &'a [Change],
        progress: &'a dyn Progress,
    ) -> Answer<'a, Vec<(ResourceId, Outcome)>> {
        let steps: Vec<Step<&Change>> = changes
            .iter()
            .filter(|c| {
                matches!(
                    c.action,
                    Action::Create | Action::Update(_) | Action::Replace(_)
                )
            })
            .map(|c| Step {
                id: c.resource.id.clone(),
                deps: c.resource.deps.clone(),
                item: c,
            })
            .collect();
        self.apply_steps(plan, steps, progress)
    }

    /// `verify`'s counts for one fact table and id prefix, in this target's dialect.
    fn count_ids<'a>(&'a self, plan: &'a Plan, ids: &'a IdQuery<'a>) -> Answer<'a, IdCounts> {
        Box::pin(async move {
            let rendered = Rendered {
                sql: ids.sql(self.dialect()),
                refs: vec![],
                params: vec![],
            };
            ids.read(&self.query(plan, &rendered, &[], None).await?)
        })
    }

    /// What exists and, per table and pipeline, rows, freshness and state.
    fn status<'a>(&'a self, plan: &'a Plan) -> Answer<'a, StatusReport> {
        Box::pin(async move {
            let observed = self.observe(plan).await?;
            let mut report = StatusReport {
                location: self.location(),
                resources: plan
                    .resources
                    .iter()
                    .map(|r| r.id.clone())
                    .zip(observed)
                    .collect(),
                tables: vec![],
                pipelines: vec![],
            };
            self.status_details(plan, &mut report).await?;
            Ok(report)
        })
    }

    /// Whether anything of this deployment exists, found by name.
    fn any_present<'a>(&'a self, plan: &'a Plan) -> Answer<'a, bool> {
        Box::pin(async move {
            Ok(self
                .observe(plan)
                .await?
                .iter()
                .any(|o| matches!(o, Observed::Present { owned: true, .. })))
        })
    }
}

#[cfg(feature = "duckdb")]
impl Target for super::local::Local {
    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }
    fn location(&self) -> String {
        format!("local target ({})", self.root.display())
    }
    fn label(&self) -> String {
        format!("local · {}", self.root.display())
    }
    fn billing_project(&self) -> Option<&str> {
        None
    }
    fn state_dir(&self) -> PathBuf {
        self.root.clone()
    }
    fn generate_makes_state_dir(&self) -> bool {
        false
    }
    fn explain(&self, change: &Change) -> Vec<String> {
        super::local::provision::explain(&self.root, change)
    }
    /// Google's rules, deliberately: the local target rehearses gcp, so a change `plan`
    /// accepts here is one `up` can also make there.
    fn updatable(&self, kind: Kind, field: &str) -> bool {
        gcp::mutability::updatable_in_place(kind, field)
    }
    fn observe<'a>(&'a self, plan: &'a Plan) -> Answer<'a, Vec<Observed>> {
        ready(self.observe(plan))
    }
    fn apply_steps<'a>(
        &'a self,
        _plan: &'a Plan,
        steps: Vec<Step<&'a Change>>,
        progress: &'a dyn Progress,
    ) -> Answer<'a, Vec<(ResourceId, Outcome)>> {
        Box::pin(self.apply_all(steps, progress))
    }
    fn query<'a>(
        &'a self,
        plan: &'a Plan,
        rendered: &'a Rendered,
        params: &'a [(String, ParamValue)],
        limit: Option<usize>,
    ) -> Answer<'a, QueryResult> {
        ready(self.query(plan, rendered, params).map(|mut result| {
            if let Some(limit) = limit {
                result.rows.truncate(limit);
            }
            result
        }))
    }
    fn query_batch<'a>(
        &'a self,
        plan: &'a Plan,
        queries: &'a [BatchQuery<'a>],
        limit: Option<usize>,
        wait: Duration,
    ) -> Answer<'a, BatchAnswer> {
        ready(self.query_batch(plan, queries, limit, wait))
    }
    fn estimate_bytes<'a>(
        &'a self,
        _plan: &'a Plan,
        _queries: &'a [BatchQuery<'a>],
    ) -> Answer<'a, Option<u64>> {
        ready(Ok(None))
    }
    fn dry_run<'a>(
        &'a self,
        _plan: &'a Plan,
        rendered: &'a Rendered,
        _params: &'a [(String, ParamValue)],
    ) -> Answer<'a, String> {
        ready(Ok(format!(
            "{}\n(local target: nothing is billed)",
            rendered.sql
        )))
    }
    fn settle<'a>(&'a self, plan: &'a Plan) -> Answer<'a, ()> {
        ready(self.settle(plan))
    }
    fn status_details<'a>(
        &'a self,
        plan: &'a Plan,
        report: &'a mut StatusReport,
    ) -> Answer<'a, ()> {
        ready(self.status(plan, report))
    }
    fn teardown<'a>(
        &'a self,
        plan: &'a Plan,
        _ui: &'a dyn Notify,
        _drain_timeout: Duration,
        confirm: &'a mut dyn FnMut(&Doomed) -> bool,
    ) -> Answer<'a, Option<TeardownReport>> {
        ready((|| {
            let found = self.find(plan)?;
            let doomed = Doomed {
                groups: found.groups(),
                left_alone: found.left_alone.clone(),
            };
            if !confirm(&doomed) {
                return Ok(None);
            }
            Ok(Some(self.remove(found)?))
        })())
    }
    fn sink<'a>(
        &'a self,
        plan: &'a Plan,
        topics: [&'a str; 2],
        producer: &'a str,
    ) -> Answer<'a, (Box<dyn Sink>, ResumePoints)> {
        ready((|| {
            let resume = self.resume_points(topics, producer)?;
            let sink: Box<dyn Sink> = Box::new(self.sink(plan, topics, producer)?);
            Ok((sink, resume))
        })())
    }
    fn ledger<'a>(&'a self) -> Answer<'a, Option<Ledger>> {
        ready(Ok(None))
    }
    fn producers<'a>(&'a self) -> Answer<'a, Vec<String>> {
        ready(super::local::cursor::producers(&self.root))
    }
}

impl Target for gcp::Gcp {
    fn dialect(&self) -> Dialect {
        Dialect::BigQuery
    }
    fn location(&self) -> String {
        self.location_text()
    }
    fn label(&self) -> String {
        format!("gcp · {}", self.project)
    }
    fn billing_project(&self) -> Option<&str> {
        Some(&self.project)
    }
    fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }
    fn generate_makes_state_dir(&self) -> bool {
        true
    }
    fn updatable(&self, kind: Kind, field: &str) -> bool {
        gcp::mutability::updatable_in_place(kind, field)
    }
    fn explain(&self, change: &Change) -> Vec<String> {
        gcp::Gcp::explain(self, change)
    }
    fn observe<'a>(&'a self, plan: &'a Plan) -> Answer<'a, Vec<Observed>> {
        Box::pin(self.observe(plan))
    }
    fn apply_steps<'a>(
        &'a self,
        plan: &'a Plan,
        steps: Vec<Step<&'a Change>>,
        progress: &'a dyn Progress,
    ) -> Answer<'a, Vec<(ResourceId, Outcome)>> {
        Box::pin(self.apply_all(plan, steps, progress))
    }
    fn query<'a>(
        &'a self,
        plan: &'a Plan,
        rendered: &'a Rendered,
        params: &'a [(String, ParamValue)],
        limit: Option<usize>,
    ) -> Answer<'a, QueryResult> {
        Box::pin(async move {
            self.preflight(plan).await?;
            self.query(rendered, params, limit).await
        })
    }
    fn query_batch<'a>(
        &'a self,
        plan: &'a Plan,
        queries: &'a [BatchQuery<'a>],
        limit: Option<usize>,
        _wait: Duration,
    ) -> Answer<'a, BatchAnswer> {
        Box::pin(async move {
            self.preflight(plan).await?;
            self.query_batch(plan, queries, limit).await
        })
    }
    fn estimate_bytes<'a>(
        &'a self,
        plan: &'a Plan,
        queries: &'a [BatchQuery<'a>],
    ) -> Answer<'a, Option<u64>> {
        Box::pin(async move {
            self.preflight(plan).await?;
            Ok(Some(self.estimate_batch(plan, queries).await?))
        })
    }
    fn dry_run<'a>(
        &'a self,
        plan: &'a Plan,
        rendered: &'a Rendered,
        params: &'a [(String, ParamValue)],
    ) -> Answer<'a, String> {
        Box::pin(async move {
            self.preflight(plan).await?;
            let (bytes, cost) = self.dry_run(rendered, params).await?;
            Ok(format!(
                "{}\nwould process {bytes} bytes ({:.2} GB), about ${cost:.4} on demand at ${}/TiB",
                rendered.sql,
                bytes as f64 / 1e9,
                gcp::query::PRICE_PER_TIB_USD
            ))
        })
    }
    /// Pub/Sub → BigQuery is the pipelines' business; `verify --wait` polls instead.
    fn settle<'a>(&'a self, _plan: &'a Plan) -> Answer<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn status_details<'a>(
        &'a self,
        plan: &'a Plan,
        report: &'a mut StatusReport,
    ) -> Answer<'a, ()> {
        Box::pin(self.status(plan, report))
    }
    fn teardown<'a>(
        &'a self,
        plan: &'a Plan,
        ui: &'a dyn Notify,
        drain_timeout: Duration,
        confirm: &'a mut dyn FnMut(&Doomed) -> bool,
    ) -> Answer<'a, Option<TeardownReport>> {
        Box::pin(async move {
            let found = self.find(plan, ui).await?;
            let doomed = Doomed {
                groups: found.groups(),
                left_alone: found.left_alone.clone(),
            };
            if !confirm(&doomed) {
                return Ok(None);
            }
            let r = self.remove(found, ui, drain_timeout).await?;
            Ok(Some(TeardownReport {
                deleted: r.deleted,
                left_alone: r.left_alone,
                failed: r.failed,
            }))
        })
    }
    fn sink<'a>(
        &'a self,
        plan: &'a Plan,
        topics: [&'a str; 2],
        producer: &'a str,
    ) -> Answer<'a, (Box<dyn Sink>, ResumePoints)> {
        Box::pin(async move {
            let (sink, resume) = self.sink(plan, topics, producer).await?;
            let sink: Box<dyn Sink> = Box::new(sink);
            Ok((sink, resume))
        })
    }
    fn ledger<'a>(&'a self) -> Answer<'a, Option<Ledger>> {
        Box::pin(std::future::ready(
            Ledger::load(&self.ledger_path()).map(Some),
        ))
    }
    fn producers<'a>(&'a self) -> Answer<'a, Vec<String>> {
        Box::pin(std::future::ready(
            Ledger::load(&self.ledger_path()).map(|l| l.producers.into_keys().collect()),
        ))
    }
}
