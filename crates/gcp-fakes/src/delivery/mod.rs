//! Moving data: Dataflow template jobs and Pub/Sub BigQuery subscriptions write the messages
//! of their subscription into BigQuery (the upstream emulator), so a test can run
//! generate → Pub/Sub → pipeline → BigQuery end to end.
//!
//! One worker task polls every [`TICK`]: each job that is RUNNING or DRAINING, and each
//! BigQuery subscription, leases up to [`BATCH`] messages at a time from its subscription,
//! checks them against the table's schema (`rows.rs`; fetched once with `tables.get` and
//! cached), streams the good ones with `tabledata.insertAll`, handles the rest the way its
//! real counterpart does (`sinks.rs`), and settles the batch. Consumers run concurrently;
//! one keeps taking batches until its backlog is empty or [`SLICE`] has passed.
//!
//! Requests go straight to the upstream (`upstream.rs`): they are not the client's, so they
//! are not recorded and no injected fault applies to them. The proxy tells this module
//! about the client's own schema changes ([`Observe`]) so the cache never goes stale.

mod rows;
mod sinks;
mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dataflow::Dataflow;
use crate::discovery::Matched;
use crate::pubsub::PubSub;
use crate::server::Observe;
use rows::Schema;
use upstream::{Failure, TableRef, Upstream};

/// How often the worker looks for work.
const TICK: Duration = Duration::from_millis(100);
/// Rows per `insertAll`: BigQuery's recommended size (docs/gcp-apis.md#bigquery-insertall).
const BATCH: usize = 500;
/// How long one consumer may keep the worker before the next poll picks up new consumers.
const SLICE: Duration = Duration::from_secs(1);

/// What happened to the messages meant for one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Rows written to the table.
    pub delivered: usize,
    /// Messages that did not fit the table and went to the dead-letter table (Dataflow) or
    /// were published to the subscription's dead-letter topic (BigQuery subscription).
    pub dead_lettered: usize,
    /// Messages a BigQuery subscription could not write and had no dead-letter topic for.
    /// Pub/Sub would redeliver them forever; the fake counts them once and drops them.
    pub undelivered: usize,
    /// Messages lost to upstream errors (after retries), a missing table or a bad table spec.
    pub failed: usize,
    /// The last upstream error or missing table, for test failure messages.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Schemas {
    tables: HashMap<String, Arc<Schema>>,
    /// `schema.fields` the client sent when creating or patching a table, by `P.DS.T`.
    declared: HashMap<String, Value>,
    /// Bumped on every invalidation, so a fetch that raced one is not cached.
    generation: u64,
}

pub(crate) struct Delivery {
    pubsub: Arc<PubSub>,
    dataflow: Arc<Dataflow>,
    upstream: Upstream,
    schemas: Mutex<Schemas>,
    stats: Mutex<BTreeMap<String, DeliveryStats>>,
}

/// `P.DS.T` for a table given as `P.DS.T` or `P:DS.T`.
pub(crate) fn table_key(spec: &str) -> Option<String> {
    TableRef::parse(spec).map(|t| t.key())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Delivery {
    pub fn new(pubsub: Arc<PubSub>, dataflow: Arc<Dataflow>, upstream_url: &str) -> Delivery {
        Delivery {
            pubsub,
            dataflow,
            upstream: Upstream::new(upstream_url),
            schemas: Mutex::default(),
            stats: Mutex::default(),
        }
    }

    /// The worker; runs until the runtime stops.
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(TICK).await;
            let mut consumers = tokio::task::JoinSet::new();
            for sink in self.dataflow.sinks() {
                consumers.spawn(self.clone().run_job(sink));
            }
            for sub in self.pubsub.bigquery_subscriptions() {
                consumers.spawn(self.clone().run_subscription(sub));
            }
            while consumers.join_next().await.is_some() {}
        }
    }

    pub fn stats(&self) -> BTreeMap<String, DeliveryStats> {
        lock(&self.stats).clone()
    }

    /// Waits until consumers have taken every message published so far.
    pub fn wait(&self, timeout: Duration) -> bool {
        let through = self.pubsub.last_seq();
        let deadline = Instant::now() + timeout;
        loop {
            if !self.pubsub.unconsumed(through) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn count(&self, table: &str, f: impl FnOnce(&mut DeliveryStats)) {
        f(lock(&self.stats).entry(table.to_string()).or_default());
    }

    fn fail(&self, table: &str, n: usize, error: String) {
        self.count(table, |s| {
            s.failed += n;
            s.last_error = Some(error);
        });
    }

    /// The table's schema, cached; `Ok(None)` when the table does not exist (not cached, so
    /// a table created later is found).
    async fn schema(&self, t: &TableRef) -> Result<Option<Arc<Schema>>, Failure> {
        let key = t.key();
        let generation = {
            let schemas = lock(&self.schemas);
            if let Some(s) = schemas.tables.get(&key) {
                return Ok(Some(s.clone()));
            }
            schemas.generation
        };
        let Some(table) = self.upstream.get_table(t).await? else {
            return Ok(None);
        };
        let mut schemas = lock(&self.schemas);
        let schema = Arc::new(Schema::from_table(&table, schemas.declared.get(&key)));
        if schemas.generation == generation {
            schemas.tables.insert(key, schema.clone());
        }
        Ok(Some(schema))
    }
}

/// The client's BigQuery requests that change schemas, seen by the proxy after they succeeded.
impl Observe for Delivery {
    fn observe(&self, call: &Matched) {
        let declared = match call.id.as_str() {
            "bigquery.tables.insert" => Some(format!(
                "{}.{}.{}",
                call.param("projectId"),
                call.param("datasetId"),
                call.body["tableReference"]["tableId"]
                    .as_str()
                    .unwrap_or("")
            )),
            "bigquery.tables.patch" | "bigquery.tables.update" => Some(format!(
                "{}.{}.{}",
                call.param("projectId"),
                call.param("datasetId"),
                call.param("tableId")
            )),
            // DDL through queries may change any table.
            "bigquery.tables.delete"
            | "bigquery.datasets.delete"
            | "bigquery.jobs.query"
            | "bigquery.jobs.insert" => None,
            _ => return,
        };
        let mut schemas = lock(&self.schemas);
        if let Some(key) = declared
            && let Some(fields) = call.body.pointer("/schema/fields")
        {
            schemas.declared.insert(key, fields.clone());
        }
        schemas.tables.clear();
        schemas.generation += 1;
    }
}
