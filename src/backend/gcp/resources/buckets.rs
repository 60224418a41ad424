//! The Dataflow temp bucket (docs/gcp-apis.md#cloud-storage).

use anyhow::Result;
use serde_json::{Value, json};

use super::changed;
use crate::backend::gcp::{Gcp, storage};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{BucketDef, Fields, Labels};

impl Gcp {
    /// A bucket: its lifecycle rule and labels.
    pub(super) async fn observe_bucket(&self, b: &BucketDef) -> Result<Observed> {
        Ok(match storage::get_bucket(&self.api, &b.name).await? {
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
        })
    }

    /// Creates or patches a bucket; labels are set again if the server dropped them.
    pub(super) async fn apply_bucket(&self, b: &BucketDef, change: &Change) -> Result<String> {
        let p = &self.project;
        let labels = &change.resource.labels;
        let create = change.action == Action::Create;
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
