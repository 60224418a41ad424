//! Jobs as consumers of their input subscription (the `PubSub_Subscription_to_BigQuery`
//! templates, classic and flex, use the same parameter names).
//!
//! A job counts as a consumer from launch until it ends (so messages published while it is
//! still PENDING wait for it), and delivers while RUNNING or DRAINING. Draining stops reading
//! at the watermark taken when the drain was requested: later messages stay in the
//! subscription, as with real Dataflow.

use std::collections::BTreeMap;

use super::{Dataflow, Job};

/// What the delivery worker needs to run one job.
pub(crate) struct JobSink {
    pub job_id: String,
    pub subscription: String,
    /// `outputTableSpec`, `P:DS.T`.
    pub table: String,
    /// `outputDeadletterTable`, by default `<outputTableSpec>_error_records` as the template does.
    pub dead_letter_table: String,
    /// Drain watermark: the last message sequence number the job still takes.
    pub until: Option<u64>,
}

impl Job {
    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    }

    /// The subscription this job reads, if it is a template that delivers.
    fn input(&self) -> Option<&str> {
        self.parameter("outputTableSpec")?;
        self.parameter("inputSubscription")
    }

    fn consumes(&self) -> bool {
        matches!(
            self.state,
            "JOB_STATE_PENDING" | "JOB_STATE_RUNNING" | "JOB_STATE_DRAINING"
        ) && self.input().is_some()
    }

    fn delivers(&self) -> bool {
        matches!(self.state, "JOB_STATE_RUNNING" | "JOB_STATE_DRAINING") && self.input().is_some()
    }
}

impl Dataflow {
    /// Whether a draining job still has messages from before its drain request to deliver.
    pub(super) fn backlog_left(&self, job: &Job) -> bool {
        match (&self.inputs, job.input(), job.drain_until) {
            (Some(pubsub), Some(sub), Some(until)) => pubsub.backlog_through(sub, until),
            _ => false,
        }
    }

    /// The drain watermark for a drain requested now.
    pub(super) fn watermark(&self) -> Option<u64> {
        self.inputs.as_ref().map(|p| p.last_seq())
    }

    /// Tells Pub/Sub which subscriptions live jobs read, so it queues messages for them.
    pub(super) fn sync_inputs(&self, jobs: &[Job]) {
        let Some(pubsub) = &self.inputs else { return };
        let mut inputs: BTreeMap<String, Option<u64>> = BTreeMap::new();
        for job in jobs.iter().filter(|j| j.consumes()) {
            let sub = job.input().unwrap_or_default().to_string();
            let until = if job.state == "JOB_STATE_DRAINING" {
                job.drain_until
            } else {
                None
            };
            // Two jobs on one subscription (an update in flight): the one reading furthest wins.
            inputs
                .entry(sub)
                .and_modify(|u| *u = u.zip(until).map(|(a, b)| a.max(b)))
                .or_insert(until);
        }
        pubsub.set_dataflow_inputs(inputs);
    }

    /// The jobs that deliver now.
    pub fn sinks(&self) -> Vec<JobSink> {
        if self.inputs.is_none() {
            return Vec::new();
        }
        let jobs = self.lock();
        jobs.iter()
            .filter(|j| j.delivers())
            .map(|j| {
                let table = j
                    .parameter("outputTableSpec")
                    .unwrap_or_default()
                    .to_string();
                JobSink {
                    job_id: j.id.clone(),
                    subscription: j.input().unwrap_or_default().to_string(),
                    dead_letter_table: j
                        .parameter("outputDeadletterTable")
                        .map_or_else(|| format!("{table}_error_records"), String::from),
                    table,
                    until: if j.state == "JOB_STATE_DRAINING" {
                        j.drain_until
                    } else {
                        None
                    },
                }
            })
            .collect()
    }

    /// Whether a job still delivers (cancelling stops it before its next batch).
    pub fn delivering(&self, job_id: &str) -> bool {
        self.lock().iter().any(|j| j.id == job_id && j.delivers())
    }
}
