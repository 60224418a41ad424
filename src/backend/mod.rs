//! Targets behind one interface. Commands build a plan, then ask the backend to observe, apply,
//! query, report status, accept events and tear down; the backend decides how.

pub mod gcp;
#[cfg(feature = "duckdb")]
pub mod local;
pub mod lock;
pub mod sql_check;
mod target;

use anyhow::Result;

use crate::output::QueryResult;
use crate::plan::diff::Observed;
use crate::plan::{Placement, ResourceId};
use crate::spec::Project;
use crate::sql::Rendered;
use crate::sql::params::ParamValue;

pub use lock::GENERATE_LOCK;
pub use target::{Answer, Target};

/// Marks a local target `bqflow demo` provisioned, so the next demo may start it afresh.
/// Without it the data is the user's (`up` and `generate` by hand), and the demo asks first.
pub const DEMO_MARK: &str = "made-by-demo";

/// The target a command works on. Commands hold one of these and never ask which it is:
/// every difference between the local and gcp targets is a method of `Target` (target.rs).
pub type Backend = Box<dyn Target>;

/// The target a placement names.
pub fn for_target(project: &Project, placement: &Placement) -> Result<Backend> {
    match placement {
        #[cfg(feature = "duckdb")]
        Placement::Local => Ok(Box::new(local::Local::new(&project.local_dir()))),
        #[cfg(not(feature = "duckdb"))]
        Placement::Local => {
            anyhow::bail!(
                "this bqflow was built without the `duckdb` feature: the local target is unavailable"
            )
        }
        Placement::Gcp(g) => Ok(Box::new(gcp::Gcp::new(project, g)?)),
    }
}

/// Per event stream (sales, inventory): the last generator sequence already delivered.
pub type ResumePoints = [Option<u64>; 2];

/// The warehouse is held by another process that did not let go within the wait (the local
/// target's single-writer DuckDB file). Readers such as the dashboard say so and try again.
#[derive(Debug, thiserror::Error)]
#[error("the local warehouse {} is in use by {holder}", path.display())]
pub struct Busy {
    pub path: std::path::PathBuf,
    /// The holding process as DuckDB names it: program, PID and user.
    pub holder: String,
}

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

impl<T> Reading<T> {
    /// The known value converted; an unknown one keeps its reason.
    pub fn map<U>(&self, f: impl FnOnce(&T) -> U) -> Reading<U> {
        match self {
            Reading::Known(v) => Reading::Known(f(v)),
            Reading::Unknown(why) => Reading::Unknown(why.clone()),
        }
    }
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

/// How a target tells the user what it is doing while it works (notes and warnings); the
/// terminal `Ui` implements it. Targets never take the terminal itself.
pub trait Notify: Sync {
    fn note(&self, text: &str);
    fn warn(&self, text: &str);
}

impl Notify for crate::ui::Ui {
    fn note(&self, text: &str) {
        crate::ui::Ui::note(self, text)
    }
    fn warn(&self, text: &str) {
        crate::ui::Ui::warn(self, text)
    }
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
