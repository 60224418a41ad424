//! Fake Dataflow v1b3, regional methods only (`projects/{p}/locations/{region}/...`):
//! classic and flex template launches, jobs list/get, and update for drain and cancel.
//!
//! Jobs move through states on a configurable clock ([`DataflowTiming`]), evaluated lazily
//! whenever a job is read (by a request, or by the delivery worker's poll), so a test can make
//! a drain never finish. Every job is a streaming job (the templates bqflow launches are).
//!
//! With delivery on, a job whose parameters name an `inputSubscription` and an
//! `outputTableSpec` reads its subscription while RUNNING or DRAINING (`inputs.rs`,
//! `crate::delivery`), and a drain also waits until the job has taken everything published
//! before the drain was requested.

mod inputs;
mod jobs;
mod launch;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::discovery::Matched;
use crate::pubsub::PubSub;
use crate::reply::Reply;
use crate::server::Api;

pub(crate) use inputs::JobSink;

/// How long state transitions take; `None` means never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataflowTiming {
    /// JOB_STATE_PENDING → JOB_STATE_RUNNING.
    pub start: Option<Duration>,
    /// JOB_STATE_DRAINING → JOB_STATE_DRAINED: at least this long, and (when the job
    /// delivers) until it has taken everything published before the drain request.
    pub drain: Option<Duration>,
    /// JOB_STATE_CANCELLING → JOB_STATE_CANCELLED.
    pub cancel: Option<Duration>,
}

impl Default for DataflowTiming {
    fn default() -> DataflowTiming {
        DataflowTiming {
            start: Some(Duration::from_millis(200)),
            drain: Some(Duration::from_millis(500)),
            cancel: Some(Duration::from_millis(200)),
        }
    }
}

impl DataflowTiming {
    /// Every transition at once (for tests that only care about end states).
    pub fn instant() -> DataflowTiming {
        DataflowTiming {
            start: Some(Duration::ZERO),
            drain: Some(Duration::ZERO),
            cancel: Some(Duration::ZERO),
        }
    }
}

const TERMINAL: &[&str] = &[
    "JOB_STATE_DONE",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_UPDATED",
    "JOB_STATE_DRAINED",
    "JOB_STATE_STOPPED",
];

pub(crate) fn is_terminal(state: &str) -> bool {
    TERMINAL.contains(&state)
}

pub(crate) struct Job {
    project: String,
    location: String,
    id: String,
    name: String,
    labels: Map<String, Value>,
    /// The gcsPath or containerSpecGcsPath the job was launched from.
    template: String,
    parameters: Map<String, Value>,
    environment: Map<String, Value>,
    created: DateTime<Utc>,
    state: &'static str,
    state_since: Instant,
    state_time: DateTime<Utc>,
    requested_state: Option<String>,
    replace_job_id: Option<String>,
    replaced_by_job_id: Option<String>,
    runtime_updatable_params: Option<Value>,
    /// Last message sequence number a draining job still takes from its input.
    drain_until: Option<u64>,
    /// When a drain last found messages left to take.
    backlog_seen: Option<Instant>,
}

impl Job {
    fn set_state(&mut self, state: &'static str) {
        self.state = state;
        self.state_since = Instant::now();
        self.state_time = Utc::now();
    }

    /// Applies the transitions whose time has come. `backlog` tells whether a draining job
    /// still has messages to deliver.
    fn advance(&mut self, timing: &DataflowTiming, now: Instant, backlog: impl Fn(&Job) -> bool) {
        loop {
            let (next, after) = match self.state {
                "JOB_STATE_PENDING" => ("JOB_STATE_RUNNING", timing.start),
                "JOB_STATE_DRAINING" => ("JOB_STATE_DRAINED", timing.drain),
                "JOB_STATE_CANCELLING" => ("JOB_STATE_CANCELLED", timing.cancel),
                _ => return,
            };
            let Some(after) = after else { return };
            if now.saturating_duration_since(self.state_since) < after {
                return;
            }
            // The drain ends after its minimum time, or when the backlog was last seen, if later.
            let mut at = self.state_since + after;
            if self.state == "JOB_STATE_DRAINING" {
                if backlog(self) {
                    self.backlog_seen = Some(now);
                    return;
                }
                at = at.max(self.backlog_seen.unwrap_or(at));
            }
            self.state = next;
            self.state_time +=
                chrono::Duration::from_std(at - self.state_since).unwrap_or_default();
            self.state_since = at;
        }
    }

    fn active(&self) -> bool {
        !is_terminal(self.state)
    }

    /// The job as `Job` JSON, as much of it as `view` shows.
    fn to_json(&self, view: View) -> Value {
        let time = |t: DateTime<Utc>| crate::wire::timestamp(t);
        let mut v = json!({
            "id": self.id,
            "projectId": self.project,
            "name": self.name,
            "type": "JOB_TYPE_STREAMING",
            "currentState": self.state,
            "currentStateTime": time(self.state_time),
            "createTime": time(self.created),
            "startTime": time(self.created),
            "location": self.location,
        });
        if view == View::Summary {
            return v;
        }
        if !self.labels.is_empty() {
            v["labels"] = Value::Object(self.labels.clone());
        }
        if let Some(s) = &self.requested_state {
            v["requestedState"] = s.clone().into();
        }
        if let Some(id) = &self.replace_job_id {
            v["replaceJobId"] = id.clone().into();
        }
        if let Some(id) = &self.replaced_by_job_id {
            v["replacedByJobId"] = id.clone().into();
        }
        if let Some(p) = &self.runtime_updatable_params {
            v["runtimeUpdatableParams"] = p.clone();
        }
        if view == View::All {
            // Where real Dataflow echoes pipeline options, template parameters included.
            let mut options = self.parameters.clone();
            options.insert("templateLocation".into(), self.template.clone().into());
            for (k, val) in &self.environment {
                options.entry(k.clone()).or_insert(val.clone());
            }
            v["environment"] = json!({"sdkPipelineOptions": {"options": options}});
        }
        v
    }
}

/// How much of a job a response shows (the `view` parameter of `jobs.get`). `jobs.list`
/// "always returns summaries now": no labels, no environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// Ids, name, type, state and times.
    Summary,
    /// The summary plus labels.
    Description,
    /// Everything, pipeline options included.
    All,
}

impl View {
    /// `JOB_VIEW_UNKNOWN` or no view: at least the summary, which is what this fake gives.
    fn from_query(view: Option<&str>) -> View {
        match view {
            Some("JOB_VIEW_ALL") => View::All,
            Some("JOB_VIEW_DESCRIPTION") => View::Description,
            _ => View::Summary,
        }
    }
}

pub(crate) struct Dataflow {
    timing: Mutex<DataflowTiming>,
    jobs: Mutex<Vec<Job>>,
    /// Pub/Sub, when jobs deliver; lock order is always jobs, then Pub/Sub.
    inputs: Option<Arc<PubSub>>,
}

impl Dataflow {
    pub fn new(timing: DataflowTiming, inputs: Option<Arc<PubSub>>) -> Dataflow {
        Dataflow {
            timing: Mutex::new(timing),
            jobs: Mutex::new(Vec::new()),
            inputs,
        }
    }

    pub fn set_timing(&self, timing: DataflowTiming) {
        *self.timing.lock().unwrap_or_else(|e| e.into_inner()) = timing;
    }

    /// The jobs, transitions applied (and Pub/Sub told which inputs are read).
    fn lock(&self) -> MutexGuard<'_, Vec<Job>> {
        let timing = *self.timing.lock().unwrap_or_else(|e| e.into_inner());
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        for job in jobs.iter_mut() {
            job.advance(&timing, now, |j| self.backlog_left(j));
        }
        self.sync_inputs(&jobs);
        jobs
    }

    /// Every job (JOB_VIEW_ALL), oldest first.
    pub fn jobs(&self) -> Vec<Value> {
        self.lock().iter().map(|j| j.to_json(View::All)).collect()
    }
}

impl Api for Dataflow {
    fn handle(&self, call: &Matched) -> Reply {
        let outcome = match call.id.as_str() {
            "dataflow.projects.locations.templates.launch" => self.launch_classic(call),
            "dataflow.projects.locations.flexTemplates.launch" => self.launch_flex(call),
            "dataflow.projects.locations.jobs.list" => self.list(call),
            "dataflow.projects.locations.jobs.get" => self.get(call),
            "dataflow.projects.locations.jobs.update" => self.update(call),
            "dataflow.projects.locations.jobs.messages.list" => Ok(json!({})),
            other => Err(Reply::unimplemented(other)),
        };
        Reply::from_outcome(outcome)
    }
}
