//! Pipelines: a Dataflow job launched from Google's template (or a flex template), or the
//! grant a BigQuery subscription needs on its dataset (docs/gcp-apis.md#dataflow).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use super::{GOOGLE_LABEL_PREFIX, changed, fingerprint_label};
use crate::backend::gcp::bigquery as bq;
use crate::backend::gcp::dataflow::{self, Template};
use crate::backend::gcp::{Gcp, pubsub};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Desired, Fields, Labels, PipelineDef, Resource};
use crate::spec::types::Via;

/// Google's classic template bucket for a region.
pub fn classic_template(region: &str) -> String {
    format!("gs://dataflow-templates-{region}/latest/PubSub_Subscription_to_BigQuery")
}

impl Gcp {
    /// Dataflow job names: `<project name>-<pipeline>-<deployment hash>` (names validated
    /// lowercase kebab-case). Active job names are unique in a region, so dev's and staging's
    /// jobs need different ones.
    pub fn job_name(&self, pipeline: &str) -> String {
        let hash = self.deployment.rsplit('-').next().unwrap_or_default();
        format!("{}-{pipeline}-{hash}", self.spec_name)
    }

    pub(super) async fn observe_pipeline(
        &self,
        r: &Resource,
        pipe: &PipelineDef,
    ) -> Result<Observed> {
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

    /// Launches, updates or relabels a pipeline.
    pub(super) async fn apply_pipeline(
        &self,
        pipe: &PipelineDef,
        change: &Change,
    ) -> Result<String> {
        let labels = &change.resource.labels;
        let r = &change.resource;
        let mut labels = labels.clone();
        labels.extend(launch_labels(&r.desired));
        let only_labels = matches!(&change.action,
            Action::Update(fields) if fields.iter().all(|f| f.field == "labels"));
        if only_labels && pipe.via == Via::Dataflow {
            return self.relabel_job(pipe, &labels, change).await;
        }
        self.start_pipeline(pipe, &labels, change).await
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
            Via::Dataflow => self.launch_dataflow(pipe, labels, change).await,
            Via::BigquerySubscription => self.grant_subscription_writer(pipe).await,
        }
    }

    /// Launches the pipeline's Dataflow job (or, for an update, its replacement in place).
    async fn launch_dataflow(
        &self,
        pipe: &PipelineDef,
        labels: &Labels,
        change: &Change,
    ) -> Result<String> {
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

    /// A BigQuery subscription writes as Pub/Sub's service agent: grant it the dataset.
    async fn grant_subscription_writer(&self, pipe: &PipelineDef) -> Result<String> {
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

fn has_writer(ds: &bq::Dataset, agent: &str) -> bool {
    ds.access.iter().flatten().any(|a| {
        a.get("userByEmail").and_then(Value::as_str) == Some(agent)
            && matches!(
                a.get("role").and_then(Value::as_str),
                Some("WRITER" | "OWNER" | "roles/bigquery.dataEditor" | "roles/bigquery.dataOwner")
            )
    })
}

/// Label key prefix recording one launch setting of a Dataflow job.
pub(super) const LAUNCH_LABEL_PREFIX: &str = "bqflow-launch-";

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
