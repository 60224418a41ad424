//! Subscription methods, and the defaults and rules of docs/gcp-apis.md#pubsub-subscriptions
//! and docs/gcp-apis.md#pubsub-bigquery-subscriptions.

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::{
    PubSub, Subscription, already_exists, duration_in, list_response, not_found, resource_id,
    update_mask,
};
use crate::discovery::Matched;
use crate::reply::{Outcome, Reply};

const DAY: u64 = 86400;
/// Default expiry when `expirationPolicy` is absent: 31 days of inactivity.
const DEFAULT_TTL: &str = "2678400s";
const DEFAULT_RETENTION: &str = "604800s";

/// Fields a subscription update may not name.
const NOT_UPDATABLE: &[&str] = &[
    "name",
    "topic",
    "filter",
    "enableMessageOrdering",
    "state",
    "topicMessageRetentionDuration",
    "analyticsHubSubscriptionInfo",
];

/// Fills defaults and enforces the documented rules on a subscription about to be stored
/// (after create, or after a patch was applied).
fn normalize(sub: &mut Map<String, Value>) -> Result<(), Reply> {
    crate::labels::check(sub.get("labels"))?;

    let ack = sub
        .get("ackDeadlineSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let ack = if ack == 0 { 10 } else { ack };
    if !(10..=600).contains(&ack) {
        return Err(Reply::invalid(format!(
            "Invalid ack deadline: {ack}; ackDeadlineSeconds must be between 10 and 600 (or 0 for the default)."
        )));
    }
    sub.insert("ackDeadlineSeconds".into(), ack.into());

    sub.entry("messageRetentionDuration")
        .or_insert_with(|| DEFAULT_RETENTION.into());
    duration_in(
        "messageRetentionDuration",
        sub.get("messageRetentionDuration"),
        600,
        31 * DAY,
    )?;

    // Absent → the default expiry; `{}` (present, no ttl) → never expires: echoed as sent.
    match sub.get("expirationPolicy") {
        None | Some(Value::Null) => {
            sub.insert("expirationPolicy".into(), json!({ "ttl": DEFAULT_TTL }));
        }
        Some(policy) => duration_in("expirationPolicy.ttl", policy.get("ttl"), DAY, 31 * DAY)?,
    }

    let delivery: Vec<&str> = [
        "pushConfig",
        "bigqueryConfig",
        "cloudStorageConfig",
        "bigtableConfig",
    ]
    .into_iter()
    .filter(|k| {
        sub.get(*k)
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
    })
    .collect();
    if delivery.len() > 1 {
        return Err(Reply::invalid(format!(
            "A subscription can have at most one delivery type; got {}.",
            delivery.join(" and ")
        )));
    }
    if delivery.is_empty() {
        // Google shows an empty push config on pull subscriptions.
        sub.insert("pushConfig".into(), json!({}));
    }
    if let Some(bq) = sub.get_mut("bigqueryConfig").and_then(Value::as_object_mut) {
        check_bigquery_config(bq)?;
        bq.insert("state".into(), "ACTIVE".into());
    }

    if let Some(policy) = sub
        .get_mut("deadLetterPolicy")
        .and_then(Value::as_object_mut)
    {
        let topic = policy
            .get("deadLetterTopic")
            .and_then(Value::as_str)
            .unwrap_or("");
        resource_id(topic, "topics")?;
        let attempts = policy
            .get("maxDeliveryAttempts")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let attempts = if attempts == 0 { 5 } else { attempts };
        if !(5..=100).contains(&attempts) {
            return Err(Reply::invalid(format!(
                "Invalid maxDeliveryAttempts: {attempts}; must be between 5 and 100."
            )));
        }
        policy.insert("maxDeliveryAttempts".into(), attempts.into());
    }

    if let Some(policy) = sub.get_mut("retryPolicy").and_then(Value::as_object_mut) {
        policy
            .entry("minimumBackoff")
            .or_insert_with(|| "10s".into());
        policy
            .entry("maximumBackoff")
            .or_insert_with(|| "600s".into());
        duration_in(
            "retryPolicy.minimumBackoff",
            policy.get("minimumBackoff"),
            0,
            600,
        )?;
        duration_in(
            "retryPolicy.maximumBackoff",
            policy.get("maximumBackoff"),
            0,
            600,
        )?;
    }

    sub.insert("state".into(), "ACTIVE".into());
    Ok(())
}

/// `table` is `project.dataset.table` (dots; a domain-scoped project may contain `:`), and
/// the two schema options exclude each other.
fn check_bigquery_config(bq: &Map<String, Value>) -> Result<(), Reply> {
    let table = bq.get("table").and_then(Value::as_str).unwrap_or("");
    let parts: Vec<&str> = table.split('.').collect();
    let dotted = parts.len() == 3 && parts.iter().all(|p| !p.is_empty());
    if !dotted || parts[1].contains(':') {
        return Err(Reply::invalid(format!(
            "Invalid BigQuery table: \"{table}\"; expected projectId.datasetId.tableId."
        )));
    }
    let flag = |k: &str| bq.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag("useTopicSchema") && flag("useTableSchema") {
        return Err(Reply::invalid(
            "useTopicSchema and useTableSchema cannot both be set.",
        ));
    }
    Ok(())
}

impl PubSub {
    pub(super) fn create_subscription(&self, call: &Matched) -> Outcome {
        let name = call.param("name");
        resource_id(name, "subscriptions")?;
        let mut sub = call.body.as_object().cloned().unwrap_or_default();
        sub.insert("name".into(), name.into());
        let topic = sub
            .get("topic")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if topic.is_empty() {
            return Err(Reply::invalid("The subscription's topic must be set."));
        }
        resource_id(&topic, "topics")?;
        for output_only in [
            "state",
            "topicMessageRetentionDuration",
            "analyticsHubSubscriptionInfo",
        ] {
            sub.remove(output_only);
        }
        normalize(&mut sub)?;
        let mut state = self.lock();
        if state.subscriptions.contains_key(name) {
            return Err(already_exists(name));
        }
        if !state.topics.contains_key(&topic) {
            return Err(not_found(&topic));
        }
        state.subscriptions.insert(
            name.to_string(),
            Subscription {
                resource: sub.clone(),
                backlog: VecDeque::new(),
            },
        );
        Ok(Value::Object(sub))
    }

    pub(super) fn get_subscription(&self, call: &Matched) -> Outcome {
        let name = call.param("subscription");
        let state = self.lock();
        let sub = state
            .subscriptions
            .get(name)
            .ok_or_else(|| not_found(name))?;
        Ok(Value::Object(sub.resource.clone()))
    }

    pub(super) fn patch_subscription(&self, call: &Matched) -> Outcome {
        let name = call.param("name");
        let paths = update_mask(
            call,
            "UpdateSubscriptionRequest",
            "Subscription",
            NOT_UPDATABLE,
        )?;
        let empty = Map::new();
        let patch = call
            .body
            .get("subscription")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut state = self.lock();
        let stored = state
            .subscriptions
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        let mut updated = stored.resource.clone();
        for p in &paths {
            crate::fieldmask::apply(&mut updated, patch, p);
        }
        // Switching delivery type: the empty pull marker must not count as a push config.
        if patch_sets_delivery(&paths)
            && updated
                .get("pushConfig")
                .is_some_and(|p| p.as_object().is_some_and(Map::is_empty))
        {
            updated.remove("pushConfig");
        }
        normalize(&mut updated)?;
        stored.resource = updated.clone();
        Ok(Value::Object(updated))
    }

    pub(super) fn delete_subscription(&self, call: &Matched) -> Outcome {
        let name = call.param("subscription");
        let mut state = self.lock();
        state
            .subscriptions
            .remove(name)
            .ok_or_else(|| not_found(name))?;
        state.policies.remove(name);
        Ok(json!({}))
    }

    pub(super) fn list_subscriptions(&self, call: &Matched) -> Outcome {
        let prefix = format!("{}/subscriptions/", call.param("project"));
        let state = self.lock();
        let all: Vec<Value> = state
            .subscriptions
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, s)| Value::Object(s.resource.clone()))
            .collect();
        let (page, next) = crate::paging::page(
            &all,
            call.query_value("pageSize"),
            call.query_value("pageToken"),
            100,
        )?;
        list_response("subscriptions", page, next)
    }
}

fn patch_sets_delivery(paths: &[String]) -> bool {
    paths.iter().any(|p| {
        let head = p.split('.').next().unwrap_or("");
        matches!(
            head,
            "bigqueryConfig" | "cloudStorageConfig" | "bigtableConfig"
        )
    })
}
