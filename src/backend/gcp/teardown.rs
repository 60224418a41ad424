//! Teardown on gcp: find what this project made (by name and by label), stop the Dataflow jobs
//! (drain, then cancel on timeout), delete subscriptions, topics, the dataset with its contents
//! and the temp bucket — in that order, each phase concurrently. Anything without this project's
//! labels is reported and left alone. Re-running after a failure finishes the job.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::stream::{self, StreamExt};

use super::{Gcp, Service, bigquery as bq, dataflow, pubsub, storage};
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
        let mut datasets = owned(Kind::Dataset);
        let mut buckets = owned(Kind::Bucket);
        let tables: Vec<String> = owned(Kind::Table)
            .into_iter()
            .chain(owned(Kind::View))
            .collect();
        // Leftovers renamed out of the spec still carry the label: sweep them too.
        self.sweep_pubsub(&mut topics, &mut subscriptions).await?;
        self.sweep_datasets(&mut datasets).await?;

        // A spec that no longer has Dataflow pipelines may still have jobs and a temp bucket
        // running from an earlier version: look for them where that costs no new login, and
        // let a failure to look (the API may be off) be a warning, not the end of teardown.
        let uses_dataflow = self.needed(plan).contains(&Service::Dataflow);
        if !uses_dataflow && buckets.is_empty() && self.may_ask(plan, Service::Storage) {
            match storage::get_bucket(&self.api, &self.temp_bucket).await {
                Ok(Some(b)) if self.owned_labels(&b.labels) => buckets.push(b.name),
                Ok(_) => {}
                Err(e) => ui.warn(format!(
                    "could not look for a temp bucket left by earlier Dataflow pipelines: {e}"
                )),
            }
        }

        // 1. Jobs first, so nothing writes into what is deleted next.
        let jobs = if uses_dataflow {
            self.owned_jobs().await?
        } else if self.may_ask(plan, Service::Dataflow) {
            self.owned_jobs().await.unwrap_or_else(|e| {
                ui.warn(format!(
                    "could not look for Dataflow jobs left by earlier pipelines: {}",
                    crate::error::describe(&e)
                ));
                vec![]
            })
        } else {
            vec![]
        };
        self.stop_jobs(ui, jobs, drain_timeout, &mut report).await;

        // A job that could not be stopped still reads its subscription and writes its table:
        // leave those in place and let the re-run finish.
        if !report.failed.is_empty() {
            report
                .failed
                .push("nothing else was deleted while a Dataflow job may still be running".into());
            return Ok(report);
        }

        // 2. Subscriptions (a topic's subscriptions survive its deletion otherwise).
        let first: Vec<Deletion> = subscriptions
            .into_iter()
            .map(Deletion::Subscription)
            .collect();
        self.delete_all(&first, &mut report).await;

        // 3. Topics, the dataset (with its contents) or our tables in someone else's
        //    dataset, and the bucket.
        let lone_tables = if datasets.is_empty() { tables } else { vec![] };
        let mut in_datasets = Vec::new();
        for ds in datasets {
            match self.dataset_deletion(&ds, &mut report).await {
                Ok(deletions) => in_datasets.extend(deletions),
                Err(e) => report
                    .failed
                    .push(format!("dataset {ds}: {}", crate::error::describe(&e))),
            }
        }
        let second: Vec<Deletion> = topics
            .into_iter()
            .map(Deletion::Topic)
            .chain(in_datasets)
            .chain(lone_tables.into_iter().map(Deletion::Table))
            .chain(buckets.into_iter().map(Deletion::Bucket))
            .collect();
        self.delete_all(&second, &mut report).await;

        // The topics are gone, and so is what the ledger counted: the next run starts afresh.
        if report.failed.is_empty() {
            match std::fs::remove_file(self.ledger_path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    report.failed.push(format!("ledger: {e}"))
                }
                _ => {}
            }
            let _ = std::fs::remove_file(self.state_dir.join("generate.lock"));
            let _ = std::fs::remove_dir(&self.state_dir);
        }
        Ok(report)
    }

    async fn sweep_pubsub(
        &self,
        topics: &mut Vec<String>,
        subscriptions: &mut Vec<String>,
    ) -> Result<()> {
        let ours = |labels: &std::collections::BTreeMap<String, String>| self.owned_labels(labels);
        let (all_topics, all_subscriptions) = tokio::join!(
            pubsub::list_topics(&self.api, &self.project),
            pubsub::list_subscriptions(&self.api, &self.project)
        );
        for t in all_topics? {
            let name = t.name.rsplit('/').next().unwrap_or_default().to_string();
            if ours(&t.labels) && !topics.contains(&name) {
                topics.push(name);
            }
        }
        for s in all_subscriptions? {
            let name = s.name.rsplit('/').next().unwrap_or_default().to_string();
            if ours(&s.labels) && !subscriptions.contains(&name) {
                subscriptions.push(name);
            }
        }
        Ok(())
    }

    /// How one of our datasets goes: whole, with its contents, unless it also holds tables
    /// or views someone else made there. Then only ours are deleted, and the dataset stays
    /// with theirs.
    async fn dataset_deletion(&self, dataset: &str, report: &mut Report) -> Result<Vec<Deletion>> {
        let listed = match bq::list_tables(&self.api, &self.project, dataset).await {
            // Gone already (a re-run, or someone was faster): deleting it again is a no-op.
            Err(e) if e.not_found() => return Ok(vec![Deletion::Dataset(dataset.to_string())]),
            other => other?,
        };
        let (mut ours, mut unsure) = (Vec::new(), Vec::new());
        for (id, labels) in listed {
            match labels {
                Some(l) if self.owned_labels(&l) => ours.push(format!("{dataset}.{id}")),
                _ => unsure.push(id),
            }
        }
        // What the list did not show as ours is read back before it decides anything.
        let read: Vec<_> = stream::iter(
            unsure
                .iter()
                .map(|t| bq::get_table(&self.api, &self.project, dataset, t)),
        )
        .buffered(self.concurrency)
        .collect()
        .await;
        let mut theirs = Vec::new();
        for (id, table) in unsure.into_iter().zip(read) {
            match table? {
                Some(t) if self.owned_labels(&t.labels) => ours.push(format!("{dataset}.{id}")),
                Some(_) => theirs.push(id),
                None => {}
            }
        }
        if theirs.is_empty() {
            return Ok(vec![Deletion::Dataset(dataset.to_string())]);
        }
        report.left_alone.push(format!(
            "dataset {dataset}: also holds {} that bqflow did not create ({}); kept, with them",
            plural(theirs.len(), "table or view", "tables or views"),
            theirs.join(", ")
        ));
        Ok(ours.into_iter().map(Deletion::Table).collect())
    }

    /// Datasets listed under this project's label. Each is read back and its labels checked
    /// before it joins the list: a server that ignores the list filter (some emulators do)
    /// must not turn a sweep into deleting someone else's data.
    async fn sweep_datasets(&self, datasets: &mut Vec<String>) -> Result<()> {
        let listed =
            bq::list_datasets_labelled(&self.api, &self.project, PROJECT_LABEL, &self.spec_name)
                .await?;
        for name in listed {
            if datasets.contains(&name) {
                continue;
            }
            if let Some(ds) = bq::get_dataset(&self.api, &self.project, &name).await?
                && self.owned_labels(&ds.labels)
            {
                datasets.push(name);
            }
        }
        Ok(())
    }

    /// Whether `service`, which this spec does not use, can be asked about leftovers without
    /// a login this run would not otherwise need: it is emulated, or Google is called anyway.
    fn may_ask(&self, plan: &Plan, service: Service) -> bool {
        let endpoints = &self.api.endpoints;
        endpoints.get(service).overridden
            || self
                .needed(plan)
                .iter()
                .any(|s| !endpoints.get(*s).overridden)
    }

    fn owned_labels(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        labels.get(PROJECT_LABEL).map(String::as_str) == Some(self.spec_name.as_str())
            && labels
                .get(crate::plan::build::MANAGED_BY_LABEL)
                .map(String::as_str)
                == Some(crate::plan::build::MANAGED_BY)
    }

    /// The active jobs carrying this project's labels.
    async fn owned_jobs(&self) -> Result<Vec<dataflow::Job>> {
        let active =
            dataflow::list_jobs(&self.api, &self.project, &self.region, "ACTIVE", None).await?;
        // Listed jobs are summaries without labels: read each one's before deciding.
        let described: Vec<_> = stream::iter(
            active
                .iter()
                .filter(|j| !j.terminal())
                .map(|j| dataflow::describe_job(&self.api, &self.project, &self.region, &j.id)),
        )
        .buffer_unordered(self.concurrency)
        .collect()
        .await;
        let mut owned = Vec::new();
        for job in described {
            match job? {
                Some(j) if !j.terminal() && self.owned_labels(&j.labels) => owned.push(j),
                _ => {}
            }
        }
        Ok(owned)
    }

    /// Drains the jobs, with progress; cancels the ones still running when the drain timeout
    /// passes. What fails is recorded in the report (and the caller then deletes nothing a
    /// job may still use); the other jobs are still stopped.
    async fn stop_jobs(
        &self,
        ui: &Ui,
        owned: Vec<dataflow::Job>,
        drain_timeout: Duration,
        report: &mut Report,
    ) {
        if owned.is_empty() {
            return;
        }
        let drains = owned.iter().map(|j| async move {
            if matches!(j.state(), "JOB_STATE_DRAINING" | "JOB_STATE_CANCELLING") {
                return Ok(());
            }
            dataflow::request_state(
                &self.api,
                &self.project,
                &self.region,
                &j.id,
                "JOB_STATE_DRAINED",
            )
            .await
            .map(|_| ())
        });
        let results = futures_util::future::join_all(drains).await;
        let mut jobs = Vec::new();
        for (j, result) in owned.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    ui.note(format!("draining Dataflow job {} ({})", j.name, j.id));
                    jobs.push(j);
                }
                Err(e) => report
                    .failed
                    .push(format!("draining Dataflow job {} ({}): {e}", j.name, j.id)),
            }
        }
        if jobs.is_empty() {
            return;
        }
        let start = Instant::now();
        let mut cancelled = false;
        loop {
            let mut running = Vec::new();
            let polls = jobs
                .iter()
                .map(|j| dataflow::get_job(&self.api, &self.project, &self.region, &j.id));
            let states = futures_util::future::join_all(polls).await;
            for (j, state) in jobs.iter().zip(states) {
                let state = match state {
                    Ok(state) => state,
                    Err(e) => {
                        report
                            .failed
                            .push(format!("reading Dataflow job {} ({}): {e}", j.name, j.id));
                        return;
                    }
                };
                match state {
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
                return;
            }
            if !cancelled && start.elapsed() >= drain_timeout {
                ui.warn(format!(
                    "drain did not finish within {}: cancelling",
                    humantime::format_duration(drain_timeout)
                ));
                for j in &running {
                    if let Err(e) = dataflow::request_state(
                        &self.api,
                        &self.project,
                        &self.region,
                        &j.id,
                        "JOB_STATE_CANCELLED",
                    )
                    .await
                    {
                        report.failed.push(format!(
                            "cancelling Dataflow job {} ({}): {e}",
                            j.name, j.id
                        ));
                        return;
                    }
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

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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

/// One thing teardown deletes.
enum Deletion {
    Subscription(String),
    Topic(String),
    /// With its tables and views.
    Dataset(String),
    /// `dataset.table`, when the dataset is not ours.
    Table(String),
    /// Emptied first.
    Bucket(String),
}

impl Gcp {
    /// Deletes, at most `concurrency` at a time; records what went and what failed. Something
    /// already gone counts as done (a re-run after a partial failure finishes the job).
    async fn delete_all(&self, items: &[Deletion], report: &mut Report) {
        let results: Vec<(String, Result<Option<String>, super::api::ApiError>)> =
            stream::iter(items.iter().map(|d| self.delete(d)))
                .buffered(self.concurrency)
                .collect()
                .await;
        for (what, result) in results {
            match result {
                Ok(Some(done)) => report.deleted.push(done),
                Ok(None) => {}
                Err(e) => report.failed.push(format!("{what}: {e}")),
            }
        }
    }

    async fn delete(&self, d: &Deletion) -> (String, Result<Option<String>, super::api::ApiError>) {
        let (api, p) = (&self.api, self.project.as_str());
        let gone = |what: String, r: Result<bool, super::api::ApiError>| {
            (what.clone(), r.map(|deleted| deleted.then_some(what)))
        };
        match d {
            Deletion::Subscription(s) => gone(
                format!("subscription {s}"),
                pubsub::delete_subscription(api, p, s).await,
            ),
            Deletion::Topic(t) => gone(format!("topic {t}"), pubsub::delete_topic(api, p, t).await),
            Deletion::Dataset(ds) => gone(
                format!("dataset {ds} (with its tables and views)"),
                bq::delete_dataset(api, p, ds).await,
            ),
            Deletion::Table(t) => {
                let (ds, table) = t.split_once('.').unwrap_or(("", t));
                gone(
                    format!("table {t}"),
                    bq::delete_table(api, p, ds, table).await,
                )
            }
            Deletion::Bucket(b) => {
                let what = format!("bucket {b}");
                let r = storage::empty_and_delete_bucket(api, b).await;
                (
                    what.clone(),
                    r.map(|n| Some(format!("{what} ({n} objects)"))),
                )
            }
        }
    }
}
