//! Pub/Sub v1: topics and subscriptions (docs/gcp-apis.md#pubsub; discovery `pubsub.v1.json`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::{Api, ApiError, Repeat, Request, path_segment};
use super::endpoints::Service;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_duration: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_deadline_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_policy: Option<DeadLetterPolicy>,
    /// Present and empty means "never expires" — bqflow always sends `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_policy: Option<ExpirationPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bigquery_config: Option<BigQueryConfig>,
    /// Output only: ACTIVE or RESOURCE_ERROR.
    #[serde(default, skip_serializing)]
    pub state: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_backoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_backoff: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterPolicy {
    pub dead_letter_topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delivery_attempts: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BigQueryConfig {
    /// `project.dataset.table` — dots, unlike Dataflow's `project:dataset.table`.
    pub table: String,
    #[serde(default)]
    pub use_table_schema: bool,
    #[serde(default)]
    pub write_metadata: bool,
    #[serde(default)]
    pub drop_unknown_fields: bool,
    /// Output only: ACTIVE, PERMISSION_DENIED, NOT_FOUND, SCHEMA_MISMATCH…
    #[serde(default, skip_serializing)]
    pub state: Option<String>,
}

pub fn topic_name(project: &str, topic: &str) -> String {
    format!("projects/{project}/topics/{topic}")
}

pub fn subscription_name(project: &str, subscription: &str) -> String {
    format!("projects/{project}/subscriptions/{subscription}")
}

pub fn topic_path(project: &str, topic: &str) -> String {
    format!(
        "v1/projects/{}/topics/{}",
        path_segment(project),
        path_segment(topic)
    )
}

fn subscription_path(project: &str, subscription: &str) -> String {
    format!(
        "v1/projects/{}/subscriptions/{}",
        path_segment(project),
        path_segment(subscription)
    )
}

/// Creates a topic; a 409 (someone, or an earlier attempt of ours, created it) is settled by
/// reading what exists.
pub async fn create_topic(
    api: &Api,
    project: &str,
    name: &str,
    topic: &Topic,
) -> Result<Topic, ApiError> {
    let path = topic_path(project, name);
    let req = Request::new(Service::PubSub, Method::PUT, &path)
        .body(serde_json::to_value(topic).expect("serializable"))
        .repeat(Repeat::CreateThenSettle);
    api.create_or_read(&req, || api.get(Service::PubSub, path.clone()))
        .await
}

pub async fn get_topic(api: &Api, project: &str, name: &str) -> Result<Option<Topic>, ApiError> {
    api.get(Service::PubSub, topic_path(project, name)).await
}

pub async fn patch_topic(
    api: &Api,
    project: &str,
    name: &str,
    topic: &Topic,
    mask: &[&str],
) -> Result<Topic, ApiError> {
    let req = Request::new(Service::PubSub, Method::PATCH, topic_path(project, name))
        .body(json!({ "topic": topic, "updateMask": mask.join(",") }));
    api.call_as(&req).await
}

pub async fn delete_topic(api: &Api, project: &str, name: &str) -> Result<bool, ApiError> {
    delete(api, topic_path(project, name)).await
}

pub async fn create_subscription(
    api: &Api,
    project: &str,
    name: &str,
    sub: &Subscription,
) -> Result<Subscription, ApiError> {
    let path = subscription_path(project, name);
    let req = Request::new(Service::PubSub, Method::PUT, &path)
        .body(serde_json::to_value(sub).expect("serializable"))
        .repeat(Repeat::CreateThenSettle);
    api.create_or_read(&req, || api.get(Service::PubSub, path.clone()))
        .await
}

pub async fn get_subscription(
    api: &Api,
    project: &str,
    name: &str,
) -> Result<Option<Subscription>, ApiError> {
    api.get(Service::PubSub, subscription_path(project, name))
        .await
}

pub async fn patch_subscription(
    api: &Api,
    project: &str,
    name: &str,
    sub: &Subscription,
    mask: &[&str],
) -> Result<Subscription, ApiError> {
    let req = Request::new(
        Service::PubSub,
        Method::PATCH,
        subscription_path(project, name),
    )
    .body(json!({ "subscription": sub, "updateMask": mask.join(",") }));
    api.call_as(&req).await
}

pub async fn delete_subscription(api: &Api, project: &str, name: &str) -> Result<bool, ApiError> {
    delete(api, subscription_path(project, name)).await
}

/// Deletes; `false` when it was already gone (a retried delete may find it so).
async fn delete(api: &Api, path: String) -> Result<bool, ApiError> {
    match api
        .call(&Request::new(Service::PubSub, Method::DELETE, path))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every topic of the project (for teardown's sweep of labelled leftovers).
pub async fn list_topics(api: &Api, project: &str) -> Result<Vec<Topic>, ApiError> {
    list(api, format!("v1/projects/{project}/topics"), "topics").await
}

pub async fn list_subscriptions(api: &Api, project: &str) -> Result<Vec<Subscription>, ApiError> {
    list(
        api,
        format!("v1/projects/{project}/subscriptions"),
        "subscriptions",
    )
    .await
}

async fn list<T: serde::de::DeserializeOwned>(
    api: &Api,
    path: String,
    field: &str,
) -> Result<Vec<T>, ApiError> {
    let req = Request::new(Service::PubSub, Method::GET, &path).query("pageSize", "1000");
    let items = api.list(&req, field).await?;
    serde_json::from_value(serde_json::Value::Array(items)).map_err(|e| ApiError {
        status: 0,
        code: None,
        reason: None,
        message: format!("unexpected list response: {e}"),
        call: format!("pubsub GET {path}"),
    })
}

/// Whether `member` (`serviceAccount:…`) holds `role` on a topic or subscription, by its
/// resource's own IAM policy (`resource` is the full name). Grants at project level are not
/// seen; `grant` adds the resource-level binding, which is what Pub/Sub's docs ask for.
pub async fn has_role(
    api: &Api,
    resource: &str,
    role: &str,
    member: &str,
) -> Result<bool, ApiError> {
    Ok(binding_has(&get_policy(api, resource).await?, role, member))
}

/// Grants `role` to `member` on a topic or subscription: read, add, write back with the
/// read's etag; when someone changed the policy in between (409 ABORTED), read again.
/// Conditions and other bindings are kept as they are.
pub async fn grant(api: &Api, resource: &str, role: &str, member: &str) -> Result<(), ApiError> {
    let mut attempts = 0;
    loop {
        let mut policy = get_policy(api, resource).await?;
        if binding_has(&policy, role, member) {
            return Ok(());
        }
        add_binding(&mut policy, role, member);
        let req = Request::new(
            Service::PubSub,
            Method::POST,
            format!("v1/{resource}:setIamPolicy"),
        )
        .body(json!({ "policy": policy }));
        match api.call(&req).await {
            Ok(_) => return Ok(()),
            Err(e) if e.conflict() && attempts < 5 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

async fn get_policy(api: &Api, resource: &str) -> Result<serde_json::Value, ApiError> {
    // Version 3 shows conditional bindings too, so a write-back cannot drop them.
    let req = Request::new(
        Service::PubSub,
        Method::GET,
        format!("v1/{resource}:getIamPolicy"),
    )
    .query("options.requestedPolicyVersion", "3");
    api.call(&req).await
}

/// An unconditional binding of `role` that lists `member`.
fn binding_has(policy: &serde_json::Value, role: &str, member: &str) -> bool {
    policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|b| {
            b["role"] == role
                && b.get("condition").is_none()
                && b["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m == member))
        })
}

fn add_binding(policy: &mut serde_json::Value, role: &str, member: &str) {
    if !policy.is_object() {
        *policy = json!({});
    }
    let bindings = policy
        .as_object_mut()
        .expect("an object")
        .entry("bindings")
        .or_insert_with(|| json!([]));
    if let Some(list) = bindings.as_array_mut() {
        if let Some(b) = list
            .iter_mut()
            .find(|b| b["role"] == role && b.get("condition").is_none())
            && let Some(members) = b["members"].as_array_mut()
        {
            members.push(json!(member));
            return;
        }
        list.push(json!({ "role": role, "members": [member] }));
    }
}

#[cfg(test)]
mod iam_tests {
    use super::*;

    #[test]
    fn a_grant_joins_the_unconditional_binding_and_keeps_the_rest() {
        let mut policy = json!({"version": 3, "etag": "BwX", "bindings": [
            {"role": "roles/pubsub.publisher", "members": ["user:a@x.com"],
             "condition": {"expression": "request.time < timestamp('2027-01-01T00:00:00Z')"}},
            {"role": "roles/pubsub.publisher", "members": ["group:g@x.com"]},
        ]});
        let agent = "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com";
        assert!(!binding_has(&policy, "roles/pubsub.publisher", agent));
        add_binding(&mut policy, "roles/pubsub.publisher", agent);
        assert!(binding_has(&policy, "roles/pubsub.publisher", agent));
        assert_eq!(
            policy["bindings"][1]["members"],
            json!(["group:g@x.com", agent])
        );
        assert_eq!(policy["bindings"][0]["members"], json!(["user:a@x.com"]));
        assert_eq!(
            (policy["version"].clone(), policy["etag"].clone()),
            (json!(3), json!("BwX"))
        );

        let mut empty = json!({"etag": "ACAB"});
        add_binding(&mut empty, "roles/pubsub.subscriber", agent);
        assert_eq!(
            empty["bindings"],
            json!([{"role": "roles/pubsub.subscriber", "members": [agent]}])
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_one_encoded_path_segment() {
        assert_eq!(
            super::path_segment("sales-events_1.x~"),
            "sales-events_1.x~"
        );
        assert_eq!(super::path_segment("a%b+c"), "a%25b%2Bc");
        assert_eq!(
            super::topic_path("p", "100%+"),
            "v1/projects/p/topics/100%25%2B"
        );
    }
}
