//! The shape of `project.yaml`. Every struct rejects unknown keys, so a typo is an error with a
//! position instead of a silently ignored setting. The JSON Schema (`project.schema.json`) is
//! generated from these types; doc comments become its descriptions.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

pub use super::dashboard::Dashboard;
use super::located::{Located, Pos, Text};

/// A bqflow project: the streaming pipeline and warehouse it provisions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Project name. Goes into the ownership label `bqflow-project` on every resource, so it must
    /// be a valid label value: lowercase letters, digits, `-` and `_`, at most 63 characters.
    pub name: Text,
    /// Free text shown by `status`.
    #[serde(default)]
    pub description: Option<Text>,
    /// Extra labels put on every resource (bqflow adds `bqflow-project`, `bqflow-deployment` and
    /// `managed-by`).
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
    /// Where the pipeline runs. `local` is the default target.
    #[serde(default)]
    pub targets: Targets,
    /// Pub/Sub topics (locally: append-only logs under the local directory).
    #[serde(default)]
    pub topics: Vec<Topic>,
    /// Pub/Sub subscriptions. They never expire (bqflow sets an empty expiration policy).
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// The BigQuery dataset holding the tables and views.
    pub dataset: Dataset,
    /// Fact and dimension tables.
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Views rendered from SQL templates under `templates/`.
    #[serde(default)]
    pub views: Vec<View>,
    /// Aggregates kept up to date as rows arrive, so metrics read a summary instead of every
    /// fact (docs/materialized-views.md). BigQuery materialized views on gcp; tables the loader
    /// folds each batch into, in the same transaction, locally.
    #[serde(default)]
    pub materialized_views: Vec<MaterializedView>,
    /// Ingestion: a subscription's messages written into a table.
    #[serde(default)]
    pub pipelines: Vec<Pipeline>,
    /// The Black Friday event generator.
    #[serde(default)]
    pub generator: Generator,
    /// Named queries for `bqflow query NAME`.
    #[serde(default)]
    pub queries: Vec<Query>,
    /// Live dashboards of the queries, for `bqflow dashboard NAME`.
    #[serde(default)]
    pub dashboards: Vec<Dashboard>,
}

/// Settings per target. Both may be present; `--target` picks one.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub local: LocalTarget,
    #[serde(default)]
    pub gcp: Option<GcpTarget>,
}

/// The embedded target: DuckDB plus on-disk topic logs, no account and no server.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalTarget {
    /// Folder for the warehouse and topic logs, relative to `project.yaml`.
    #[serde(default = "default_local_dir")]
    pub dir: Text,
}

impl Default for LocalTarget {
    fn default() -> Self {
        LocalTarget {
            dir: default_local_dir(),
        }
    }
}

fn default_local_dir() -> Text {
    Text::unplaced(".bqflow")
}

/// Google Cloud through the REST APIs, authenticated with Application Default Credentials.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcpTarget {
    /// Project id. `--project` and `GOOGLE_CLOUD_PROJECT` take precedence.
    #[serde(default)]
    pub project: Option<Text>,
    /// Region for Dataflow jobs and the temp bucket, e.g. `us-central1`.
    #[serde(default = "default_region")]
    pub region: Text,
    /// BigQuery dataset location, e.g. `US`, `EU` or a region.
    #[serde(default = "default_location")]
    pub location: Text,
    /// Bucket for Dataflow temp files. Default: `<project>-bqflow-<name>-tmp`.
    #[serde(default)]
    pub temp_bucket: Option<Text>,
    /// Upper limit of bytes a query may bill; queries above it fail without charge.
    #[serde(default)]
    pub maximum_bytes_billed: Option<Located<u64>>,
    /// Service account the Dataflow workers run as. Default: the Compute Engine default.
    #[serde(default)]
    pub service_account: Option<Text>,
    /// Endpoint overrides, e.g. for emulators. Auth is skipped for an overridden endpoint.
    #[serde(default)]
    pub endpoints: Endpoints,
}

fn default_region() -> Text {
    Text::unplaced("us-central1")
}
fn default_location() -> Text {
    Text::unplaced("US")
}

/// Base URLs per service. The `*_EMULATOR_HOST` variables are honoured too.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub pubsub: Option<Text>,
    pub bigquery: Option<Text>,
    pub storage: Option<Text>,
    pub dataflow: Option<Text>,
    pub serviceusage: Option<Text>,
    pub resourcemanager: Option<Text>,
    /// Cloud Monitoring, read by `status` for the subscription backlog.
    pub monitoring: Option<Text>,
}

/// A Pub/Sub topic.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    /// 3–255 characters, starting with a letter; letters, digits and `-_.~+%`.
    pub name: Text,
    /// How long the topic keeps messages (10m … 31d), e.g. `1d`.
    #[serde(default)]
    pub message_retention: Option<Dur>,
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
}

/// A pull subscription on a topic (or, for a `bigquery-subscription` pipeline, a BigQuery one).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub name: Text,
    /// The topic it reads.
    pub topic: Text,
    /// Ack deadline (10s … 600s).
    #[serde(default)]
    pub ack_deadline: Option<Dur>,
    /// How long unacknowledged messages are kept (10m … 31d).
    #[serde(default)]
    pub message_retention: Option<Dur>,
    /// Redelivery backoff after a nack or an expired deadline.
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
    /// Where messages go after too many failed deliveries.
    #[serde(default)]
    pub dead_letter: Option<DeadLetterPolicy>,
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// 0s … 600s, default 10s.
    pub minimum_backoff: Option<Dur>,
    /// 0s … 600s, default 600s.
    pub maximum_backoff: Option<Dur>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterPolicy {
    /// A topic declared in `topics`.
    pub topic: Text,
    /// 5 … 100.
    #[serde(default = "default_delivery_attempts")]
    pub max_delivery_attempts: Located<u32>,
}

fn default_delivery_attempts() -> Located<u32> {
    Located::unplaced(5)
}

/// The BigQuery dataset (locally: a DuckDB schema of the same name).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Letters, digits and `_`, at most 1024 characters.
    pub name: Text,
    #[serde(default)]
    pub description: Option<Text>,
    /// Expiration for tables created later (at least 1h). Unset: tables never expire.
    #[serde(default)]
    pub default_table_expiration: Option<Dur>,
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
}

/// A fact or dimension table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Starts with a letter or `_`; letters, digits and `_`.
    pub name: Text,
    #[serde(default)]
    pub description: Option<Text>,
    pub columns: Vec<Column>,
    /// Time partitioning on a TIMESTAMP or DATE column.
    #[serde(default)]
    pub partitioning: Option<Partitioning>,
    /// Up to four top-level columns to cluster by, in order.
    #[serde(default)]
    pub clustering: Vec<Text>,
    /// Rows `up` loads into the table from the generator's model (dimension tables).
    #[serde(default)]
    pub load: Option<Located<DimensionSource>>,
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: Text,
    #[serde(rename = "type")]
    pub column_type: Located<ColumnType>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub description: Option<Text>,
    /// NUMERIC only: total digits (1 … 29) — e.g. 18 for money.
    #[serde(default)]
    pub precision: Option<Located<u32>>,
    /// NUMERIC only: digits after the point (0 … 9).
    #[serde(default)]
    pub scale: Option<Located<u32>>,
}

/// BigQuery (GoogleSQL) column types that bqflow maps to DuckDB as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum ColumnType {
    STRING,
    BYTES,
    #[serde(alias = "INTEGER")]
    INT64,
    #[serde(alias = "FLOAT")]
    FLOAT64,
    NUMERIC,
    #[serde(alias = "BOOLEAN")]
    BOOL,
    TIMESTAMP,
    DATE,
    DATETIME,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum Mode {
    #[default]
    NULLABLE,
    REQUIRED,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Partitioning {
    /// A top-level TIMESTAMP or DATE column.
    pub field: Text,
    #[serde(default = "default_granularity")]
    pub granularity: Located<Granularity>,
    /// Partitions older than this are deleted.
    #[serde(default)]
    pub expiration: Option<Dur>,
}

fn default_granularity() -> Located<Granularity> {
    Located::unplaced(Granularity::DAY)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum Granularity {
    HOUR,
    DAY,
    MONTH,
    YEAR,
}

/// Dimension rows derived from the generator's seed, so facts and dimensions always agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DimensionSource {
    GeneratorProducts,
    GeneratorStores,
}

/// A view, one metric, written as a SQL template.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct View {
    pub name: Text,
    /// Template path relative to `templates/`. Default: `views/<name>.sql`.
    #[serde(default)]
    pub template: Option<Text>,
    #[serde(default)]
    pub description: Option<Text>,
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
}

/// A materialized view: `SELECT keys, SUM|COUNT|COUNTIF|MIN|MAX(...) AS name … FROM one table
/// GROUP BY keys`, written as a SQL template like a view.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterializedView {
    pub name: Text,
    /// Template path relative to `templates/`. Default: `materialized_views/<name>.sql`.
    #[serde(default)]
    pub template: Option<Text>,
    #[serde(default)]
    pub description: Option<Text>,
    /// gcp: the most often BigQuery refreshes it (`refreshIntervalMs`, 1m to 7d; BigQuery's
    /// default is 30m). Queries still see every row: BigQuery adds what the last refresh
    /// missed. Locally every load folds in at once.
    #[serde(default)]
    pub refresh_interval: Option<Dur>,
    /// gcp: whether BigQuery refreshes it automatically (`enableRefresh`, default true).
    #[serde(default)]
    pub enable_refresh: Option<bool>,
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
}

/// Messages from a subscription written into a table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Lowercase letters, digits and `-`; also names the Dataflow job.
    pub name: Text,
    /// The subscription it reads (declared under `subscriptions`).
    pub subscription: Text,
    /// The table it writes (declared under `tables`).
    pub table: Text,
    /// `dataflow` (Google's Pub/Sub-to-BigQuery template) or `bigquery-subscription` (no workers).
    #[serde(default = "default_via")]
    pub via: Located<Via>,
    /// Table for messages that cannot be written. Default: `<table>_error_records`.
    #[serde(default)]
    pub dead_letter_table: Option<Text>,
    /// Dataflow worker settings (`via: dataflow` only).
    #[serde(default)]
    pub dataflow: Option<DataflowSettings>,
}

fn default_via() -> Located<Via> {
    Located::unplaced(Via::Dataflow)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    Dataflow,
    BigquerySubscription,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataflowSettings {
    /// 1 … 1000.
    pub max_workers: Option<Located<u32>>,
    /// e.g. `n1-standard-2`.
    pub machine_type: Option<Text>,
    /// A flex template spec file (`gs://…/spec.json`) to launch instead of Google's classic
    /// `PubSub_Subscription_to_BigQuery` template.
    pub flex_template: Option<Text>,
}

/// The Black Friday generator (see `bqflow generate --help`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// Same seed, same stores, products and events.
    #[serde(default = "default_seed")]
    pub seed: Located<u64>,
    /// Default events per second for `generate`.
    #[serde(default = "default_rate")]
    pub rate: Located<u64>,
    /// Number of stores (1 … 10000).
    #[serde(default = "default_stores")]
    pub stores: Located<u32>,
    /// Number of products (10 … 100000).
    #[serde(default = "default_products")]
    pub products: Located<u32>,
    /// The simulated day, `YYYY-MM-DD`.
    #[serde(default = "default_day")]
    pub day: Text,
    /// Topics the two event streams are published to.
    pub streams: Option<Streams>,
}

impl Default for Generator {
    fn default() -> Self {
        Generator {
            seed: default_seed(),
            rate: default_rate(),
            stores: default_stores(),
            products: default_products(),
            day: default_day(),
            streams: None,
        }
    }
}

fn default_seed() -> Located<u64> {
    Located::unplaced(42)
}
fn default_rate() -> Located<u64> {
    Located::unplaced(500)
}
fn default_stores() -> Located<u32> {
    Located::unplaced(24)
}
fn default_products() -> Located<u32> {
    Located::unplaced(200)
}
fn default_day() -> Text {
    Text::unplaced("2026-11-27")
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Streams {
    /// Topic for sale events.
    pub sales: Text,
    /// Topic for inventory movements.
    pub inventory: Text,
}

/// A named query: `bqflow query NAME`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Lowercase letters, digits and `-`.
    pub name: Text,
    #[serde(default)]
    pub description: Option<Text>,
    /// SQL template (same functions as views). Use `{{ param("x") }}` for a parameter.
    pub sql: Text,
    /// Parameters, passed as `--param name=value`; bound as query parameters, never pasted.
    #[serde(default)]
    pub params: Vec<QueryParam>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryParam {
    pub name: Text,
    #[serde(rename = "type", default = "default_param_type")]
    pub param_type: Located<ParamType>,
    /// Value when the flag is not given. Without one, the parameter is required.
    #[serde(default)]
    pub default: Option<Text>,
    #[serde(default)]
    pub description: Option<Text>,
}

fn default_param_type() -> Located<ParamType> {
    Located::unplaced(ParamType::STRING)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum ParamType {
    STRING,
    INT64,
    FLOAT64,
    BOOL,
    TIMESTAMP,
    DATE,
}

/// A duration written like `60s`, `10m`, `1d` or `1h 30m`.
#[derive(Clone, Debug)]
pub struct Dur {
    pub value: Duration,
    pub text: String,
    pub at: Pos,
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(d)?;
        let value = humantime::parse_duration(&text.value).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration `{}`: {e} (write e.g. `60s`, `10m`, `1d`)",
                text.value
            ))
        })?;
        Ok(Dur {
            value,
            text: text.value,
            at: text.at,
        })
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as `60s`, `10m`, `1d` or `1h 30m`.",
            "pattern": r"^\s*\d+\s*[a-zA-Z]+(\s*\d+\s*[a-zA-Z]+)*\s*$"
        })
    }
}
