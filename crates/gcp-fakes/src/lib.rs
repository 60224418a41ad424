//! Fakes of the Google Cloud REST APIs bqflow calls, for tests and benchmarks.
//!
//! [`Fakes::start`] binds one loopback listener per service, each on its own port:
//!
//! | server                 | serves                                                       |
//! |------------------------|--------------------------------------------------------------|
//! | `pubsub`               | fake Pub/Sub v1 (`/v1/projects/{p}/topics/...`, `.../subscriptions/...`) |
//! | `dataflow`             | fake Dataflow v1b3 (`/v1b3/projects/{p}/locations/{r}/...`)  |
//! | `serviceusage`         | fake Service Usage v1 (`/v1/projects/{p}/services...`)       |
//! | `cloudresourcemanager` | fake Resource Manager v1 (`/v1/projects/{p}`)                |
//! | each [`Upstream`]      | validating proxy to an emulator (BigQuery, Cloud Storage)    |
//!
//! Every request is checked against the service's discovery document (see [`discovery`]);
//! one that does not fit gets a 400 (404 for an unknown path) and is recorded as a
//! [`Violation`]. Every request is recorded ([`Fakes::requests`]) with timing
//! ([`Fakes::spans`], [`Stats::rounds`]). Faults and latency ([`Faults`]) apply per server.
//!
//! ```no_run
//! let fakes = gcp_fakes::Fakes::start(gcp_fakes::Config::new("bqflow-test")).unwrap();
//! // Point the client at fakes.pubsub_url() etc. (or use fakes.env()), run it, then:
//! fakes.assert_no_violations();
//! ```
//!
//! The servers run on a thread of their own with their own tokio runtime, so they work
//! from plain `#[test]`s and from `#[tokio::test]`s alike; dropping [`Fakes`] stops them.
//!
//! With a BigQuery [`Upstream`], the fakes also move data (module `delivery`):
//! Dataflow `PubSub_Subscription_to_BigQuery` jobs and Pub/Sub BigQuery subscriptions write
//! published messages into the upstream's tables, dead-lettering those that do not fit.
//! [`Fakes::delivery_stats`] counts the outcomes and [`Fakes::wait_delivered`] waits for them.
//! These writes go straight to the upstream: they are not in [`Fakes::requests`] and no
//! injected fault applies to them.

mod dataflow;
mod delivery;
pub mod discovery;
mod faults;
mod fieldmask;
mod labels;
mod paging;
mod proxy;
mod pubsub;
mod record;
mod reply;
mod resourcemanager;
mod server;
mod serviceusage;
mod wire;

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

pub use dataflow::DataflowTiming;
pub use delivery::DeliveryStats;
pub use discovery::Service;
pub use faults::{FaultKind, FaultRule, Faults, Trigger};
pub use pubsub::PublishedMessage;
pub use record::{RecordedRequest, Span, Stats, Violation, rounds};

use faults::FaultPlan;
use server::{Handler, Hub, Server};

/// A validating proxy to forward one service to.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Server name, used by [`Fakes::proxy_url`] and in records (e.g. `bigquery`).
    pub name: String,
    /// Upstream root, e.g. `http://127.0.0.1:9050`; the request path is appended as is.
    pub url: String,
    /// Which discovery document to validate against.
    pub service: Service,
}

impl Upstream {
    pub fn new(name: &str, url: &str, service: Service) -> Upstream {
        Upstream {
            name: name.to_string(),
            url: url.to_string(),
            service,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub project: String,
    /// What Resource Manager and Service Usage report as the project number.
    pub project_number: String,
    /// 0: an ephemeral port per server. Otherwise servers take consecutive ports from
    /// here: pubsub, dataflow, serviceusage, cloudresourcemanager, then the upstreams.
    pub port: u16,
    /// Initial latency and faults of every server.
    pub faults: Faults,
    pub dataflow: DataflowTiming,
    pub upstreams: Vec<Upstream>,
    /// APIs (`dataflow.googleapis.com`) reported DISABLED; their servers answer 403
    /// `SERVICE_DISABLED` until enabled.
    pub disabled_services: Vec<String>,
    /// Keep request bodies in [`Fakes::requests`] (turn off for long benchmarks).
    pub record_bodies: bool,
    /// A cost model for a BigQuery upstream, which bqemulator lacks (it reports 0 bytes for
    /// every query): each `jobs.query` answer reports this many bytes processed, and billed
    /// unless it was a dry run.
    pub bigquery_bytes_per_query: Option<u64>,
    /// Keep published messages for [`Fakes::published`] and pull (turn off for benchmarks).
    /// Subscriptions with a consumer (BigQuery subscriptions, inputs of live Dataflow jobs)
    /// queue messages either way while a BigQuery upstream exists.
    pub keep_messages: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            project: "bqflow-test".into(),
            project_number: "123456789012".into(),
            port: 0,
            faults: Faults::none(),
            dataflow: DataflowTiming::default(),
            upstreams: Vec::new(),
            disabled_services: Vec::new(),
            record_bodies: true,
            bigquery_bytes_per_query: None,
            keep_messages: true,
        }
    }
}

impl Config {
    pub fn new(project: &str) -> Config {
        Config {
            project: project.to_string(),
            ..Config::default()
        }
    }
}

/// The running fakes. Stops on drop.
pub struct Fakes {
    hub: Arc<Hub>,
    servers: Vec<(Arc<Server>, SocketAddr)>,
    pubsub: Arc<pubsub::PubSub>,
    dataflow: Arc<dataflow::Dataflow>,
    delivery: Option<Arc<delivery::Delivery>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Fakes {
    pub fn start(config: Config) -> io::Result<Fakes> {
        let hub = Arc::new(Hub::new(
            config.project.clone(),
            config.project_number.clone(),
            &config.disabled_services,
            config.record_bodies,
        ));
        // The first BigQuery upstream is where pipelines deliver.
        let bigquery = config
            .upstreams
            .iter()
            .find(|u| u.service == Service::BigQuery);
        let pubsub = Arc::new(pubsub::PubSub::new(
            hub.clone(),
            config.keep_messages,
            bigquery.is_some(),
        ));
        let dataflow = Arc::new(dataflow::Dataflow::new(
            config.dataflow,
            bigquery.map(|_| pubsub.clone()),
        ));
        let delivery = bigquery.map(|up| {
            Arc::new(delivery::Delivery::new(
                pubsub.clone(),
                dataflow.clone(),
                &up.url,
            ))
        });
        let mut handlers: Vec<(String, Service, Handler)> = vec![
            (
                "pubsub".into(),
                Service::PubSub,
                Handler::Fake(pubsub.clone()),
            ),
            (
                "dataflow".into(),
                Service::Dataflow,
                Handler::Fake(dataflow.clone()),
            ),
            (
                "serviceusage".into(),
                Service::ServiceUsage,
                Handler::Fake(Arc::new(serviceusage::ServiceUsage::new(hub.clone()))),
            ),
            (
                "cloudresourcemanager".into(),
                Service::ResourceManager,
                Handler::Fake(Arc::new(resourcemanager::ResourceManager::new(hub.clone()))),
            ),
        ];
        for up in &config.upstreams {
            if handlers.iter().any(|(name, _, _)| *name == up.name) {
                let msg = format!("server name {} used twice", up.name);
                return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
            }
            let proxy = Arc::new(
                proxy::Proxy::new(&up.url).with_bytes_per_query(config.bigquery_bytes_per_query),
            );
            handlers.push((up.name.clone(), up.service, Handler::Proxy(proxy)));
        }

        let delivery_upstream = bigquery.map(|u| u.name.clone());
        let mut servers = Vec::new();
        let mut listeners = Vec::new();
        for (i, (name, service, handler)) in handlers.into_iter().enumerate() {
            let observer: Option<Arc<dyn server::Observe>> = match &delivery {
                Some(d) if delivery_upstream.as_ref() == Some(&name) => Some(d.clone()),
                _ => None,
            };
            let port = match config.port {
                0 => 0,
                base => base.checked_add(i as u16).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "port range overflows")
                })?,
            };
            // Loopback only: these servers have no authentication.
            let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let server = Arc::new(Server {
                name,
                service,
                handler,
                plan: Mutex::new(FaultPlan::new(config.faults.clone())),
                hub: hub.clone(),
                observer,
            });
            listeners.push((listener, server.clone()));
            servers.push((server, addr));
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gcp-fakes-worker")
            .enable_all()
            .build()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let worker = delivery.clone();
        let thread = std::thread::Builder::new()
            .name("gcp-fakes".into())
            .spawn(move || {
                runtime.block_on(async move {
                    for (listener, server) in listeners {
                        match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => drop(tokio::spawn(server::accept_loop(l, server))),
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    if let Some(d) = worker {
                        drop(tokio::spawn(d.run()));
                    }
                    let _ = ready_tx.send(Ok(()));
                    let _ = stopped.await;
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("gcp-fakes thread ended early"))??;
        Ok(Fakes {
            hub,
            servers,
            pubsub,
            dataflow,
            delivery,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn project(&self) -> &str {
        &self.hub.project
    }

    /// `http://127.0.0.1:PORT` of a server by name, if it exists.
    pub fn url(&self, server: &str) -> Option<String> {
        self.servers
            .iter()
            .find(|(s, _)| s.name == server)
            .map(|(_, addr)| format!("http://{addr}"))
    }

    fn url_of(&self, server: &str) -> String {
        self.url(server)
            .unwrap_or_else(|| panic!("gcp-fakes has no server named {server}"))
    }

    pub fn pubsub_url(&self) -> String {
        self.url_of("pubsub")
    }

    /// `127.0.0.1:PORT`, the form `PUBSUB_EMULATOR_HOST` takes.
    pub fn pubsub_host(&self) -> String {
        self.pubsub_url().trim_start_matches("http://").to_string()
    }

    pub fn dataflow_url(&self) -> String {
        self.url_of("dataflow")
    }

    pub fn serviceusage_url(&self) -> String {
        self.url_of("serviceusage")
    }

    pub fn resourcemanager_url(&self) -> String {
        self.url_of("cloudresourcemanager")
    }

    /// URL of the proxy for an [`Upstream`]; panics if there is none by that name.
    pub fn proxy_url(&self, name: &str) -> String {
        self.url_of(name)
    }

    /// Environment variables that point bqflow at these servers (the names bqflow's
    /// `src/backend/gcp/endpoints.rs` reads). BigQuery and Storage are set when an
    /// upstream of that service exists.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PUBSUB_EMULATOR_HOST".to_string(), self.pubsub_host()),
            ("BQFLOW_DATAFLOW_ENDPOINT".to_string(), self.dataflow_url()),
            (
                "BQFLOW_SERVICEUSAGE_ENDPOINT".to_string(),
                self.serviceusage_url(),
            ),
            (
                "BQFLOW_RESOURCEMANAGER_ENDPOINT".to_string(),
                self.resourcemanager_url(),
            ),
        ];
        for (server, addr) in &self.servers {
            let var = match server.service {
                Service::BigQuery => "BIGQUERY_EMULATOR_HOST",
                Service::Storage => "STORAGE_EMULATOR_HOST",
                _ => continue,
            };
            if matches!(server.handler, Handler::Proxy(_)) {
                env.push((var.to_string(), format!("http://{addr}")));
            }
        }
        env
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.hub.log.requests()
    }

    /// Requests whose method id matches a pattern (`*` wildcards, e.g. `*.create`).
    pub fn requests_to(&self, method_pattern: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.method_id
                    .as_deref()
                    .is_some_and(|id| faults::glob(method_pattern, id))
            })
            .collect()
    }

    /// Requests that failed discovery validation.
    pub fn violations(&self) -> Vec<Violation> {
        self.hub.log.violations()
    }

    /// Panics listing every violation, if there are any.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        if !v.is_empty() {
            let lines: Vec<String> = v.iter().map(ToString::to_string).collect();
            panic!(
                "{} request(s) violated the discovery documents:\n{}",
                v.len(),
                lines.join("\n")
            );
        }
    }

    pub fn stats(&self) -> Stats {
        self.hub.log.stats()
    }

    /// Start and end of every finished request, relative to the start of the fakes.
    pub fn spans(&self) -> Vec<Span> {
        self.hub.log.spans()
    }

    /// Forgets recorded requests, violations, spans and counters (not the fakes' state), so
    /// a test can look at what a second run did.
    pub fn clear_log(&self) {
        self.hub.log.clear();
    }

    /// Messages published to a topic (short id in the configured project, or full name),
    /// in publish order; kept after the topic is deleted.
    pub fn published(&self, topic: &str) -> Vec<PublishedMessage> {
        self.pubsub.published(topic)
    }

    /// A topic as stored (short id or full name).
    pub fn topic(&self, topic: &str) -> Option<Value> {
        self.pubsub.topic(topic)
    }

    /// A subscription as stored (short id or full name).
    pub fn subscription(&self, subscription: &str) -> Option<Value> {
        self.pubsub.subscription(subscription)
    }

    /// All Dataflow jobs (JOB_VIEW_ALL JSON), oldest first, with state transitions applied.
    pub fn dataflow_jobs(&self) -> Vec<Value> {
        self.dataflow.jobs()
    }

    /// What pipelines did with the messages meant for each table, by `P.DS.T`. Empty without
    /// a BigQuery upstream.
    pub fn delivery_stats(&self) -> BTreeMap<String, DeliveryStats> {
        self.delivery
            .as_ref()
            .map(|d| d.stats())
            .unwrap_or_default()
    }

    /// Rows written to a table (`P.DS.T`, `P:DS.T`, or `DS.T` in the configured project).
    pub fn delivered(&self, table: &str) -> usize {
        self.table_stats(table).delivered
    }

    /// Messages meant for a table that were dead-lettered instead (dead-letter table or topic).
    pub fn dead_lettered(&self, table: &str) -> usize {
        self.table_stats(table).dead_lettered
    }

    fn table_stats(&self, table: &str) -> DeliveryStats {
        let key =
            delivery::table_key(table).unwrap_or_else(|| format!("{}.{table}", self.project()));
        self.delivery_stats().remove(&key).unwrap_or_default()
    }

    /// Blocks until every message published so far has been taken by its consumers (written,
    /// dead-lettered or counted as failed), or `timeout` passes; false on timeout. Messages of
    /// a job that is still PENDING count as not yet taken; those of a drained or cancelled
    /// job, or of a subscription without a consumer, do not count.
    pub fn wait_delivered(&self, timeout: Duration) -> bool {
        self.delivery.as_ref().is_none_or(|d| d.wait(timeout))
    }

    pub fn set_dataflow_timing(&self, timing: DataflowTiming) {
        self.dataflow.set_timing(timing);
    }

    /// Replaces latency and faults on every server (rule counters restart).
    pub fn set_faults(&self, faults: Faults) {
        for (server, _) in &self.servers {
            server.set_faults(faults.clone());
        }
    }

    /// Replaces latency and faults on one server; false if there is no such server.
    pub fn set_faults_for(&self, server: &str, faults: Faults) -> bool {
        let found = self.servers.iter().find(|(s, _)| s.name == server);
        if let Some((s, _)) = found {
            s.set_faults(faults);
        }
        found.is_some()
    }

    /// Enables or disables an API (`pubsub.googleapis.com`) as Service Usage reports it.
    pub fn set_service_enabled(&self, api: &str, enabled: bool) {
        self.hub.set_enabled(api, enabled);
    }
}

impl Drop for Fakes {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
