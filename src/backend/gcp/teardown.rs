//! Teardown on gcp: find what this project made (by name and by label), stop the Dataflow jobs
//! (drain, then cancel on timeout), delete subscriptions, topics, the dataset with its contents
//! and the temp bucket — in that order, each phase concurrently. Anything without this project's
//! labels is reported and left alone. Re-running after a failure finishes the job.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::join_all;

use super::{Gcp, bigquery as bq, dataflow, pubsub, storage};
use crate::plan::build::PROJECT_LABEL;
use crate::plan::diff::Observed;
use crate::plan::{Desired, Kind, Plan};
use crate::ui::Ui;

/// What teardown did, line by line, and what it refused to touch.
#[derive(Default)]
pub struct Report {
    pub deleted: Vec<String>,
    pub left_alone: Vec<String>,
    pub failed: Vec<String>,
}

impl Gcp {
    /// Whether any resource of this project exists (by name, owned).
    pub async fn any_owned(&self, plan: &Plan) -> Result<bool> {
        Ok(self
            .observe(plan)
            .await?
            .iter()
            .any(|o| matches!(o, Observed::Present { owned: true, .. })))
    }

    pub async fn teardown(&self, plan: &Plan, ui: &Ui, drain_timeout: Duration) -> Result<Report> {
        let observed = self.observe(plan).await?;
        let mut report = Report::default();
        let mut owned = |kind: Kind| -> Vec<String> {
            plan.resources
                .iter()
                .zip(&observed)
                .filter(|(r, _)| r.id.kind == kind)
                .filter_map(|(r, o)| match o {
                    Observed::Present { owned: true, .. } => Some(name_of(&r.desired, &r.id.name)),
                    Observed::Present { owned: false, .. } => {
                        report.left_alone.push(format!(
                            "{}: exists without this project's bqflow labels",
                            r.id
                        ));
                        None
                    }
                    Observed::Missing => None,
                })
                .collect()
        };
        let mut subscriptions = owned(Kind::Subscription);
        let mut topics = owned(Kind::Topic);
        let datasets = owned(Kind::Dataset);
        let buckets = owned(Kind::Bucket);
        let tables: Vec<String> = owned(Kind::Table)
            .into_iter()
            .chain(owned(Kind::View))
            .collect();
        // Leftovers renamed out of the spec still carry the label: sweep them too.
        self.sweep_pubsub(&mut topics, &mut subscriptions).await?;

        // 1. Jobs first, so nothing writes into what is deleted next.
        self.stop_jobs(ui, drain_timeout, &mut report).await?;

        // 2. Subscriptions (a topic's subscriptions survive its deletion otherwise).
        let results = join_all(
            subscriptions
                .iter()
                .map(|s| pubsub::delete_subscription(&self.api, &self.project, s)),
        )
        .await;
        record(&mut report, "subscription", &subscriptions, results);

        // 3. Topics, the dataset (with its contents) and the bucket, all at once.
        let dataset_names: Vec<String> = datasets.clone();
        let lone_tables: Vec<String> = if dataset_names.is_empty() {
            tables
        } else {
            vec![]
        };
        let (t, d, l, b) = tokio::join!(
            join_all(
                topics
                    .iter()
                    .map(|t| pubsub::delete_topic(&self.api, &self.project, t))
            ),
            join_all(
                dataset_names
                    .iter()
                    .map(|d| bq::delete_dataset(&self.api, &self.project, d))
            ),
            join_all(lone_tables.iter().map(|t| {
                let (ds, table) = t.split_once('.').unwrap_or(("", t));
                bq::delete_table(&self.api, &self.project, ds, table)
            })),
            join_all(
                buckets
                    .iter()
                    .map(|b| storage::empty_and_delete_bucket(&self.api, b))
            ),
        );
        record(&mut report, "topic", &topics, t);
        record(
            &mut report,
            "dataset (with its tables and views)",
            &dataset_names,
            d,
        );
        record(&mut report, "table", &lone_tables, l);
        for (name, result) in buckets.iter().zip(b) {
            match result {
                Ok(n) => report.deleted.push(format!("bucket {name} ({n} objects)")),
                Err(e) => report.failed.push(format!("bucket {name}: {e}")),
            }
        }
        Ok(report)
    }

    async fn sweep_pubsub(
        &self,
        topics: &mut Vec<String>,
        subscriptions: &mut Vec<String>,
    ) -> Result<()> {
        let ours = |labels: &std::collections::BTreeMap<String, String>| self.owned_labels(labels);
        for t in pubsub::list_topics(&self.api, &self.project).await? {
            let name = t.name.rsplit('/').next().unwrap_or_default().to_string();
            if ours(&t.labels) && !topics.contains(&name) {
                topics.push(name);
            }
        }
        for s in pubsub::list_subscriptions(&self.api, &self.project).await? {
            let name = s.name.rsplit('/').next().unwrap_or_default().to_string();
            if ours(&s.labels) && !subscriptions.contains(&name) {
                subscriptions.push(name);
            }
        }
        Ok(())
    }

    fn owned_labels(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        labels.get(PROJECT_LABEL).map(String::as_str) == Some(self.spec_name.as_str())
            && labels
                .get(crate::plan::build::MANAGED_BY_LABEL)
                .map(String::as_str)
                == Some(crate::plan::build::MANAGED_BY)
    }

    /// Drains every active job carrying this project's labels, with progress; cancels the ones
    /// still running when the drain timeout passes.
    async fn stop_jobs(&self, ui: &Ui, drain_timeout: Duration, report: &mut Report) -> Result<()> {
        let jobs: Vec<dataflow::Job> =
            dataflow::list_jobs(&self.api, &self.project, &self.region, "ACTIVE", None)
                .await?
                .into_iter()
                .filter(|j| !j.terminal() && self.owned_labels(&j.labels))
                .collect();
        if jobs.is_empty() {
            return Ok(());
        }
        for j in &jobs {
            if !matches!(j.state(), "JOB_STATE_DRAINING" | "JOB_STATE_CANCELLING") {
                dataflow::request_state(
                    &self.api,
                    &self.project,
                    &self.region,
                    &j.id,
                    "JOB_STATE_DRAINED",
                )
                .await?;
            }
            ui.note(format!("draining Dataflow job {} ({})", j.name, j.id));
        }
        let start = Instant::now();
        let mut cancelled = false;
        loop {
            let mut running = Vec::new();
            for j in &jobs {
                match dataflow::get_job(&self.api, &self.project, &self.region, &j.id).await? {
                    Some(now) if !now.terminal() => running.push(now),
                    Some(now) => {
                        let line = format!(
                            "Dataflow job {} ({})",
                            j.name,
                            now.state().trim_start_matches("JOB_STATE_").to_lowercase()
                        );
                        if !report.deleted.contains(&line) {
                            report.deleted.push(line);
                        }
                    }
                    None => {}
                }
            }
            if running.is_empty() {
                return Ok(());
            }
            if !cancelled && start.elapsed() >= drain_timeout {
                ui.warn(format!(
                    "drain did not finish within {}: cancelling",
                    humantime::format_duration(drain_timeout)
                ));
                for j in &running {
                    dataflow::request_state(
                        &self.api,
                        &self.project,
                        &self.region,
                        &j.id,
                        "JOB_STATE_CANCELLED",
                    )
                    .await?;
                }
                cancelled = true;
            }
            let states: Vec<String> = running
                .iter()
                .map(|j| format!("{} {}", j.name, j.state().trim_start_matches("JOB_STATE_")))
                .collect();
            ui.note(format!(
                "  waiting ({:.0}s): {}",
                start.elapsed().as_secs_f64(),
                states.join(", ")
            ));
            tokio::time::sleep(self.poll).await;
        }
    }
}

fn name_of(desired: &Desired, id: &str) -> String {
    match desired {
        Desired::Topic(t) => t.name.clone(),
        Desired::Subscription(s) => s.name.clone(),
        Desired::Dataset(d) => d.name.clone(),
        Desired::Bucket(b) => b.name.clone(),
        _ => id.to_string(),
    }
}

fn record(
    report: &mut Report,
    what: &str,
    names: &[String],
    results: Vec<Result<bool, super::api::ApiError>>,
) {
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(true) => report.deleted.push(format!("{what} {name}")),
            Ok(false) => {}
            Err(e) => report.failed.push(format!("{what} {name}: {e}")),
        }
    }
}
