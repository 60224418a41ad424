//! The desired state: every resource the spec declares, with its settings and the resources it
//! waits for. Backends observe what exists; `diff` compares field by field; `dag` applies the
//! changes in dependency order. The same plan drives both targets.

pub mod build;
mod build_rollups;
pub use build_rollups::DEFAULT_REFRESH;
pub mod columns;
pub mod dag;
pub mod diff;
mod fields;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::spec::types::{DimensionSource, Granularity, Via};
pub use build::build;
pub use fields::{Fields, columns_text, duration, labels_text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Topic,
    Subscription,
    Dataset,
    Table,
    View,
    MaterializedView,
    Rows,
    Bucket,
    Pipeline,
}

impl Kind {
    /// Whether its contents are computed from other resources, so it can be dropped and made
    /// again without losing anything (`plan` then replaces what cannot change in place).
    pub fn is_derived(self) -> bool {
        self == Kind::MaterializedView
    }

    pub fn noun(self) -> &'static str {
        match self {
            Kind::Topic => "topic",
            Kind::Subscription => "subscription",
            Kind::Dataset => "dataset",
            Kind::Table => "table",
            Kind::View => "view",
            Kind::MaterializedView => "materialized view",
            Kind::Rows => "rows",
            Kind::Bucket => "bucket",
            Kind::Pipeline => "pipeline",
        }
    }
}

/// A resource's identity: its kind and its name (tables and views as `dataset.name`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    pub kind: Kind,
    pub name: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.noun(), self.name)
    }
}

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub struct Resource {
    pub id: ResourceId,
    /// Resources that must exist first.
    pub deps: Vec<ResourceId>,
    pub desired: Desired,
    /// Ownership labels plus the spec's own.
    pub labels: Labels,
}

#[derive(Clone, Debug)]
pub enum Desired {
    Topic(TopicDef),
    Subscription(SubscriptionDef),
    Dataset(DatasetDef),
    Table(TableDef),
    View(ViewDef),
    MaterializedView(MaterializedViewDef),
    Rows(RowsDef),
    Bucket(BucketDef),
    Pipeline(PipelineDef),
}

/// Where the plan will be applied: the local target, or a GCP project and region.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    Local,
    Gcp(GcpPlacement),
}

#[derive(Clone, Debug, PartialEq)]
pub struct GcpPlacement {
    pub project: String,
    pub region: String,
    /// BigQuery dataset location.
    pub location: String,
    pub temp_bucket: String,
    pub service_account: Option<String>,
}

/// FNV-1a: a hash that is stable across versions and platforms (unlike std's hasher), for
/// names and labels derived from text.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Which deployment of a spec something belongs to. Two copies of one spec in one GCP project
/// (dev and staging, `dataset: retail_${BQFLOW_ENV}`) must differ in their dataset (it holds
/// their tables), so the spec name and the dataset name tell them apart. The value is a valid
/// label value (lowercase, at most 63 characters): the dataset, readable, and a hash of both
/// names, so that `Retail_Dev` and `retail_dev`, or two spec names, never collide. See
/// docs/ownership.md.
pub fn deployment_id(spec_name: &str, dataset: &str) -> String {
    let readable: String = dataset
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(50)
        .collect();
    let hash = fnv1a(format!("{spec_name}/{dataset}").as_bytes()) as u32;
    format!("{readable}-{hash:08x}")
}

/// The Dataflow temp bucket (gcp only).
#[derive(Clone, Debug, PartialEq)]
pub struct BucketDef {
    pub name: String,
    pub location: String,
    /// Objects older than this many days are deleted by a lifecycle rule.
    pub delete_after_days: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TopicDef {
    pub name: String,
    pub message_retention: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionDef {
    pub name: String,
    pub topic: String,
    pub ack_deadline: Duration,
    /// Pub/Sub's default (7 days) when the spec says nothing, so it compares with what exists.
    pub message_retention: Duration,
    pub retry: Option<(Duration, Duration)>,
    pub dead_letter: Option<(String, u32)>,
    /// Set when a `bigquery-subscription` pipeline writes through this subscription.
    pub bigquery_table: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DatasetDef {
    pub name: String,
    /// BigQuery location (gcp only; fixed at creation).
    pub location: Option<String>,
    pub description: Option<String>,
    pub default_table_expiration: Option<Duration>,
}

/// A column, with its type in both dialects (dead-letter tables have a nested RECORD column
/// that the spec's own column types do not cover).
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    /// BigQuery type, e.g. `STRING`, `NUMERIC(18, 2)`, `RECORD`.
    pub bigquery_type: String,
    pub duckdb_type: String,
    pub required: bool,
    pub repeated: bool,
    pub description: Option<String>,
    /// Sub-fields of a RECORD.
    pub fields: Vec<ColumnDef>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    pub dataset: String,
    pub name: String,
    pub description: Option<String>,
    pub columns: Vec<ColumnDef>,
    pub partitioning: Option<(String, Granularity, Option<Duration>)>,
    pub clustering: Vec<String>,
    /// The pipeline whose malformed messages this table receives, if it is a dead-letter table.
    pub dead_letter_of: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ViewDef {
    pub dataset: String,
    pub name: String,
    pub description: Option<String>,
    /// Rendered for the target's dialect.
    pub sql: String,
}

/// An aggregate kept up to date as rows arrive (`sql/rollup.rs` says which SQL qualifies).
#[derive(Clone, Debug, PartialEq)]
pub struct MaterializedViewDef {
    pub dataset: String,
    pub name: String,
    pub description: Option<String>,
    /// Rendered for the target's dialect, over the whole base table.
    pub sql: String,
    /// The table it summarises.
    pub base: String,
    pub shape: crate::sql::rollup::Shape,
    /// Local: the same SQL over one loaded batch (`sql::rollup::BATCH_RELATION`), which the
    /// loader merges in. `None` on gcp, where BigQuery refreshes it.
    pub batch_sql: Option<String>,
    pub enable_refresh: bool,
    pub refresh_interval: Duration,
}

/// Dimension rows derived from the generator's seed, loaded by `up`.
#[derive(Clone, Debug, PartialEq)]
pub struct RowsDef {
    pub dataset: String,
    pub table: String,
    pub source: DimensionSource,
    /// The generator model the rows come from.
    pub model: crate::generate::ModelConfig,
    /// Changes whenever the rows would (seed, counts); stored beside the rows to detect drift.
    pub fingerprint: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PipelineDef {
    pub name: String,
    pub subscription: String,
    pub topic: String,
    pub dataset: String,
    pub table: String,
    pub dead_letter_table: String,
    pub via: Via,
    pub max_workers: Option<u32>,
    pub machine_type: Option<String>,
    /// A flex template spec (`gs://…`); None launches Google's classic
    /// `PubSub_Subscription_to_BigQuery` template.
    pub flex_template: Option<String>,
}

/// What a subscription with a dead-letter topic needs besides the policy: Pub/Sub's service
/// agent allowed to acknowledge here and publish there.
pub fn dead_letter_access(topic: &str) -> String {
    format!("Pub/Sub's service agent may move undeliverable messages to {topic}")
}

/// The plan: resources in a stable order (dependencies before dependents).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub resources: Vec<Resource>,
}

impl Plan {
    pub fn get(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.id == id)
    }

    /// (dataset, table, event-time column) of every table a pipeline fills: where the newest
    /// event and the recent arrival rate are read.
    pub fn event_times(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for r in &self.resources {
            let Desired::Pipeline(p) = &r.desired else {
                continue;
            };
            let time = self.resources.iter().find_map(|t| match &t.desired {
                Desired::Table(def) if def.name == p.table && def.dataset == p.dataset => def
                    .columns
                    .iter()
                    .find(|c| c.bigquery_type == "TIMESTAMP")
                    .map(|c| c.name.clone()),
                _ => None,
            });
            if let Some(column) = time {
                out.push((p.dataset.clone(), p.table.clone(), column));
            }
        }
        out
    }
}

#[cfg(test)]
mod deployment_tests {
    use super::*;

    #[test]
    fn copies_of_a_spec_in_different_datasets_are_different_deployments() {
        let dev = deployment_id("blackfriday", "retail_dev");
        let staging = deployment_id("blackfriday", "retail_staging");
        assert_ne!(dev, staging);
        assert!(dev.starts_with("retail-dev-"), "{dev}");
        assert_ne!(dev, deployment_id("blackfriday", "Retail_Dev"));
        assert_ne!(dev, deployment_id("cybermonday", "retail_dev"));
        for id in [&dev, &deployment_id("x", &"d".repeat(1024))] {
            assert!(crate::spec::names::label_value(id).is_ok(), "{id}");
        }
    }
}
