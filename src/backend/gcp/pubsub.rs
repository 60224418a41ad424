//! Pub/Sub v1: topics and subscriptions (reference §1; discovery `pubsub.v1.json`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::{Api, ApiError, Repeat, Request};
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

/// Creates a topic; a 409 (someone, or an earlier attempt of ours, created it) is settled by
/// reading what exists.
pub async fn create_topic(
    api: &Api,
    project: &str,
    name: &str,
    topic: &Topic,
) -> Result<Topic, ApiError> {
    let path = format!("v1/{}", topic_name(project, name));
    let req = Request::new(Service::PubSub, Method::PUT, &path)
        .body(serde_json::to_value(topic).expect("serializable"))
        .repeat(Repeat::CreateThenSettle);
    match api.call_as(&req).await {
        Err(e) if e.conflict() => api.get(Service::PubSub, path).await?.ok_or(e),
        other => other,
    }
}

pub async fn get_topic(api: &Api, project: &str, name: &str) -> Result<Option<Topic>, ApiError> {
    api.get(Service::PubSub, format!("v1/{}", topic_name(project, name)))
        .await
}

pub async fn patch_topic(
    api: &Api,
    project: &str,
    name: &str,
    topic: &Topic,
    mask: &[&str],
) -> Result<Topic, ApiError> {
    let req = Request::new(
        Service::PubSub,
        Method::PATCH,
        format!("v1/{}", topic_name(project, name)),
    )
    .body(json!({ "topic": topic, "updateMask": mask.join(",") }));
    api.call_as(&req).await
}

pub async fn delete_topic(api: &Api, project: &str, name: &str) -> Result<bool, ApiError> {
    delete(api, format!("v1/{}", topic_name(project, name))).await
}

pub async fn create_subscription(
    api: &Api,
    project: &str,
    name: &str,
    sub: &Subscription,
) -> Result<Subscription, ApiError> {
    let path = format!("v1/{}", subscription_name(project, name));
    let req = Request::new(Service::PubSub, Method::PUT, &path)
        .body(serde_json::to_value(sub).expect("serializable"))
        .repeat(Repeat::CreateThenSettle);
    match api.call_as(&req).await {
        Err(e) if e.conflict() => api.get(Service::PubSub, path).await?.ok_or(e),
        other => other,
    }
}

pub async fn get_subscription(
    api: &Api,
    project: &str,
    name: &str,
) -> Result<Option<Subscription>, ApiError> {
    api.get(
        Service::PubSub,
        format!("v1/{}", subscription_name(project, name)),
    )
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
        format!("v1/{}", subscription_name(project, name)),
    )
    .body(json!({ "subscription": sub, "updateMask": mask.join(",") }));
    api.call_as(&req).await
}

pub async fn delete_subscription(api: &Api, project: &str, name: &str) -> Result<bool, ApiError> {
    delete(api, format!("v1/{}", subscription_name(project, name))).await
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
