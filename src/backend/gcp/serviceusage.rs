//! Service Usage: are the APIs bqflow needs enabled?
//! (docs/gcp-apis.md#service-usage-and-resource-manager)

use reqwest::Method;
use serde_json::Value;

use super::api::{Api, ApiError, Request};
use super::endpoints::Service;

/// The APIs among `needed` that are not enabled on the project.
pub async fn disabled(
    api: &Api,
    project: &str,
    needed: &[Service],
) -> Result<Vec<&'static str>, ApiError> {
    let mut req = Request::new(
        Service::ServiceUsage,
        Method::GET,
        format!("v1/projects/{project}/services:batchGet"),
    );
    for s in needed {
        req = req.query("names", format!("projects/{project}/services/{}", s.api()));
    }
    let response = api.call(&req).await?;
    let enabled: Vec<&str> = response
        .get("services")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("state").and_then(Value::as_str) == Some("ENABLED"))
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .collect();
    Ok(needed
        .iter()
        .map(|s| s.api())
        .filter(|api_name| {
            !enabled
                .iter()
                .any(|name| name.ends_with(&format!("/services/{api_name}")))
        })
        .collect())
}

/// The project number (Service Usage and service-agent emails use it).
pub async fn project_number(api: &Api, project: &str) -> Result<Option<String>, ApiError> {
    let p: Option<Value> = api
        .get(Service::ResourceManager, format!("v1/projects/{project}"))
        .await?;
    Ok(p.and_then(|p| {
        p.get("projectNumber")
            .and_then(Value::as_str)
            .map(String::from)
    }))
}
