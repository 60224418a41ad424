//! What a spec costs to run on gcp, per hour and per month, before anything is spent: each
//! resource's recurring cost at the generator's rate and the message sizes the generator
//! really produces (measured on its own events), priced from `prices.rs`. `plan` prints it,
//! with the other ingestion mode for comparison (docs/cost.md).

pub mod prices;
mod traffic;

use std::fmt::Write;

use crate::plan::{Desired, MaterializedViewDef, PipelineDef, Plan, ResourceId};
use crate::spec::Project;
use crate::spec::types::Via;
use prices::*;
pub use traffic::Traffic;

/// One recurring cost of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub resource: ResourceId,
    /// What is billed and how it was computed.
    pub what: String,
    pub usd_per_hour: f64,
}

/// A plan's recurring costs, and what the other ingestion mode would cost per pipeline.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    pub lines: Vec<Line>,
    pub alternatives: Vec<String>,
}

impl Estimate {
    pub fn usd_per_hour(&self) -> f64 {
        self.lines.iter().map(|l| l.usd_per_hour).sum()
    }
}

/// Bytes per hour for a rate in bytes per second.
fn per_hour(bytes_per_second: f64) -> f64 {
    bytes_per_second * 3600.0
}

/// The recurring costs of `plan` (a gcp plan) under `traffic`.
pub fn estimate(plan: &Plan, traffic: &Traffic) -> Estimate {
    let mut out = Estimate::default();
    for r in &plan.resources {
        match &r.desired {
            Desired::Topic(t) => {
                let bytes = traffic.topic_bytes_per_second(&t.name);
                if bytes > 0.0 {
                    out.lines.push(Line {
                        resource: r.id.clone(),
                        what: format!(
                            "Pub/Sub publish: {} at ${}/TiB",
                            rate_text(bytes),
                            PUBSUB_THROUGHPUT.usd
                        ),
                        usd_per_hour: per_hour(bytes) / TIB * PUBSUB_THROUGHPUT.usd,
                    });
                }
            }
            Desired::Pipeline(p) => {
                let (lines, alternative) = pipeline(plan, r.id.clone(), p, traffic);
                out.lines.extend(lines);
                out.alternatives.push(alternative);
            }
            Desired::Table(t) => {
                let Some(rows) = traffic.table_rows_per_second(plan, &t.name) else {
                    continue;
                };
                let row_bytes = traffic.row_bytes(&t.name);
                let gib_per_month = rows * row_bytes * 3600.0 * HOURS_PER_MONTH / GIB;
                out.lines.push(Line {
                    resource: r.id.clone(),
                    what: format!(
                        "storage: each month of events adds {gib_per_month:.1} GiB ({row_bytes:.0} B/row), ${}/GiB-month; grows every month",
                        BIGQUERY_ACTIVE_STORAGE.usd
                    ),
                    usd_per_hour: gib_per_month * BIGQUERY_ACTIVE_STORAGE.usd / HOURS_PER_MONTH,
                });
            }
            Desired::MaterializedView(m) => {
                if let Some(line) = refresh(plan, r.id.clone(), m, traffic) {
                    out.lines.push(line);
                }
            }
            _ => {}
        }
    }
    out
}

/// Dataflow workers and their streaming inserts, or a BigQuery subscription's throughput,
/// and the same pipeline the other way, for comparison.
fn pipeline(
    plan: &Plan,
    id: ResourceId,
    p: &PipelineDef,
    traffic: &Traffic,
) -> (Vec<Line>, String) {
    let bytes = traffic.topic_bytes_per_second(&p.topic);
    let rows = traffic
        .table_rows_per_second(plan, &p.table)
        .unwrap_or_default();
    let dataflow = dataflow_lines(&id, p, bytes, rows);
    let subscription = subscription_line(&id, bytes);
    let cost = |lines: &[Line]| lines.iter().map(|l| l.usd_per_hour).sum::<f64>() * HOURS_PER_MONTH;
    let (chosen, other, other_via) = match p.via {
        Via::Dataflow => (dataflow, vec![subscription], "bigquery-subscription"),
        Via::BigquerySubscription => (vec![subscription], dataflow, "dataflow"),
    };
    let alternative = format!(
        "pipeline {}: `via: {other_via}` would cost ${:.2}/month instead of ${:.2}/month (publishing and storage are the same either way)",
        p.name,
        cost(&other),
        cost(&chosen)
    );
    (chosen, alternative)
}

fn dataflow_lines(id: &ResourceId, p: &PipelineDef, bytes: f64, rows: f64) -> Vec<Line> {
    let machine = p
        .machine_type
        .as_deref()
        .unwrap_or(DATAFLOW_DEFAULT_MACHINE);
    // Unknown machine types are priced as the default, and said so.
    let (known, (vcpus, memory)) = match prices::machine(machine) {
        Some(m) => (true, m),
        None => (
            false,
            prices::machine(DATAFLOW_DEFAULT_MACHINE).expect("listed"),
        ),
    };
    let workers = p.max_workers.unwrap_or(1) as f64;
    let worker_hour = vcpus * DATAFLOW_STREAMING_VCPU.usd
        + memory * DATAFLOW_MEMORY.usd
        + DATAFLOW_STREAMING_DISK_GB * DATAFLOW_DISK.usd;
    let how_many = match p.max_workers {
        Some(n) => format!("{n} × {machine} (max_workers: autoscaling may run fewer)"),
        None => format!("1 × {machine} (max_workers unset: autoscaling may run more)"),
    };
    let priced_as = if known {
        String::new()
    } else {
        format!(", priced as {DATAFLOW_DEFAULT_MACHINE}")
    };
    let billed_row = (bytes / rows.max(f64::MIN_POSITIVE)).max(BIGQUERY_STREAMING_MIN_ROW_BYTES);
    vec![
        Line {
            resource: id.clone(),
            what: format!(
                "Dataflow workers: {how_many}{priced_as}, {vcpus} vCPU + {memory} GB + {DATAFLOW_STREAMING_DISK_GB} GB disk each at ${worker_hour:.4}/hour"
            ),
            usd_per_hour: workers * worker_hour,
        },
        Line {
            resource: id.clone(),
            what: format!(
                "Pub/Sub delivery to Dataflow: {} at ${}/TiB",
                rate_text(bytes),
                PUBSUB_THROUGHPUT.usd
            ),
            usd_per_hour: per_hour(bytes) / TIB * PUBSUB_THROUGHPUT.usd,
        },
        Line {
            resource: id.clone(),
            what: format!(
                "BigQuery streaming inserts: {rows:.0} rows/s billed at {billed_row:.0} B each, ${}/GiB",
                BIGQUERY_STREAMING_INSERTS.usd
            ),
            usd_per_hour: per_hour(rows * billed_row) / GIB * BIGQUERY_STREAMING_INSERTS.usd,
        },
    ]
}

fn subscription_line(id: &ResourceId, bytes: f64) -> Line {
    Line {
        resource: id.clone(),
        what: format!(
            "BigQuery subscription: {} at ${}/TiB, no workers",
            rate_text(bytes),
            PUBSUB_BIGQUERY_SUBSCRIPTION.usd
        ),
        usd_per_hour: per_hour(bytes) / TIB * PUBSUB_BIGQUERY_SUBSCRIPTION.usd,
    }
}

/// Incremental refreshes read the rows added since the last one (at least 10 MB each).
fn refresh(
    plan: &Plan,
    id: ResourceId,
    m: &MaterializedViewDef,
    traffic: &Traffic,
) -> Option<Line> {
    if !m.enable_refresh {
        return None;
    }
    let rows = traffic.table_rows_per_second(plan, &m.base)?;
    let interval = m.refresh_interval.as_secs_f64().max(60.0);
    let new_bytes = rows * traffic.row_bytes(&m.base) * interval;
    let billed = new_bytes.max(BIGQUERY_MIN_BYTES_PER_TABLE);
    let refreshes_per_hour = 3600.0 / interval;
    Some(Line {
        resource: id,
        what: format!(
            "refresh every {}: {:.1} MB of new rows each (billed at least 10 MB), ${}/TiB",
            crate::plan::duration(m.refresh_interval),
            new_bytes / 1e6,
            BIGQUERY_ON_DEMAND.usd
        ),
        usd_per_hour: refreshes_per_hour * billed / TIB * BIGQUERY_ON_DEMAND.usd,
    })
}

fn rate_text(bytes_per_second: f64) -> String {
    format!("{:.2} GiB/hour", bytes_per_second * 3600.0 / GIB)
}

/// The estimate as `plan` prints it: a line per cost, then totals and the comparison.
pub fn render(estimate: &Estimate, traffic: &Traffic, heading: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nCost {heading}, at {} events/s ({}; prices of {SEEN}, src/cost/prices.rs):",
        traffic.events_per_second,
        traffic.describe()
    );
    for l in &estimate.lines {
        let _ = writeln!(
            out,
            "  {:<44} ${:>9.4}/hour ${:>10.2}/month  {}",
            l.resource.to_string(),
            l.usd_per_hour,
            l.usd_per_hour * HOURS_PER_MONTH,
            l.what
        );
    }
    let total = estimate.usd_per_hour();
    let _ = writeln!(
        out,
        "  {:<44} ${:>9.4}/hour ${:>10.2}/month",
        "total",
        total,
        total * HOURS_PER_MONTH
    );
    for a in &estimate.alternatives {
        let _ = writeln!(out, "  {a}");
    }
    out
}

/// The estimate for a project's gcp plan at `rate` events per second (default: the spec's).
pub fn for_project(project: &Project, plan: &Plan, rate: Option<u64>) -> (Estimate, Traffic) {
    let traffic = Traffic::measure(project, rate);
    (estimate(plan, &traffic), traffic)
}
