//! The embedded target: topic logs on disk and a DuckDB warehouse under the project's local
//! folder (`.bqflow/` by default). No account, no server; several bqflow processes can work on
//! it at once because each holds the warehouse only briefly.

pub mod batch;
pub mod check;
pub mod cursor;
pub mod loader;
pub mod provision;
pub mod publish;
pub mod record;
pub mod rollup;
pub mod shape;
pub mod teardown;
pub mod topic_log;
pub mod warehouse;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{PipelineReport, Reading, StatusReport, TableReport};
use crate::output::{QueryResult, Value};
use crate::plan::ResourceId;
use crate::plan::dag::{self, Outcome, Progress, Step};
use crate::plan::diff::{Change, Observed};
use crate::plan::{Desired, Kind, Plan};
use crate::sql::Rendered;
use crate::sql::params::ParamValue;
use loader::{Budget, PipelineSink};

/// How long a reading command loads pending segments before it answers.
const READ_LOAD_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);
use topic_log::TopicLog;
use warehouse::{META, Warehouse};

pub struct Local {
    pub root: PathBuf,
}

impl Local {
    pub fn new(root: &Path) -> Local {
        Local {
            root: root.to_path_buf(),
        }
    }

    pub fn provisioned(&self) -> bool {
        warehouse::path_in(&self.root).exists()
    }

    pub fn open(&self, create: bool) -> Result<Warehouse> {
        if create {
            std::fs::create_dir_all(&self.root)
                .with_context(|| format!("creating {}", self.root.display()))?;
        }
        Warehouse::open(&self.root, create)
    }

    /// What exists, per plan resource. Nothing exists before the first `up`.
    pub fn observe(&self, plan: &Plan) -> Result<Vec<Observed>> {
        if !self.provisioned() {
            return Ok(plan.resources.iter().map(|_| Observed::Missing).collect());
        }
        let wh = self.open(false)?;
        plan.resources
            .iter()
            .map(|r| provision::observe(&wh, &self.root, r))
            .collect()
    }

    /// Applies the steps in dependency order, one at a time: they share one connection, and
    /// DuckDB DDL takes milliseconds, so concurrency would buy nothing here.
    pub async fn apply_all(
        &self,
        steps: Vec<Step<&Change>>,
        progress: &dyn Progress,
    ) -> Result<Vec<(ResourceId, Outcome)>> {
        let wh = self.open(true)?;
        let outcomes = dag::run(steps, 1, progress, |c| {
            let result = provision::apply(&wh, &self.root, c);
            async move { result }
        })
        .await;
        // From the first `up` on, `generate` can start without the warehouse.
        cursor::mirror(&wh, &self.root)?;
        Ok(outcomes)
    }

    /// Fills in table and pipeline rows of `status`.
    pub fn status(&self, plan: &Plan, report: &mut StatusReport) -> Result<()> {
        if !self.provisioned() {
            return Ok(());
        }
        let wh = self.open(false)?;
        self.load(&wh, plan)?;
        let exists = |id: &ResourceId| {
            report
                .resources
                .iter()
                .any(|(r, o)| r == id && matches!(o, Observed::Present { .. }))
        };
        let mut tables = Vec::new();
        for r in &plan.resources {
            if let Desired::Table(t) = &r.desired
                && exists(&r.id)
            {
                // Freshness is the newest event time; dead-letter tables only count rows.
                let time = t
                    .columns
                    .iter()
                    .find(|c| c.duckdb_type == "TIMESTAMP")
                    .map(|c| c.name.as_str());
                let time = if t.dead_letter_of.is_some() {
                    None
                } else {
                    time
                };
                tables.push(table_status(&wh, &t.dataset, &t.name, time)?);
            }
        }
        let mut pipelines = Vec::new();
        for r in &plan.resources {
            if let Desired::Pipeline(p) = &r.desired {
                let (_, backlog, last_load) = backlog(&wh, &self.root, &p.subscription, &p.topic)?;
                let dead_letters = format!("{}.{}", p.dataset, p.dead_letter_table);
                pipelines.push(PipelineReport {
                    name: p.name.clone(),
                    route: format!("{} → {}.{}", p.topic, p.dataset, p.table),
                    state: if exists(&r.id) {
                        "ready (loads on generate/query)".into()
                    } else {
                        "not provisioned".into()
                    },
                    backlog: Reading::Known(backlog),
                    last_load: Reading::Known(last_load),
                    dead_lettered: tables
                        .iter()
                        .find(|t| t.table == dead_letters)
                        .map_or(0, |t| t.rows),
                });
            }
        }
        report.tables = tables;
        report.pipelines = pipelines;
        Ok(())
    }

    /// Moves pending topic segments into the tables (every command that reads does this first,
    /// so results are fresh even when no `generate` is running). A reader loads for at most
    /// `READ_LOAD_BUDGET`: after `generate --rate max` the backlog can take minutes, and the
    /// answer should not wait for all of it.
    pub fn load(&self, wh: &Warehouse, plan: &Plan) -> Result<loader::LoadReport> {
        let report =
            loader::load_pending(wh, &self.root, &sinks(plan), Budget::For(READ_LOAD_BUDGET))?;
        if report.left > 0 {
            tracing::warn!(
                "{} topic segments are still waiting to be loaded; this answer does not include them yet",
                report.left
            );
        }
        // A reader still answers from what is loaded; the events are kept for later.
        for why in &report.misfits {
            tracing::warn!("{why}");
        }
        Ok(report)
    }

    /// Loads everything pending, in bounded holds that let other processes in between (for
    /// `verify`, which must count every row).
    pub fn settle(&self, plan: &Plan) -> Result<()> {
        let sinks = sinks(plan);
        loop {
            let wh = self.open(false)?;
            let report = loader::load_pending(&wh, &self.root, &sinks, Budget::For(loader::HOLD))?;
            drop(wh);
            // Counting needs every event in its table.
            if !report.misfits.is_empty() {
                anyhow::bail!("{}", report.misfits.join("\n"));
            }
            if report.left == 0 {
                return Ok(());
            }
            std::thread::sleep(loader::HOLD_GAP);
        }
    }

    pub fn query(
        &self,
        plan: &Plan,
        rendered: &Rendered,
        params: &[(String, ParamValue)],
    ) -> Result<QueryResult> {
        let wh = self.open(false)?;
        self.load(&wh, plan)?;
        use_dataset(&wh, plan)?;
        run_query(&wh, rendered, params)
    }

    pub fn sink(
        &self,
        plan: &Plan,
        topics: [&str; 2],
        producer: &str,
    ) -> Result<publish::LocalSink> {
        publish::LocalSink::start(&self.root, topics, producer, sinks(plan))
    }

    /// Per stream topic, the generator sequence already sealed (resume after it).
    pub fn resume_points(&self, topics: [&str; 2], producer: &str) -> Result<[Option<u64>; 2]> {
        cursor::resume_points(&self.root, topics, producer)
    }
}

/// Unqualified names in ad-hoc SQL resolve in the spec's dataset, as BigQuery's
/// `defaultDataset` makes them (`SELECT count(*) FROM sales_fact`).
pub(super) fn use_dataset(wh: &Warehouse, plan: &Plan) -> Result<()> {
    let dataset = plan.resources.iter().find_map(|r| match &r.desired {
        Desired::Dataset(d) => Some(d.name.replace('\'', "''")),
        _ => None,
    });
    if let Some(name) = dataset {
        wh.conn.execute_batch(&format!("SET schema = '{name}'"))?;
    }
    Ok(())
}

/// The loader's view of each pipeline: where it reads, where it writes, the table's columns.
pub fn sinks(plan: &Plan) -> Vec<PipelineSink> {
    plan.resources
        .iter()
        .filter_map(|r| match &r.desired {
            Desired::Pipeline(p) => {
                let table = plan.resources.iter().find_map(|t| match &t.desired {
                    Desired::Table(def) if def.name == p.table && t.id.kind == Kind::Table => {
                        Some(def)
                    }
                    _ => None,
                })?;
                let mut sink = PipelineSink::new(p.clone(), table.columns.clone());
                sink.rollups = plan
                    .resources
                    .iter()
                    .filter_map(|m| match &m.desired {
                        Desired::MaterializedView(def) if def.base == p.table => Some(def.clone()),
                        _ => None,
                    })
                    .collect();
                Some(sink)
            }
            _ => None,
        })
        .collect()
}

pub fn run_query(
    wh: &Warehouse,
    rendered: &Rendered,
    params: &[(String, ParamValue)],
) -> Result<QueryResult> {
    let values = rendered
        .params
        .iter()
        .map(|name| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| duckdb_value(v))
                .with_context(|| format!("no value for parameter `{name}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut stmt = wh.conn.prepare(&rendered.sql)?;
    let mut rows = stmt.query(duckdb::params_from_iter(values))?;
    let mut out = QueryResult {
        columns: rows.as_ref().map(|s| s.column_names()).unwrap_or_default(),
        rows: Vec::new(),
    };
    while let Some(row) = rows.next()? {
        let values = (0..out.columns.len())
            .map(|i| convert(row.get_ref(i)?))
            .collect::<Result<Vec<_>>>()?;
        out.rows.push(values);
    }
    Ok(out)
}

/// Parameters as DuckDB values, bound positionally (`$1`, `$2`… in order of first use).
pub(super) fn duckdb_value(value: &ParamValue) -> duckdb::types::Value {
    use duckdb::types::{TimeUnit, Value as D};
    match value {
        ParamValue::String(s) => D::Text(s.clone()),
        ParamValue::Int64(i) => D::BigInt(*i),
        ParamValue::Float64(f) => D::Double(*f),
        ParamValue::Bool(b) => D::Boolean(*b),
        ParamValue::Timestamp(us) => D::Timestamp(TimeUnit::Microsecond, *us),
        ParamValue::Date(d) => D::Date32(
            (*d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32,
        ),
    }
}

fn convert(v: duckdb::types::ValueRef<'_>) -> Result<Value> {
    use duckdb::types::ValueRef as R;
    Ok(match v {
        R::Null => Value::Null,
        R::Boolean(b) => Value::Bool(b),
        R::TinyInt(i) => Value::Int(i.into()),
        R::SmallInt(i) => Value::Int(i.into()),
        R::Int(i) => Value::Int(i.into()),
        R::BigInt(i) => Value::Int(i),
        R::HugeInt(i) => {
            i64::try_from(i).map_or_else(|_| Value::Decimal(i.to_string()), Value::Int)
        }
        R::UTinyInt(i) => Value::Int(i.into()),
        R::USmallInt(i) => Value::Int(i.into()),
        R::UInt(i) => Value::Int(i.into()),
        R::UBigInt(i) => {
            i64::try_from(i).map_or_else(|_| Value::Decimal(i.to_string()), Value::Int)
        }
        R::Float(f) => Value::Float(f.into()),
        R::Double(f) => Value::Float(f),
        R::Decimal(d) => Value::Decimal(d.to_string()),
        R::Timestamp(unit, t) => Value::Timestamp(unit.to_micros(t)),
        R::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        R::Blob(b) => Value::Bytes(b.to_vec()),
        R::Date32(d) => Value::Date(
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
                + chrono::Duration::days(d.into()),
        ),
        other => Value::Text(format!("{:?}", other.to_owned())),
    })
}

/// Row count and newest event time of a table, for `status`.
fn table_status(
    wh: &Warehouse,
    dataset: &str,
    table: &str,
    time_column: Option<&str>,
) -> Result<TableReport> {
    let newest = time_column.map_or("NULL".to_string(), |c| format!("epoch_us(max(\"{c}\"))"));
    let (rows, newest) = wh.conn.query_row(
        &format!("SELECT count(*), {newest} FROM \"{dataset}\".\"{table}\""),
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
    )?;
    Ok(TableReport {
        table: format!("{dataset}.{table}"),
        rows,
        newest,
    })
}

/// Per subscription: (segments waiting, messages waiting, last load µs).
fn backlog(
    wh: &Warehouse,
    root: &Path,
    subscription: &str,
    topic: &str,
) -> Result<(u64, u64, Option<i64>)> {
    let last: Option<i64> = wh.conn.query_row(
        &format!("SELECT epoch_us(max(loaded_at)) FROM {META}.consumed WHERE subscription = ?"),
        [subscription],
        |r| r.get(0),
    )?;
    let Ok(log) = TopicLog::open(root, topic) else {
        return Ok((0, 0, last));
    };
    let mut consumed = wh.conn.prepare(&format!(
        "SELECT count(*) FROM {META}.consumed WHERE subscription = ? AND segment = ?"
    ))?;
    let (mut segments, mut messages) = (0, 0);
    for name in log.sealed()? {
        let done: i64 = consumed.query_row([subscription, name.as_str()], |r| r.get(0))?;
        if done == 0 {
            segments += 1;
            messages += log.header(&name)?.records;
        }
    }
    Ok((segments, messages, last))
}
