//! Cloud Storage JSON API: the Dataflow temp bucket (docs/gcp-apis.md#cloud-storage; discovery
//! `storage.v1.json`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::{Api, ApiError, Repeat, Request, path_segment};
use super::endpoints::Service;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_configuration: Option<Value>,
}

pub async fn get_bucket(api: &Api, name: &str) -> Result<Option<Bucket>, ApiError> {
    api.get(Service::Storage, format!("b/{}", path_segment(name)))
        .await
}

pub async fn insert_bucket(api: &Api, project: &str, bucket: &Bucket) -> Result<Bucket, ApiError> {
    let req = Request::new(Service::Storage, Method::POST, "b")
        .query("project", project)
        .body(serde_json::to_value(bucket).expect("serializable"))
        .repeat(Repeat::CreateThenSettle);
    api.create_or_read(&req, || get_bucket(api, &bucket.name))
        .await
}

pub async fn patch_bucket(api: &Api, name: &str, patch: Value) -> Result<Bucket, ApiError> {
    api.call_as(
        &Request::new(
            Service::Storage,
            Method::PATCH,
            format!("b/{}", path_segment(name)),
        )
        .body(patch),
    )
    .await
}

/// Deletes every object (all versions), then the bucket. Returns the number of objects deleted.
pub async fn empty_and_delete_bucket(api: &Api, name: &str) -> Result<usize, ApiError> {
    let mut deleted = 0;
    loop {
        let page = api
            .call(
                &Request::new(
                    Service::Storage,
                    Method::GET,
                    format!("b/{}/o", path_segment(name)),
                )
                .query("versions", "true"),
            )
            .await;
        let page = match page {
            Err(e) if e.not_found() => return Ok(deleted),
            other => other?,
        };
        let items: Vec<&Value> = page
            .get("items")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for item in items {
            let Some(object) = item.get("name").and_then(Value::as_str) else {
                continue;
            };
            let mut req = Request::new(
                Service::Storage,
                Method::DELETE,
                format!("b/{}/o/{}", path_segment(name), path_segment(object)),
            );
            if let Some(generation) = item.get("generation").and_then(Value::as_str) {
                req = req.query("generation", generation);
            }
            match api.call(&req).await {
                Ok(_) => deleted += 1,
                Err(e) if e.not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    match api
        .call(&Request::new(
            Service::Storage,
            Method::DELETE,
            format!("b/{}", path_segment(name)),
        ))
        .await
    {
        Ok(_) => Ok(deleted),
        Err(e) if e.not_found() => Ok(deleted),
        Err(e) => Err(e),
    }
}

/// `<project>-<deployment>-tmp`, or a hashed name when that exceeds the 63 characters a bucket
/// name may have. Bucket names are global, hence the project id in it; each deployment has its
/// own, so tearing one down never empties another's.
pub fn default_temp_bucket(gcp_project: &str, deployment: &str) -> String {
    let plain = format!("{gcp_project}-{deployment}-tmp").replace([':', '.', '_'], "-");
    if plain.len() <= 63 {
        return plain;
    }
    format!("bqflow-{:016x}-tmp", crate::plan::fnv1a(plain.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::default_temp_bucket;

    #[test]
    fn object_names_are_one_segment() {
        assert_eq!(super::path_segment("temp/a b.json"), "temp%2Fa%20b.json");
    }

    #[test]
    fn each_deployment_has_its_own_temp_bucket_within_63_characters() {
        let dev = crate::plan::deployment_id("blackfriday", "retail_dev");
        let staging = crate::plan::deployment_id("blackfriday", "retail_staging");
        assert_ne!(
            default_temp_bucket("proj", &dev),
            default_temp_bucket("proj", &staging)
        );
        assert_eq!(default_temp_bucket("proj", &dev), format!("proj-{dev}-tmp"));
        let long = default_temp_bucket(&"p".repeat(40), &dev);
        assert!(long.len() <= 63 && long.starts_with("bqflow-"), "{long}");
    }
}
