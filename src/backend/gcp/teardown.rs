//! Teardown on gcp: find what this deployment made (by name and by label, docs/ownership.md),
//! stop the Dataflow jobs (drain, then cancel on timeout), delete subscriptions, topics, the
//! dataset with its contents (or only our tables in it) and the temp bucket — in that order,
//! each phase concurrently. Anything without this deployment's labels is reported and left
//! alone. Re-running after a failure finishes the job.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::stream::{self, StreamExt};

use super::{Gcp, Service, bigquery as bq, dataflow, pubsub, storage};
use crate::backend::GENERATE_LOCK;
use crate::backend::Notify;
use crate::plan::build::DEPLOYMENT_LABEL;
use crate::plan::diff::Observed;
use crate::plan::{Desired, Kind, Plan};

/// What teardown did, line by line, and what it refused to touch.
#[derive(Default)]
pub struct Report {
    pub deleted: Vec<String>,
    pub left_alone: Vec<String>,
    pub failed: Vec<String>,
}

/// Everything of this deployment that teardown will stop or delete, found before anything
/// is touched, so the confirmation can list it and the deletion takes exactly that.
#[derive(Default)]
pub struct Found {
    jobs: Vec<dataflow::Job>,
    subscriptions: Vec<String>,
    topics: Vec<String>,
    /// Deleted whole, with their tables and views: nothing else is in them.
    datasets: Vec<String>,
    /// `dataset.table`, deleted one by one: in a dataset that also holds what is not ours.
    tables: Vec<String>,
    buckets: Vec<String>,
    pub left_alone: Vec<String>,
}

impl Found {
    /// What will go, by kind, for the confirmation.
    pub fn groups(&self) -> Vec<(&'static str, Vec<String>)> {
        let jobs = self
            .jobs
            .iter()
            .map(|j| format!("{} ({})", j.name, j.id))
            .collect();
        [
            ("Dataflow jobs (drained)", jobs),
            ("subscriptions", self.subscriptions.clone()),
            ("topics", self.topics.clone()),
            (
                "datasets, with their tables and views",
                self.datasets.clone(),
            ),
            ("tables and views", self.tables.clone()),
            ("buckets, with their objects", self.buckets.clone()),
        ]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .collect()
    }
}

impl Gcp {
    /// Finds what this deployment made: by name from the plan, by label for what was renamed
    /// out of it (and for jobs). Reads only.
    pub async fn find(&self, plan: &Plan, ui: &dyn Notify) -> Result<Found> {
        let observed = self.observe(plan).await?;
        let mut found = Found::default();
        let mut owned = |kind: Kind| -> Vec<String> {
            plan.resources
                .iter()
                .zip(&observed)
                .filter(|(r, _)| r.id.kind == kind)
                .filter_map(|(r, o)| match o {
                    Observed::Present { owned: true, .. } => Some(name_of(&r.desired, &r.id.name)),
                    Observed::Present { owned: false, .. } => {
                        found.left_alone.push(format!(
                            "{}: exists without this deployment's bqflow labels",
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
                Ok(Some(b)) if self.owned(&b.labels) => buckets.push(b.name),
                Ok(_) => {}
                Err(e) => ui.warn(&format!(
                    "could not look for a temp bucket left by earlier Dataflow pipelines: {e}"
                )),
            }
        }
        found.jobs = if uses_dataflow {
            self.owned_jobs(plan).await?
        } else if self.may_ask(plan, Service::Dataflow) {
            self.owned_jobs(plan).await.unwrap_or_else(|e| {
                ui.warn(&format!(
                    "could not look for Dataflow jobs left by earlier pipelines: {}",
                    crate::error::describe(&e)
                ));
                vec![]
            })
        } else {
            vec![]
        };
        // A dataset goes whole only when everything in it is ours.
        if datasets.is_empty() {
            found.tables = tables;
        }
        for ds in datasets {
            match self.dataset_contents(&ds).await? {
                Contents::OnlyOurs => found.datasets.push(ds),
                Contents::Mixed { ours, theirs } => {
                    found.left_alone.push(format!(
                        "dataset {ds}: also holds {} that bqflow did not create; kept, with them",
                        theirs.join(", ")
                    ));
                    found.tables.extend(ours);
                }
            }
        }
        found.subscriptions = subscriptions;
        found.topics = topics;
        found.buckets = buckets;
        Ok(found)
    }

    /// Stops and deletes exactly what `find` found.
    pub async fn remove(
        &self,
        found: Found,
        ui: &dyn Notify,
        drain_timeout: Duration,
    ) -> Result<Report> {
        let mut report = Report {
            left_alone: found.left_alone,
            ..Report::default()
        };
        // 1. Jobs first, so nothing writes into what is deleted next.
        self.stop_jobs(ui, found.jobs, drain_timeout, &mut report)
            .await;

        // A job that could not be stopped still reads its subscription and writes its table:
        // leave those in place and let the re-run finish.
        if !report.failed.is_empty() {
            report
                .failed
                .push("nothing else was deleted while a Dataflow job may still be running".into());
            return Ok(report);
        }

        // 2. Subscriptions (a topic's subscriptions survive its deletion otherwise).
        let first: Vec<Deletion> = found
            .subscriptions
            .into_iter()
            .map(Deletion::Subscription)
            .collect();
        self.delete_all(&first, &mut report).await;

        // 3. Topics, datasets with only our contents, our tables in the others, buckets.
        let second: Vec<Deletion> = found
            .topics
            .into_iter()
            .map(Deletion::Topic)
            .chain(found.datasets.into_iter().map(Deletion::Dataset))
            .chain(found.tables.into_iter().map(Deletion::Table))
            .chain(found.buckets.into_iter().map(Deletion::Bucket))
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
            let _ = std::fs::remove_file(self.state_dir.join(GENERATE_LOCK));
            let _ = std::fs::remove_dir(&self.state_dir);
            let _ = self.state_dir.parent().map(std::fs::remove_dir);
        }
        Ok(report)
    }

    async fn sweep_pubsub(
        &self,
        topics: &mut Vec<String>,
        subscriptions: &mut Vec<String>,
    ) -> Result<()> {
        let ours = |labels: &std::collections::BTreeMap<String, String>| self.swept(labels);
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

    /// Whether a dataset holds only what this deployment made. Tables and views are ours by
    /// label (read back when the list does not show labels); bqflow never makes routines or
    /// models, so any of those is someone else's.
    async fn dataset_contents(&self, dataset: &str) -> Result<Contents> {
        let (api, p) = (&self.api, self.project.as_str());
        let (listed, routines, models) = tokio::join!(
            bq::list_tables(api, p, dataset),
            bq::list_routines(api, p, dataset),
            bq::list_models(api, p, dataset)
        );
        let listed = match listed {
            // Gone already (a re-run, or someone was faster): deleting it again is a no-op.
            Err(e) if e.not_found() => return Ok(Contents::OnlyOurs),
            other => other?,
        };
        let (mut ours, mut unsure) = (Vec::new(), Vec::new());
        for (id, labels) in listed {
            match labels {
                Some(l) if self.owned(&l) => ours.push(format!("{dataset}.{id}")),
                _ => unsure.push(id),
            }
        }
        // What the list did not show as ours is read back before it decides anything.
        let read: Vec<_> = stream::iter(unsure.iter().map(|t| bq::get_table(api, p, dataset, t)))
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut tables = Vec::new();
        for (id, table) in unsure.into_iter().zip(read) {
            match table? {
                Some(t) if self.owned(&t.labels) => ours.push(format!("{dataset}.{id}")),
                Some(_) => tables.push(id),
                None => {}
            }
        }
        let mut theirs = Vec::new();
        for (ids, one, many) in [
            (tables, "table or view", "tables or views"),
            (routines?, "routine", "routines"),
            (models?, "model", "models"),
        ] {
            if !ids.is_empty() {
                theirs.push(format!(
                    "{} ({})",
                    plural(ids.len(), one, many),
                    ids.join(", ")
                ));
            }
        }
        Ok(if theirs.is_empty() {
            Contents::OnlyOurs
        } else {
            Contents::Mixed { ours, theirs }
        })
    }

    /// Datasets listed under this project's label. Each is read back and its labels checked
    /// before it joins the list: a server that ignores the list filter (some emulators do)
    /// must not turn a sweep into deleting someone else's data.
    async fn sweep_datasets(&self, datasets: &mut Vec<String>) -> Result<()> {
        let listed = bq::list_datasets_labelled(
            &self.api,
            &self.project,
            DEPLOYMENT_LABEL,
            &self.deployment,
        )
        .await?;
        for name in listed {
            if datasets.contains(&name) {
                continue;
            }
            if let Some(ds) = bq::get_dataset(&self.api, &self.project, &name).await?
                && self.swept(&ds.labels)
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

    /// The active jobs of this deployment: its label, or (launched before deployments were
    /// labelled) bqflow's labels without one and the name this spec's pipelines had then.
    async fn owned_jobs(&self, plan: &Plan) -> Result<Vec<dataflow::Job>> {
        let legacy_names: Vec<String> = plan
            .resources
            .iter()
            .filter(|r| r.id.kind == Kind::Pipeline)
            .map(|r| format!("{}-{}", self.spec_name, r.id.name))
            .collect();
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
                Some(j)
                    if !j.terminal()
                        && (self.swept(&j.labels)
                            || (self.owned(&j.labels)
                                && !j.labels.contains_key(DEPLOYMENT_LABEL)
                                && legacy_names.contains(&j.name))) =>
                {
                    owned.push(j)
                }
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
        ui: &dyn Notify,
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
                    ui.note(&format!("draining Dataflow job {} ({})", j.name, j.id));
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
        self.wait_until_stopped(ui, jobs, drain_timeout, report)
            .await;
    }

    /// Polls the draining jobs until each has ended; cancels those still running when the
    /// drain timeout passes. A job that cannot be read or cancelled is a failure in the report.
    async fn wait_until_stopped(
        &self,
        ui: &dyn Notify,
        jobs: Vec<dataflow::Job>,
        drain_timeout: Duration,
        report: &mut Report,
    ) {
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
                ui.warn(&format!(
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
            ui.note(&format!(
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

/// What a dataset of ours holds.
enum Contents {
    OnlyOurs,
    /// Our tables and views (`dataset.table`), and a description of the rest.
    Mixed {
        ours: Vec<String>,
        theirs: Vec<String>,
    },
}

/// One thing teardown deletes.
enum Deletion {
    Subscription(String),
    Topic(String),
    /// With its tables and views.
    Dataset(String),
    /// `dataset.table`, when the dataset also holds what is not ours.
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
