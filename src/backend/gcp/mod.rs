//! The gcp target: the plan applied through Google's REST APIs. No state file: the cloud is the
//! state, and ownership labels say what bqflow made.

pub mod api;
mod batch;
pub mod bigquery;
pub mod dataflow;
pub mod endpoints;
mod explain;
mod monitoring;
pub mod mutability;
pub mod publish;
pub mod pubsub;
pub mod query;
pub mod resources;
pub mod serviceusage;
pub mod storage;
mod teardown;

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use futures_util::stream::{self, StreamExt};

use super::{PipelineReport, Reading, StatusReport, TableReport};
use crate::error::UserInput;
use crate::plan::build::{DEPLOYMENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, PROJECT_LABEL};
use crate::plan::dag::{self, Outcome, Progress, Step};
use crate::plan::diff::{Change, Observed};
use crate::plan::{Desired, GcpPlacement, Labels, Plan, ResourceId};
use crate::spec::Project;
use crate::spec::types::Via;
use api::{Api, RetryPolicy};
use endpoints::{Endpoints, Service};

/// Table label holding the fingerprint of the dimension rows loaded into it.
pub const ROWS_LABEL: &str = "bqflow-rows";
/// View label holding the fingerprint of the SQL bqflow wrote.
pub const SQL_LABEL: &str = "bqflow-sql";
/// Materialized view label holding the refresh settings bqflow wrote (`true-300000`), read
/// back where a server does not return them.
pub const REFRESH_LABEL: &str = "bqflow-refresh";

pub struct Gcp {
    /// Shared with the publisher: one HTTP client, one connection pool, one runtime.
    pub api: std::sync::Arc<Api>,
    pub project: String,
    pub region: String,
    pub location: String,
    pub temp_bucket: String,
    pub service_account: Option<String>,
    /// The spec's `name`, the value of the ownership label.
    pub spec_name: String,
    /// This deployment's identity, in every resource's `bqflow-deployment` label.
    pub deployment: String,
    /// The spec's dataset, where unqualified names in ad-hoc SQL resolve.
    pub dataset: String,
    /// Local state for this project: the generator's acknowledgement ledger.
    pub state_dir: std::path::PathBuf,
    pub maximum_bytes_billed: Option<u64>,
    pub concurrency: usize,
    /// Set once the endpoints, credentials and APIs have been checked.
    checked: tokio::sync::OnceCell<()>,
    /// The Pub/Sub service agent, once looked up.
    agent: tokio::sync::OnceCell<String>,
    /// How often job states are polled while draining.
    pub poll: Duration,
}

impl Gcp {
    pub fn new(project: &Project, placement: &GcpPlacement) -> Result<Gcp> {
        let target = project
            .spec
            .targets
            .gcp
            .as_ref()
            .ok_or_else(|| anyhow!("the spec has no targets.gcp"))?;
        let settings = crate::settings::get();
        Ok(Gcp {
            api: std::sync::Arc::new(Api::new(
                Endpoints::resolve(&target.endpoints),
                RetryPolicy::from_env(),
            )?),
            project: placement.project.clone(),
            region: placement.region.clone(),
            location: placement.location.clone(),
            temp_bucket: placement.temp_bucket.clone(),
            service_account: placement.service_account.clone(),
            // Per deployment: dev's ledger and lock are not staging's.
            state_dir: project
                .local_dir()
                .join(format!("gcp-{}", placement.project))
                .join(project.deployment()),
            spec_name: project.spec.name.value.clone(),
            deployment: project.deployment(),
            dataset: project.spec.dataset.name.value.clone(),
            maximum_bytes_billed: target.maximum_bytes_billed.as_ref().map(|m| m.value),
            concurrency: settings.concurrency,
            checked: tokio::sync::OnceCell::new(),
            agent: tokio::sync::OnceCell::new(),
            poll: settings.poll,
        })
    }

    pub fn location_text(&self) -> String {
        let emulated = if self.api.endpoints.any_overridden() {
            ", overridden endpoints"
        } else {
            ""
        };
        format!(
            "gcp project {} ({}, {}{emulated})",
            self.project, self.region, self.location
        )
    }

    /// Labels every query job carries.
    pub fn job_labels(&self) -> Labels {
        let mut labels = Labels::new();
        labels.insert(PROJECT_LABEL.into(), self.spec_name.clone());
        labels.insert(DEPLOYMENT_LABEL.into(), self.deployment.clone());
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        labels
    }

    /// Dead-letter grants are for Google's IAM. An emulated Pub/Sub with no Resource Manager
    /// beside it to name the service agent by is the Pub/Sub emulator, which enforces none.
    pub fn dead_letter_grants_apply(&self) -> bool {
        let e = &self.api.endpoints;
        !e.get(Service::PubSub).overridden || e.get(Service::ResourceManager).overridden
    }

    /// The Pub/Sub service agent, which writes for BigQuery subscriptions and moves messages
    /// to dead-letter topics.
    pub async fn pubsub_agent(&self) -> Result<String> {
        self.agent
            .get_or_try_init(|| self.look_up_pubsub_agent())
            .await
            .cloned()
    }

    async fn look_up_pubsub_agent(&self) -> Result<String> {
        let number = serviceusage::project_number(&self.api, &self.project)
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot read the project number of `{}` to name the Pub/Sub service agent: {e}",
                    self.project
                )
            })?
            .ok_or_else(|| anyhow!("project `{}` not found", self.project))?;
        Ok(format!(
            "service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com"
        ))
    }

    /// Before any write: credentials work and the APIs the plan needs are enabled.
    /// Done once per process, before the first call that reads or writes resources.
    pub async fn preflight(&self, plan: &Plan) -> Result<()> {
        self.checked
            .get_or_try_init(|| self.check(plan))
            .await
            .map(|_| ())
    }

    /// The services this plan calls.
    fn needed(&self, plan: &Plan) -> Vec<Service> {
        let mut needed = vec![Service::PubSub, Service::BigQuery];
        for r in &plan.resources {
            let extra: &[Service] = match &r.desired {
                Desired::Pipeline(p) if p.via == Via::Dataflow => {
                    &[Service::Dataflow, Service::Storage]
                }
                Desired::Pipeline(_) => &[Service::ResourceManager],
                // The service agent that dead-letters needs grants; naming it needs the number.
                Desired::Subscription(s)
                    if s.dead_letter.is_some() && self.dead_letter_grants_apply() =>
                {
                    &[Service::ResourceManager]
                }
                _ => &[],
            };
            for s in extra {
                if !needed.contains(s) {
                    needed.push(*s);
                }
            }
        }
        needed
    }

    async fn check(&self, plan: &Plan) -> Result<()> {
        let needed = self.needed(plan);
        // Services on emulators need no credentials, and their APIs need no enabling. The check
        // of enabled APIs runs when a service is on Google, or when Service Usage itself was
        // pointed somewhere (a fake that answers for the emulated project).
        let on_google: Vec<Service> = needed
            .iter()
            .copied()
            .filter(|s| !self.api.endpoints.get(*s).overridden)
            .collect();
        let usage_overridden = self.api.endpoints.get(Service::ServiceUsage).overridden;
        let check_usage = !on_google.is_empty() || usage_overridden;
        let mut reached = needed.clone();
        if check_usage {
            reached.push(Service::ServiceUsage);
        }
        self.check_endpoints(&reached).await?;
        if !on_google.is_empty() {
            self.api.check_credentials().await.map_err(|e| anyhow!(e))?;
        }
        if !check_usage {
            return Ok(());
        }
        match serviceusage::disabled(&self.api, &self.project, &needed).await {
            Ok(off) if off.is_empty() => Ok(()),
            Ok(off) => bail!(
                "these APIs are not enabled on project `{}`: {}. Enable them with:\n  gcloud services enable {} --project {}",
                self.project,
                off.join(", "),
                off.join(" "),
                self.project
            ),
            // Reading service state needs serviceusage.services.get; without it, go on and let
            // the first real call say what is wrong.
            Err(e) if e.permission_denied() => {
                tracing::warn!("cannot check which APIs are enabled: {e}");
                Ok(())
            }
            Err(e) if e.status == 0 => Err(anyhow!("cannot reach Google Cloud: {e}")),
            Err(e) => Err(e.into()),
        }
    }

    /// Overridden endpoints (emulators, fakes) must answer: a typo in a port is the user's to
    /// fix, and says so at once instead of after a retry deadline.
    async fn check_endpoints(&self, services: &[Service]) -> Result<()> {
        for &service in services {
            let endpoint = self.api.endpoints.get(service);
            if !endpoint.overridden {
                continue;
            }
            let Ok(url) = reqwest::Url::parse(&endpoint.base) else {
                return Err(UserInput(format!(
                    "{} endpoint `{}` (from {}) is not a URL",
                    service.name(),
                    endpoint.base,
                    endpoint.source
                ))
                .into());
            };
            let address = (
                url.host_str().unwrap_or_default().to_string(),
                url.port_or_known_default().unwrap_or(80),
            );
            let connect = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::TcpStream::connect(address),
            )
            .await;
            if !matches!(connect, Ok(Ok(_))) {
                let why = match connect {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer within 5 s".into(),
                };
                return Err(UserInput(format!(
                    "cannot reach the {} endpoint {} (set by {}): {why}",
                    service.name(),
                    endpoint.base,
                    endpoint.source
                ))
                .into());
            }
        }
        Ok(())
    }

    /// What exists, per plan resource, read concurrently.
    pub async fn observe(&self, plan: &Plan) -> Result<Vec<Observed>> {
        self.preflight(plan).await?;
        let results: Vec<Result<Observed>> =
            stream::iter(plan.resources.iter().map(|r| self.observe_one(r)))
                .buffered(self.concurrency)
                .collect()
                .await;
        results.into_iter().collect()
    }

    pub async fn apply_all(
        &self,
        plan: &Plan,
        steps: Vec<Step<&Change>>,
        progress: &dyn Progress,
    ) -> Result<Vec<(ResourceId, Outcome)>> {
        self.preflight(plan).await?;
        Ok(dag::run(steps, self.concurrency, progress, |c| self.apply_one(c)).await)
    }

    /// Row counts per table (committed plus streaming buffer) and each pipeline's state.
    pub async fn status(&self, plan: &Plan, report: &mut StatusReport) -> Result<()> {
        for r in &plan.resources {
            let present = report
                .resources
                .iter()
                .any(|(id, o)| id == &r.id && matches!(o, Observed::Present { .. }));
            match &r.desired {
                Desired::Table(t) if present => report.tables.push(self.table_report(t).await?),
                Desired::Pipeline(p) => {
                    let state = match p.via {
                        Via::Dataflow => {
                            let name = self.job_name(&p.name);
                            let jobs = dataflow::list_jobs(
                                &self.api,
                                &self.project,
                                &self.region,
                                "ALL",
                                Some(&name),
                            )
                            .await?;
                            let latest = jobs
                                .iter()
                                .filter(|j| j.name == name)
                                .max_by(|a, b| a.create_time.cmp(&b.create_time));
                            latest.map_or("no job".into(), |j| {
                                format!(
                                    "Dataflow {} ({})",
                                    j.state().trim_start_matches("JOB_STATE_"),
                                    j.id
                                )
                            })
                        }
                        Via::BigquerySubscription => match pubsub::get_subscription(
                            &self.api,
                            &self.project,
                            &p.subscription,
                        )
                        .await?
                        {
                            Some(s) => format!(
                                "BigQuery subscription {}",
                                s.bigquery_config
                                    .and_then(|b| b.state)
                                    .unwrap_or_else(|| "state unknown".into())
                            ),
                            None => "subscription missing".into(),
                        },
                    };
                    let dead_letters = format!("{}.{}", p.dataset, p.dead_letter_table);
                    report.pipelines.push(PipelineReport {
                        name: p.name.clone(),
                        route: format!("{} → {}.{}", p.topic, p.dataset, p.table),
                        state,
                        backlog: self.backlog(&p.subscription).await,
                        // Streaming writes leave no load time behind; the tables' newest event
                        // age above is the freshness that can be read.
                        last_load: Reading::Unknown(
                            "streaming writes record no load time; see the newest event".into(),
                        ),
                        dead_lettered: report
                            .tables
                            .iter()
                            .find(|t| t.table == dead_letters)
                            .map_or(0, |t| t.rows),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Undelivered messages of a subscription, from Cloud Monitoring (which the emulators
    /// do not have).
    async fn backlog(&self, subscription: &str) -> Reading<u64> {
        let endpoints = &self.api.endpoints;
        if endpoints.get(Service::PubSub).overridden
            && !endpoints.get(Service::Monitoring).overridden
        {
            return Reading::Unknown(
                "Cloud Monitoring is not emulated (set BQFLOW_MONITORING_ENDPOINT)".into(),
            );
        }
        match monitoring::undelivered(&self.api, &self.project, subscription).await {
            Ok(Some(n)) => Reading::Known(n),
            Ok(None) => {
                Reading::Unknown("no sample in Cloud Monitoring yet (it lags a few minutes)".into())
            }
            Err(e) => Reading::Unknown(format!("Cloud Monitoring: {e}")),
        }
    }

    /// Row count (streaming buffer included) and, for event tables, the newest event: one
    /// query, labelled and capped like every other.
    async fn table_report(&self, t: &crate::plan::TableDef) -> Result<TableReport> {
        let time = t
            .columns
            .iter()
            .find(|c| c.bigquery_type == "TIMESTAMP" && t.dead_letter_of.is_none());
        let newest = time.map_or("NULL".to_string(), |c| {
            format!("UNIX_MICROS(MAX(`{}`))", c.name)
        });
        let sql = format!(
            "SELECT COUNT(*) AS n, {newest} AS newest FROM `{}.{}.{}`",
            self.project, t.dataset, t.name
        );
        let rendered = crate::sql::Rendered {
            sql,
            refs: vec![],
            params: vec![],
        };
        let result = self.query(&rendered, &[], Some(1)).await?;
        let cell = |i: usize| match result.rows.first().map(|r| &r[i]) {
            Some(crate::output::Value::Int(n)) => Some(*n),
            _ => None,
        };
        Ok(TableReport {
            table: format!("{}.{}", t.dataset, t.name),
            rows: cell(0).unwrap_or(0),
            newest: cell(1),
        })
    }

    pub fn ledger_path(&self) -> std::path::PathBuf {
        self.state_dir.join("ledger.json")
    }

    /// A Pub/Sub publisher for `generate`, resuming after what was acknowledged before.
    pub async fn sink(
        &self,
        plan: &Plan,
        topics: [&str; 2],
        producer: &str,
    ) -> Result<(publish::PubSubSink, [Option<u64>; 2])> {
        self.preflight(plan).await?;
        for t in topics {
            if pubsub::get_topic(&self.api, &self.project, t)
                .await?
                .is_none()
            {
                bail!(
                    "topic `{t}` does not exist in project `{}`: run `bqflow --target gcp up` first",
                    self.project
                );
            }
        }
        let ledger = crate::generate::ledger::Ledger::load(&self.ledger_path())?;
        let resume = ledger
            .producers
            .get(producer)
            .map(|e| e.resume)
            .unwrap_or_default();
        Ok((
            publish::PubSubSink::start(self.api.clone(), &self.project, topics, ledger, producer)?,
            resume,
        ))
    }
}
