//! Plan resources ↔ Google's API objects: what exists, in the plan's comparable form, and the
//! calls that create or patch each kind, one file per family (topics.rs: Pub/Sub and its IAM;
//! tables.rs and materialized_views.rs: BigQuery; pipelines.rs: Dataflow and BigQuery subscriptions; buckets.rs: Cloud
//! Storage). Every object carries the ownership labels (docs/ownership.md).

mod buckets;
pub mod materialized_views;
mod pipelines;
mod tables;
mod topics;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use super::{Gcp, REFRESH_LABEL, ROWS_LABEL, SQL_LABEL};
use crate::plan::build::{DEPLOYMENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, PROJECT_LABEL};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Desired, Fields, Labels, Resource, labels_text};
use pipelines::LAUNCH_LABEL_PREFIX;
pub use pipelines::classic_template;
pub use tables::fingerprint_label;

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// "86400s" / "3.5s" → Duration.
fn parse_seconds(text: &str) -> Option<Duration> {
    text.strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

fn millis(ms: Option<&String>) -> Option<Duration> {
    ms.and_then(|m| m.parse::<u64>().ok())
        .map(Duration::from_millis)
}

fn last_segment(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_string()
}

impl Gcp {
    /// Whether a resource found by its name is this deployment's: bqflow's labels with this
    /// deployment's identity. One made before deployments were labelled (project label, no
    /// deployment label) counts too, and `up` adds the label; sweeps by label never take it
    /// (`swept`).
    pub(super) fn owned(&self, labels: &BTreeMap<String, String>) -> bool {
        let label = |key: &str| labels.get(key).map(String::as_str);
        label(MANAGED_BY_LABEL) == Some(MANAGED_BY)
            && label(PROJECT_LABEL) == Some(self.spec_name.as_str())
            && label(DEPLOYMENT_LABEL).is_none_or(|d| d == self.deployment)
    }

    /// Whether a resource found by listing (not named in the spec: renamed away, or a job) is
    /// this deployment's: only an exact deployment label will do.
    pub(super) fn swept(&self, labels: &BTreeMap<String, String>) -> bool {
        let label = |key: &str| labels.get(key).map(String::as_str);
        label(MANAGED_BY_LABEL) == Some(MANAGED_BY)
            && label(DEPLOYMENT_LABEL) == Some(self.deployment.as_str())
    }

    fn present(&self, labels: &BTreeMap<String, String>, mut fields: Fields) -> Observed {
        // Fingerprints are bookkeeping, not labels the user declared; `goog-` labels are
        // Google's own (Dataflow marks jobs of its templates with them).
        let shown: Labels = labels
            .iter()
            .filter(|(k, _)| {
                k.as_str() != ROWS_LABEL
                    && k.as_str() != SQL_LABEL
                    && k.as_str() != REFRESH_LABEL
                    && !k.starts_with(LAUNCH_LABEL_PREFIX)
                    && !k.starts_with(GOOGLE_LABEL_PREFIX)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        fields.insert("labels", labels_text(&shown));
        Observed::Present {
            fields,
            owned: self.owned(labels),
        }
    }

    pub async fn observe_one(&self, r: &Resource) -> Result<Observed> {
        match &r.desired {
            Desired::Topic(t) => self.observe_topic(t).await,
            Desired::Subscription(s) => self.observe_subscription(r, s).await,
            Desired::Dataset(d) => self.observe_dataset(d).await,
            Desired::Table(t) => self.observe_table(t).await,
            Desired::View(v) => self.observe_view(v).await,
            Desired::MaterializedView(m) => self.observe_materialized_view(m).await,
            Desired::Rows(rows) => self.observe_rows(rows).await,
            Desired::Bucket(b) => self.observe_bucket(b).await,
            Desired::Pipeline(pipe) => self.observe_pipeline(r, pipe).await,
        }
    }

    /// Creates or updates one resource; returns what was done.
    pub async fn apply_one(&self, change: &Change) -> Result<String> {
        match &change.resource.desired {
            Desired::Topic(t) => self.apply_topic(t, change).await,
            Desired::Subscription(s) => self.apply_subscription(s, change).await,
            Desired::Dataset(d) => self.apply_dataset(d, change).await,
            Desired::Table(t) => self.apply_table(t, change).await,
            Desired::View(v) => self.apply_view(v, change).await,
            Desired::MaterializedView(m) => self.apply_materialized_view(m, change).await,
            Desired::Rows(rows) => self.load_rows(rows, change).await,
            Desired::Bucket(b) => self.apply_bucket(b, change).await,
            Desired::Pipeline(pipe) => self.apply_pipeline(pipe, change).await,
        }
    }
}

fn changed(change: &Change) -> String {
    match &change.action {
        Action::Update(fields) => {
            let mut names: Vec<&str> = fields.iter().map(|f| f.field).collect();
            names.dedup();
            names.join(", ")
        }
        _ => String::new(),
    }
}

/// Labels Google sets on resources it manages for you; never bqflow's to compare or drop.
const GOOGLE_LABEL_PREFIX: &str = "goog-";
