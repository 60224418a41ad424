//! Plan resources ↔ Google's API objects: what exists, in the plan's comparable form, and the
//! calls that create or patch each kind. Every object carries the ownership labels.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::bigquery::{self as bq, Field};
use super::dataflow::{self, Template};
use super::pubsub;
use super::storage;
use super::{Gcp, ROWS_LABEL, SQL_LABEL};
use crate::generate::{Model, dimensions};
use crate::plan::build::{DEPLOYMENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, PROJECT_LABEL};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{
    BucketDef, ColumnDef, DatasetDef, Desired, Fields, Labels, PipelineDef, Resource, RowsDef,
    SubscriptionDef, TableDef, TopicDef, ViewDef, columns_text, duration, labels_text,
};
use crate::spec::types::{Granularity, Via};

/// Google's classic template bucket for a region.
pub fn classic_template(region: &str) -> String {
    format!("gs://dataflow-templates-{region}/latest/PubSub_Subscription_to_BigQuery")
}

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
    /// Dataflow job names: `<project name>-<pipeline>-<deployment hash>` (names validated
    /// lowercase kebab-case). Active job names are unique in a region, so dev's and staging's
    /// jobs need different ones.
    pub fn job_name(&self, pipeline: &str) -> String {
        let hash = self.deployment.rsplit('-').next().unwrap_or_default();
        format!("{}-{pipeline}-{hash}", self.spec_name)
    }

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
        let p = &self.project;
        Ok(match &r.desired {
            Desired::Topic(t) => match pubsub::get_topic(&self.api, p, &t.name).await? {
                None => Observed::Missing,
                Some(topic) => {
                    let mut f = Fields::new();
                    let retention = topic
                        .message_retention_duration
                        .as_deref()
                        .and_then(parse_seconds);
                    f.insert(
                        "message_retention",
                        retention.map_or("default".into(), duration),
                    );
                    self.present(&topic.labels, f)
                }
            },
            Desired::Subscription(sub) => {
                match pubsub::get_subscription(&self.api, p, &r.id.name).await? {
                    None => Observed::Missing,
                    Some(s) => {
                        let mut f = self.subscription_fields(&s);
                        if let Some((topic, _)) = &sub.dead_letter {
                            f.insert(
                                "dead_letter_access",
                                self.dead_letter_access(sub, topic).await?,
                            );
                        }
                        self.present(&s.labels, f)
                    }
                }
            }
            Desired::Dataset(d) => match bq::get_dataset(&self.api, p, &d.name).await? {
                None => Observed::Missing,
                Some(ds) => {
                    let mut f = Fields::new();
                    f.insert("location", ds.location.clone().unwrap_or_default());
                    f.insert("description", ds.description.clone().unwrap_or_default());
                    f.insert(
                        "default_table_expiration",
                        millis(ds.default_table_expiration_ms.as_ref())
                            .map_or("default".into(), duration),
                    );
                    self.present(&ds.labels, f)
                }
            },
            Desired::Table(t) => match bq::get_table(&self.api, p, &t.dataset, &t.name).await? {
                None => Observed::Missing,
                Some(table) => self.present(&table.labels, table_fields(&table, t)),
            },
            Desired::View(v) => match bq::get_table(&self.api, p, &v.dataset, &v.name).await? {
                None => Observed::Missing,
                Some(table) => {
                    let mut f = Fields::new();
                    f.insert("description", table.description.clone().unwrap_or_default());
                    // The SQL as BigQuery returns it; where a server does not return it (some
                    // emulators), the fingerprint label written with it stands in.
                    let returned = table
                        .view
                        .as_ref()
                        .map(|v| v.query.clone())
                        .filter(|q| !q.is_empty());
                    let sql = match returned {
                        Some(sql) => sql,
                        None if table.labels.get(SQL_LABEL) == Some(&fingerprint_label(&v.sql)) => {
                            v.sql.clone()
                        }
                        None => "(not readable)".into(),
                    };
                    f.insert("sql", sql);
                    self.present(&table.labels, f)
                }
            },
            Desired::Rows(rows) => {
                match bq::get_table(&self.api, p, &rows.dataset, &rows.table).await? {
                    None => Observed::Missing,
                    Some(table) => {
                        let mut f = Fields::new();
                        let loaded = table.labels.get(ROWS_LABEL);
                        let want = fingerprint_label(&rows.fingerprint);
                        f.insert(
                            "fingerprint",
                            match loaded {
                                Some(l) if *l == want => rows.fingerprint.clone(),
                                Some(l) => format!("rows of another model ({l})"),
                                None => "(not loaded)".into(),
                            },
                        );
                        Observed::Present {
                            fields: f,
                            owned: self.owned(&table.labels),
                        }
                    }
                }
            }
            Desired::Bucket(b) => match storage::get_bucket(&self.api, &b.name).await? {
                None => Observed::Missing,
                Some(bucket) => {
                    let mut f = Fields::new();
                    let age = bucket
                        .lifecycle
                        .as_ref()
                        .and_then(|l| l.pointer("/rule/0/condition/age"))
                        .and_then(Value::as_u64);
                    f.insert(
                        "lifecycle",
                        age.map_or("none".into(), |a| format!("delete objects after {a} days")),
                    );
                    self.present(&bucket.labels, f)
                }
            },
            Desired::Pipeline(pipe) => self.observe_pipeline(r, pipe).await?,
        })
    }

    fn subscription_fields(&self, s: &pubsub::Subscription) -> Fields {
        let mut f = Fields::new();
        f.insert("topic", last_segment(&s.topic));
        f.insert(
            "ack_deadline",
            duration(Duration::from_secs(
                s.ack_deadline_seconds.unwrap_or(10).max(0) as u64,
            )),
        );
        let retention = s
            .message_retention_duration
            .as_deref()
            .and_then(parse_seconds)
            .unwrap_or(Duration::from_secs(7 * 86_400));
        f.insert("message_retention", duration(retention));
        let never = s
            .expiration_policy
            .as_ref()
            .is_some_and(|e| e.ttl.as_deref().is_none_or(|t| t.is_empty()));
        f.insert(
            "expiration",
            if never {
                "never".into()
            } else {
                s.expiration_policy
                    .as_ref()
                    .and_then(|e| e.ttl.clone())
                    .unwrap_or_else(|| "after 31 days idle".into())
            },
        );
        f.insert(
            "retry_policy",
            s.retry_policy.as_ref().map_or("none".into(), |r| {
                let min = r
                    .minimum_backoff
                    .as_deref()
                    .and_then(parse_seconds)
                    .unwrap_or(Duration::from_secs(10));
                let max = r
                    .maximum_backoff
                    .as_deref()
                    .and_then(parse_seconds)
                    .unwrap_or(Duration::from_secs(600));
                format!("{}..{}", duration(min), duration(max))
            }),
        );
        f.insert(
            "dead_letter",
            s.dead_letter_policy.as_ref().map_or("none".into(), |d| {
                format!(
                    "{} after {} attempts",
                    last_segment(&d.dead_letter_topic),
                    d.max_delivery_attempts.unwrap_or(5)
                )
            }),
        );
        let prefix = format!("{}.", self.project);
        f.insert(
            "bigquery_table",
            s.bigquery_config.as_ref().map_or("none".into(), |b| {
                b.table
                    .strip_prefix(&prefix)
                    .unwrap_or(&b.table)
                    .to_string()
            }),
        );
        f
    }

    async fn observe_pipeline(&self, r: &Resource, pipe: &PipelineDef) -> Result<Observed> {
        match pipe.via {
            Via::Dataflow => {
                let name = self.job_name(&pipe.name);
                match dataflow::active_job(&self.api, &self.project, &self.region, &name).await? {
                    None => Ok(Observed::Missing),
                    // A running job's launch parameters are not readable back: the labels
                    // bqflow launched it with record them.
                    Some(job) => {
                        Ok(self.present(&job.labels, launched_with(&r.desired, &job.labels)))
                    }
                }
            }
            Via::BigquerySubscription => {
                // The subscription carries the BigQuery config; what this step adds is the
                // Pub/Sub service agent's write access to the dataset.
                let agent = self.pubsub_agent().await?;
                let ds = bq::get_dataset(&self.api, &self.project, &pipe.dataset).await?;
                let granted = ds.as_ref().is_some_and(|d| has_writer(d, &agent));
                Ok(if granted {
                    Observed::Present {
                        fields: r.fields(),
                        owned: true,
                    }
                } else {
                    Observed::Missing
                })
            }
        }
    }

    /// Creates or updates one resource; returns what was done.
    pub async fn apply_one(&self, change: &Change) -> Result<String> {
        let r = &change.resource;
        let create = change.action == Action::Create;
        let p = &self.project;
        let labels = &r.labels;
        match &r.desired {
            Desired::Topic(t) => {
                let topic = topic_body(t, labels);
                if create {
                    pubsub::create_topic(&self.api, p, &t.name, &topic).await?;
                    return Ok("created".into());
                }
                pubsub::patch_topic(
                    &self.api,
                    p,
                    &t.name,
                    &topic,
                    &["labels", "messageRetentionDuration"],
                )
                .await?;
                Ok(format!("updated {}", changed(change)))
            }
            Desired::Subscription(s) => {
                let body = self.subscription_body(s, labels);
                if create {
                    pubsub::create_subscription(&self.api, p, &s.name, &body).await?;
                    self.grant_dead_lettering(s).await?;
                    return Ok("created".into());
                }
                let mut mask = vec![
                    "labels",
                    "ackDeadlineSeconds",
                    "messageRetentionDuration",
                    "expirationPolicy",
                    "retryPolicy",
                    "deadLetterPolicy",
                ];
                // Always in the mask: absent in the body, it turns a BigQuery subscription back
                // into a pull one when the spec says so.
                mask.push("bigqueryConfig");
                pubsub::patch_subscription(&self.api, p, &s.name, &body, &mask).await?;
                self.grant_dead_lettering(s).await?;
                Ok(format!("updated {}", changed(change)))
            }
            Desired::Dataset(d) => {
                if create {
                    bq::insert_dataset(&self.api, p, &dataset_body(p, d, labels)).await?;
                    return Ok("created".into());
                }
                bq::patch_dataset(
                    &self.api,
                    p,
                    &d.name,
                    json!({
                        "labels": labels,
                        "description": d.description,
                        "defaultTableExpirationMs": d.default_table_expiration.map(|e| e.as_millis().to_string()),
                    }),
                )
                .await?;
                Ok(format!("updated {}", changed(change)))
            }
            Desired::Table(t) => {
                let mut labels = labels.clone();
                if create {
                    bq::insert_table(&self.api, p, &table_body(p, t, &labels)).await?;
                    return Ok("created".into());
                }
                let existing = bq::get_table(&self.api, p, &t.dataset, &t.name).await?;
                // Keep the dimension fingerprint the rows step wrote.
                if let Some(rows) = existing.as_ref().and_then(|e| e.labels.get(ROWS_LABEL)) {
                    labels.insert(ROWS_LABEL.into(), rows.clone());
                }
                let body = table_body(p, t, &labels);
                let schema = existing
                    .as_ref()
                    .and_then(|e| e.schema.as_ref())
                    .map_or(body.schema.clone(), |s| Some(extended(s, t)));
                bq::patch_table(
                    &self.api,
                    p,
                    &t.dataset,
                    &t.name,
                    json!({ "schema": schema, "labels": labels, "description": t.description, "clustering": body.clustering }),
                )
                .await?;
                Ok(format!("updated {}", changed(change)))
            }
            Desired::View(v) => {
                let mut labels = labels.clone();
                labels.insert(SQL_LABEL.into(), fingerprint_label(&v.sql));
                if create {
                    bq::insert_table(&self.api, p, &view_body(p, v, &labels)).await?;
                    return Ok("created".into());
                }
                bq::patch_table(
                    &self.api,
                    p,
                    &v.dataset,
                    &v.name,
                    json!({ "view": { "query": v.sql, "useLegacySql": false }, "labels": labels, "description": v.description }),
                )
                .await?;
                Ok(format!("updated {}", changed(change)))
            }
            Desired::Rows(rows) => self.load_rows(rows, change).await,
            Desired::Bucket(b) => {
                let body = bucket_body(b, labels);
                if create {
                    let made = storage::insert_bucket(&self.api, p, &body).await?;
                    // Labels are what teardown trusts: if the server dropped them on insert
                    // (gcp-storage-emulator does), set them again before reporting success.
                    if made.labels != body.labels {
                        storage::patch_bucket(
                            &self.api,
                            &b.name,
                            json!({ "labels": labels, "lifecycle": body.lifecycle }),
                        )
                        .await?;
                    }
                    return Ok("created".into());
                }
                storage::patch_bucket(
                    &self.api,
                    &b.name,
                    json!({ "labels": labels, "lifecycle": body.lifecycle }),
                )
                .await?;
                Ok(format!("updated {}", changed(change)))
            }
            Desired::Pipeline(pipe) => {
                let mut labels = labels.clone();
                labels.extend(launch_labels(&r.desired));
                let only_labels = matches!(&change.action,
                    Action::Update(fields) if fields.iter().all(|f| f.field == "labels"));
                if only_labels && pipe.via == Via::Dataflow {
                    return self.relabel_job(pipe, &labels, change).await;
                }
                self.start_pipeline(pipe, &labels, change).await
            }
        }
    }

    /// The service agent's grants a dead-letter policy needs, as `plan` shows them.
    async fn dead_letter_access(&self, s: &SubscriptionDef, topic: &str) -> Result<String> {
        if !self.dead_letter_grants_apply() {
            return Ok(crate::plan::dead_letter_access(topic));
        }
        let member = format!("serviceAccount:{}", self.pubsub_agent().await?);
        let topic_name = pubsub::topic_name(&self.project, topic);
        let sub_name = pubsub::subscription_name(&self.project, &s.name);
        let (publish, consume) = tokio::join!(
            pubsub::has_role(&self.api, &topic_name, PUBLISHER, &member),
            pubsub::has_role(&self.api, &sub_name, SUBSCRIBER, &member),
        );
        let (publish, consume) = match (publish, consume) {
            (Err(e), _) | (_, Err(e)) if self.no_iam_here(&e) => (true, true),
            // The dead-letter topic does not exist yet (up creates it, then grants), or the
            // policy may not be read: either way not granted as far as bqflow can tell.
            (Err(e), _) | (_, Err(e)) if e.not_found() || e.permission_denied() => {
                return Ok(format!("unknown: {e}"));
            }
            (publish, consume) => (publish?, consume?),
        };
        Ok(match (publish, consume) {
            (true, true) => crate::plan::dead_letter_access(topic),
            (false, true) => format!("the service agent may not publish to {topic}"),
            (true, false) => "the service agent may not acknowledge here".into(),
            (false, false) => "not granted to Pub/Sub's service agent".into(),
        })
    }

    /// Google's Pub/Sub emulator has no IAM methods (and enforces none): there, a missing
    /// method is not a missing grant.
    fn no_iam_here(&self, e: &super::api::ApiError) -> bool {
        self.api.endpoints.get(super::Service::PubSub).overridden && matches!(e.status, 501)
    }

    /// Lets Pub/Sub's service agent acknowledge on the subscription and publish to its
    /// dead-letter topic: without both, Pub/Sub keeps redelivering instead of forwarding.
    async fn grant_dead_lettering(&self, s: &SubscriptionDef) -> Result<()> {
        let Some((topic, _)) = &s.dead_letter else {
            return Ok(());
        };
        if !self.dead_letter_grants_apply() {
            return Ok(());
        }
        let agent = self.pubsub_agent().await?;
        let member = format!("serviceAccount:{agent}");
        let topic_name = pubsub::topic_name(&self.project, topic);
        let sub_name = pubsub::subscription_name(&self.project, &s.name);
        for (resource, role, what) in [
            (&topic_name, PUBLISHER, format!("publish to topic {topic}")),
            (
                &sub_name,
                SUBSCRIBER,
                format!("acknowledge on subscription {}", s.name),
            ),
        ] {
            match pubsub::grant(&self.api, resource, role, &member).await {
                Ok(()) => {}
                Err(e) if self.no_iam_here(&e) => {
                    tracing::info!("{e}: the Pub/Sub emulator has no IAM; nothing to grant");
                    return Ok(());
                }
                Err(e) if e.permission_denied() => bail!(
                    "cannot let the Pub/Sub service agent {agent} {what} ({e}); dead letters would \
                     be redelivered instead of forwarded. Ask an owner to run: gcloud pubsub {} \
                     add-iam-policy-binding {} --member={member} --role={role} --project {}",
                    if resource == &topic_name {
                        "topics"
                    } else {
                        "subscriptions"
                    },
                    last_segment(resource),
                    self.project
                ),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn subscription_body(&self, s: &SubscriptionDef, labels: &Labels) -> pubsub::Subscription {
        pubsub::Subscription {
            name: String::new(),
            topic: pubsub::topic_name(&self.project, &s.topic),
            labels: labels.clone(),
            ack_deadline_seconds: Some(s.ack_deadline.as_secs() as i64),
            message_retention_duration: Some(seconds(s.message_retention)),
            retry_policy: s.retry.map(|(min, max)| pubsub::RetryPolicy {
                minimum_backoff: Some(seconds(min)),
                maximum_backoff: Some(seconds(max)),
            }),
            dead_letter_policy: s.dead_letter.as_ref().map(|(topic, attempts)| {
                pubsub::DeadLetterPolicy {
                    dead_letter_topic: pubsub::topic_name(&self.project, topic),
                    max_delivery_attempts: Some(*attempts as i64),
                }
            }),
            // Present and empty: the subscription never expires (absent means 31 days idle).
            expiration_policy: Some(pubsub::ExpirationPolicy { ttl: None }),
            bigquery_config: s.bigquery_table.as_ref().map(|t| pubsub::BigQueryConfig {
                table: format!("{}.{t}", self.project),
                use_table_schema: true,
                write_metadata: false,
                drop_unknown_fields: false,
                state: None,
            }),
            state: None,
        }
    }

    /// Replaces a dimension table's rows with the generator's, through DML (streamed rows could
    /// not be deleted for up to 90 minutes), then records the fingerprint as a table label.
    async fn load_rows(&self, rows: &RowsDef, change: &Change) -> Result<String> {
        let p = &self.project;
        let table = bq::get_table(&self.api, p, &rows.dataset, &rows.table)
            .await?
            .ok_or_else(|| anyhow!("table {}.{} is missing", rows.dataset, rows.table))?;
        let fields = table
            .schema
            .as_ref()
            .map(|s| s.fields.clone())
            .unwrap_or_default();
        let model = Model::new(&rows.model);
        let data = dimensions::rows(&model, rows.source);
        let target = format!("`{p}.{}.{}`", rows.dataset, rows.table);
        let query_labels = self.job_labels();
        let options = bq::QueryOptions {
            location: &self.location,
            labels: &query_labels,
            maximum_bytes_billed: None,
            parameters: vec![],
            dry_run: false,
            max_results: None,
            default_dataset: None,
        };
        if change.action != Action::Create || table.num_rows.as_deref().is_some_and(|n| n != "0") {
            bq::query(
                &self.api,
                p,
                &format!("DELETE FROM {target} WHERE TRUE"),
                &options,
            )
            .await?;
        }
        let columns: Vec<&Field> = fields
            .iter()
            .filter(|f| data.first().is_some_and(|row| row.get(&f.name).is_some()))
            .collect();
        // Batches keep each statement well under BigQuery's query size limit.
        for chunk in data.chunks(500) {
            let values = chunk
                .iter()
                .map(|row| {
                    let cells = columns
                        .iter()
                        .map(|f| literal(row.get(&f.name).unwrap_or(&Value::Null), &f.field_type))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(format!("({})", cells.join(", ")))
                })
                .collect::<Result<Vec<_>>>()?;
            let names: Vec<String> = columns.iter().map(|f| format!("`{}`", f.name)).collect();
            let sql = format!(
                "INSERT INTO {target} ({}) VALUES\n{}",
                names.join(", "),
                values.join(",\n")
            );
            bq::query(&self.api, p, &sql, &options)
                .await
                .context("loading dimension rows")?;
        }
        let mut labels = table.labels.clone();
        labels.insert(ROWS_LABEL.into(), fingerprint_label(&rows.fingerprint));
        bq::patch_table(
            &self.api,
            p,
            &rows.dataset,
            &rows.table,
            json!({ "labels": labels }),
        )
        .await?;
        Ok(format!("loaded {} rows", data.len()))
    }

    /// New labels on the running job, through `jobs.update` with a mask: no relaunch.
    async fn relabel_job(
        &self,
        pipe: &PipelineDef,
        labels: &Labels,
        change: &Change,
    ) -> Result<String> {
        let name = self.job_name(&pipe.name);
        let job = dataflow::active_job(&self.api, &self.project, &self.region, &name)
            .await?
            .ok_or_else(|| anyhow!("Dataflow job {name} stopped while being updated"))?;
        // The mask replaces every label: keep the ones Google set.
        let mut labels = labels.clone();
        labels.extend(
            job.labels
                .iter()
                .filter(|(k, _)| k.starts_with(GOOGLE_LABEL_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        dataflow::set_labels(&self.api, &self.project, &self.region, &job.id, &labels).await?;
        Ok(format!("updated {}", changed(change)))
    }

    async fn start_pipeline(
        &self,
        pipe: &PipelineDef,
        labels: &Labels,
        change: &Change,
    ) -> Result<String> {
        match pipe.via {
            Via::Dataflow => {
                let name = self.job_name(&pipe.name);
                let mut parameters = BTreeMap::new();
                parameters.insert(
                    "inputSubscription".to_string(),
                    pubsub::subscription_name(&self.project, &pipe.subscription),
                );
                // Dataflow's table spec uses a colon after the project.
                parameters.insert(
                    "outputTableSpec".to_string(),
                    format!("{}:{}.{}", self.project, pipe.dataset, pipe.table),
                );
                parameters.insert(
                    "outputDeadletterTable".to_string(),
                    format!(
                        "{}:{}.{}",
                        self.project, pipe.dataset, pipe.dead_letter_table
                    ),
                );
                let mut environment = json!({
                    "tempLocation": format!("gs://{}/temp", self.temp_bucket),
                    "additionalUserLabels": labels,
                });
                if let Some(n) = pipe.max_workers {
                    environment["maxWorkers"] = json!(n);
                }
                if let Some(m) = &pipe.machine_type {
                    environment["machineType"] = json!(m);
                }
                if let Some(sa) = &self.service_account {
                    environment["serviceAccountEmail"] = json!(sa);
                }
                let classic = classic_template(&self.region);
                let template = match &pipe.flex_template {
                    Some(spec) => {
                        environment["stagingLocation"] =
                            json!(format!("gs://{}/staging", self.temp_bucket));
                        Template::Flex {
                            container_spec: spec,
                        }
                    }
                    None => Template::Classic { gcs_path: &classic },
                };
                let update = matches!(change.action, Action::Update(_));
                let launch = dataflow::Launch {
                    template,
                    name: &name,
                    parameters: &parameters,
                    environment,
                    update,
                };
                let job = dataflow::launch(&self.api, &self.project, &self.region, launch).await?;
                Ok(if update {
                    format!(
                        "updated {} in place: Dataflow job {} ({}) replaces the running one",
                        changed(change),
                        job.id,
                        job.state()
                    )
                } else {
                    format!("launched Dataflow job {} ({})", job.id, job.state())
                })
            }
            Via::BigquerySubscription => {
                let agent = self.pubsub_agent().await?;
                let ds = bq::get_dataset(&self.api, &self.project, &pipe.dataset)
                    .await?
                    .ok_or_else(|| anyhow!("dataset {} is missing", pipe.dataset))?;
                if has_writer(&ds, &agent) {
                    return Ok("Pub/Sub can already write to the dataset".into());
                }
                let mut access = ds.access.clone().unwrap_or_default();
                access.push(json!({ "role": "WRITER", "userByEmail": agent }));
                match bq::patch_dataset(
                    &self.api,
                    &self.project,
                    &pipe.dataset,
                    json!({ "access": access }),
                )
                .await
                {
                    Ok(_) => Ok(format!(
                        "granted {agent} write access to dataset {}",
                        pipe.dataset
                    )),
                    Err(e) if e.permission_denied() => bail!(
                        "cannot grant the Pub/Sub service agent {agent} write access to dataset `{}` ({e}). \
                         Ask an owner to run: bq add-iam-policy-binding --member=serviceAccount:{agent} \
                         --role=roles/bigquery.dataEditor {}:{}",
                        pipe.dataset,
                        self.project,
                        pipe.dataset
                    ),
                    Err(e) => Err(e.into()),
                }
            }
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

/// The table's schema as it is, with the spec's new columns after it. BigQuery accepts a
/// patched schema that keeps every existing field in its place and appends NULLABLE ones; the
/// plan (`plan/columns.rs`) only lets such a change through. Order in the spec does not matter
/// to the loaders, which write by name.
fn extended(existing: &bq::Schema, t: &TableDef) -> bq::Schema {
    let mut fields = existing.fields.clone();
    for c in &t.columns {
        if !fields.iter().any(|f| f.name == c.name) {
            fields.push(field(c));
        }
    }
    bq::Schema { fields }
}

fn has_writer(ds: &bq::Dataset, agent: &str) -> bool {
    ds.access.iter().flatten().any(|a| {
        a.get("userByEmail").and_then(Value::as_str) == Some(agent)
            && matches!(
                a.get("role").and_then(Value::as_str),
                Some("WRITER" | "OWNER" | "roles/bigquery.dataEditor" | "roles/bigquery.dataOwner")
            )
    })
}

/// Labels Google sets on resources it manages for you; never bqflow's to compare or drop.
const GOOGLE_LABEL_PREFIX: &str = "goog-";

const PUBLISHER: &str = "roles/pubsub.publisher";
const SUBSCRIBER: &str = "roles/pubsub.subscriber";

/// Label key prefix recording one launch setting of a Dataflow job.
const LAUNCH_LABEL_PREFIX: &str = "bqflow-launch-";

/// The labels that record how a pipeline's job is launched, one per compared setting: the
/// value itself where it is a valid label value, else `fp-` and its fingerprint.
fn launch_labels(desired: &Desired) -> Labels {
    desired
        .fields()
        .iter()
        .map(|(field, value)| (launch_label_key(field), launch_label_value(value)))
        .collect()
}

fn launch_label_key(field: &str) -> String {
    format!("{LAUNCH_LABEL_PREFIX}{}", field.replace('_', "-"))
}

fn launch_label_value(value: &str) -> String {
    if crate::spec::names::label_value(value).is_ok() {
        value.to_string()
    } else {
        format!("fp-{}", fingerprint_label(value))
    }
}

/// A running job's settings as far as its launch labels tell: the desired value where the
/// label matches it, the recorded value where it is readable, else a placeholder that
/// differs from anything desired.
fn launched_with(desired: &Desired, labels: &Labels) -> Fields {
    desired
        .fields()
        .into_iter()
        .map(|(field, want)| {
            let seen = match labels.get(&launch_label_key(field)) {
                Some(v) if *v == launch_label_value(&want) => want,
                Some(v) if v.starts_with("fp-") => "another value".into(),
                Some(v) => v.clone(),
                // Launched without the setting labels (by hand, with bqflow's ownership
                // labels): nothing to compare with, so nothing to report.
                None => want,
            };
            (field, seen)
        })
        .collect()
}

/// A label value for the dimension fingerprint: labels hold at most 63 lowercase characters.
pub fn fingerprint_label(fingerprint: &str) -> String {
    format!("{:016x}", crate::plan::fnv1a(fingerprint.as_bytes()))
}

/// A JSON value as a GoogleSQL literal of the column's type.
fn literal(value: &Value, field_type: &str) -> Result<String> {
    Ok(match (value, field_type) {
        (Value::Null, _) => "NULL".into(),
        (Value::String(s), _) => {
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    '\\' => "\\\\".to_string(),
                    '\'' => "\\'".to_string(),
                    '\n' => "\\n".to_string(),
                    '\r' => "\\r".to_string(),
                    c if c.is_control() => format!("\\u{:04x}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            format!("'{escaped}'")
        }
        (Value::Bool(b), _) => if *b { "TRUE" } else { "FALSE" }.into(),
        (Value::Number(n), "NUMERIC" | "BIGNUMERIC") => format!("NUMERIC '{n}'"),
        (Value::Number(n), _) => n.to_string(),
        (other, t) => bail!("cannot write {other} into a {t} column"),
    })
}

fn topic_body(t: &TopicDef, labels: &Labels) -> pubsub::Topic {
    pubsub::Topic {
        name: String::new(),
        labels: labels.clone(),
        message_retention_duration: t.message_retention.map(seconds),
    }
}

fn dataset_body(project: &str, d: &DatasetDef, labels: &Labels) -> bq::Dataset {
    bq::Dataset {
        dataset_reference: bq::DatasetReference {
            project_id: project.into(),
            dataset_id: d.name.clone(),
        },
        location: d.location.clone(),
        labels: labels.clone(),
        description: d.description.clone(),
        default_table_expiration_ms: d
            .default_table_expiration
            .map(|e| e.as_millis().to_string()),
        access: None,
    }
}

fn field(c: &ColumnDef) -> Field {
    // "NUMERIC(18, 2)" → type NUMERIC, precision "18", scale "2".
    let (field_type, precision, scale) = match c.bigquery_type.split_once('(') {
        Some((t, args)) => {
            let mut parts = args
                .trim_end_matches(')')
                .split(',')
                .map(|a| a.trim().to_string());
            (t.to_string(), parts.next(), parts.next())
        }
        None => (c.bigquery_type.clone(), None, None),
    };
    Field {
        name: c.name.clone(),
        field_type,
        mode: Some(
            if c.repeated {
                "REPEATED"
            } else if c.required {
                "REQUIRED"
            } else {
                "NULLABLE"
            }
            .into(),
        ),
        description: c.description.clone(),
        precision,
        scale,
        fields: c.fields.iter().map(field).collect(),
        other: Default::default(),
    }
}

/// The schema as the API returns it, in the plan's notation (legacy type names normalised).
fn column_def(f: &Field) -> ColumnDef {
    let base = match f.field_type.as_str() {
        "INTEGER" => "INT64",
        "FLOAT" => "FLOAT64",
        "BOOLEAN" => "BOOL",
        "STRUCT" => "RECORD",
        other => other,
    };
    let bigquery_type = match (&f.precision, &f.scale) {
        (Some(p), s) => format!("{base}({p}, {})", s.as_deref().unwrap_or("0")),
        (None, Some(s)) => format!("{base}({}, {s})", 29 + s.parse::<u32>().unwrap_or(0)),
        (None, None) => base.to_string(),
    };
    ColumnDef {
        name: f.name.clone(),
        bigquery_type,
        duckdb_type: String::new(),
        required: f.mode.as_deref() == Some("REQUIRED"),
        repeated: f.mode.as_deref() == Some("REPEATED"),
        description: f.description.clone(),
        fields: f.fields.iter().map(column_def).collect(),
    }
}

fn table_body(project: &str, t: &TableDef, labels: &Labels) -> bq::Table {
    bq::Table {
        table_reference: bq::TableReference {
            project_id: project.into(),
            dataset_id: t.dataset.clone(),
            table_id: t.name.clone(),
        },
        schema: Some(bq::Schema {
            fields: t.columns.iter().map(field).collect(),
        }),
        time_partitioning: t.partitioning.as_ref().map(|(column, g, expiration)| {
            bq::TimePartitioning {
                partition_type: format!("{g:?}"),
                field: Some(column.clone()),
                expiration_ms: expiration.map(|e| e.as_millis().to_string()),
            }
        }),
        clustering: (!t.clustering.is_empty()).then(|| bq::Clustering {
            fields: t.clustering.clone(),
        }),
        view: None,
        labels: labels.clone(),
        description: t.description.clone(),
        table_type: None,
        num_rows: None,
        streaming_buffer: None,
    }
}

fn table_fields(table: &bq::Table, desired: &TableDef) -> Fields {
    let mut f = Fields::new();
    f.insert("description", table.description.clone().unwrap_or_default());
    let mut columns: Vec<ColumnDef> = table
        .schema
        .as_ref()
        .map(|s| s.fields.iter().map(column_def).collect())
        .unwrap_or_default();
    // A server that does not echo NUMERIC precision and scale (some emulators) cannot show a
    // difference there: take the declared ones rather than report a change that is none.
    for c in columns.iter_mut().filter(|c| c.bigquery_type == "NUMERIC") {
        let declared = desired.columns.iter().find(|d| d.name == c.name);
        if let Some(d) = declared.filter(|d| d.bigquery_type.starts_with("NUMERIC")) {
            c.bigquery_type = d.bigquery_type.clone();
        }
    }
    f.insert("columns", columns_text(&columns));
    f.insert(
        "partitioning",
        table.time_partitioning.as_ref().map_or("none".into(), |p| {
            let granularity = match p.partition_type.as_str() {
                "HOUR" => Granularity::HOUR,
                "MONTH" => Granularity::MONTH,
                "YEAR" => Granularity::YEAR,
                _ => Granularity::DAY,
            };
            let expiring = millis(p.expiration_ms.as_ref())
                .map(|e| format!(" expiring after {}", duration(e)))
                .unwrap_or_default();
            format!(
                "{granularity:?}({}){expiring}",
                p.field.as_deref().unwrap_or("_PARTITIONTIME")
            )
        }),
    );
    f.insert(
        "clustering",
        table
            .clustering
            .as_ref()
            .filter(|c| !c.fields.is_empty())
            .map_or("none".into(), |c| c.fields.join(", ")),
    );
    f
}

fn view_body(project: &str, v: &ViewDef, labels: &Labels) -> bq::Table {
    bq::Table {
        table_reference: bq::TableReference {
            project_id: project.into(),
            dataset_id: v.dataset.clone(),
            table_id: v.name.clone(),
        },
        view: Some(bq::ViewDefinition {
            query: v.sql.clone(),
            use_legacy_sql: false,
        }),
        labels: labels.clone(),
        description: v.description.clone(),
        ..bq::Table::default()
    }
}

fn bucket_body(b: &BucketDef, labels: &Labels) -> storage::Bucket {
    storage::Bucket {
        name: b.name.clone(),
        location: Some(b.location.to_ascii_uppercase()),
        labels: labels.clone(),
        lifecycle: Some(
            json!({ "rule": [{ "action": { "type": "Delete" }, "condition": { "age": b.delete_after_days } }] }),
        ),
        iam_configuration: Some(json!({ "uniformBucketLevelAccess": { "enabled": true } })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_for_googlesql() {
        assert_eq!(
            literal(&json!("Nimbus 55\" TV's"), "STRING").unwrap(),
            "'Nimbus 55\" TV\\'s'"
        );
        assert_eq!(
            literal(&json!(199.99), "NUMERIC").unwrap(),
            "NUMERIC '199.99'"
        );
        assert_eq!(literal(&json!(true), "BOOLEAN").unwrap(), "TRUE");
        assert_eq!(literal(&Value::Null, "STRING").unwrap(), "NULL");
        assert!(literal(&json!([1]), "STRING").is_err());
    }

    #[test]
    fn numeric_columns_round_trip_through_the_api_notation() {
        let c = ColumnDef {
            name: "price".into(),
            bigquery_type: "NUMERIC(18, 2)".into(),
            duckdb_type: String::new(),
            required: true,
            repeated: false,
            description: None,
            fields: vec![],
        };
        let f = field(&c);
        assert_eq!(
            (
                f.field_type.as_str(),
                f.precision.as_deref(),
                f.scale.as_deref()
            ),
            ("NUMERIC", Some("18"), Some("2"))
        );
        assert_eq!(columns_text(&[column_def(&f)]), columns_text(&[c]));
        let legacy = Field {
            name: "n".into(),
            field_type: "INTEGER".into(),
            ..Field::default()
        };
        assert_eq!(column_def(&legacy).bigquery_type, "INT64");
    }

    #[test]
    fn fingerprint_labels_are_valid_label_values() {
        let l = fingerprint_label("GeneratorProducts bqflow-model-1 seed=42");
        assert!(crate::spec::names::label_value(&l).is_ok());
        assert_ne!(
            l,
            fingerprint_label("GeneratorProducts bqflow-model-1 seed=43")
        );
    }
}
