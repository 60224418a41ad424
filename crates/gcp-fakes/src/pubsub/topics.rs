//! Topic methods.

use serde_json::{Map, Value, json};

use super::{
    PubSub, already_exists, duration_in, list_response, not_found, resource_id, update_mask,
};
use crate::discovery::Matched;
use crate::reply::{Outcome, Reply};

/// Topic fields an update mask may name (the rest are the name, output-only or immutable).
const NOT_UPDATABLE: &[&str] = &["name", "state"];

/// Validates a topic as stored after create or patch.
fn check_topic(topic: &Map<String, Value>) -> Result<(), Reply> {
    crate::labels::check(topic.get("labels"))?;
    // 10 minutes to 31 days.
    duration_in(
        "messageRetentionDuration",
        topic.get("messageRetentionDuration"),
        600,
        31 * 86400,
    )
}

impl PubSub {
    pub(super) fn create_topic(&self, call: &Matched) -> Outcome {
        let name = call.param("name");
        resource_id(name, "topics")?;
        let mut topic = call.body.as_object().cloned().unwrap_or_default();
        topic.remove("state");
        topic.insert("name".into(), name.into());
        check_topic(&topic)?;
        let mut state = self.lock();
        if state.topics.contains_key(name) {
            return Err(already_exists(name));
        }
        state.topics.insert(name.to_string(), topic.clone());
        Ok(Value::Object(topic))
    }

    pub(super) fn get_topic(&self, call: &Matched) -> Outcome {
        let name = call.param("topic");
        let state = self.lock();
        let topic = state.topics.get(name).ok_or_else(|| not_found(name))?;
        Ok(Value::Object(topic.clone()))
    }

    pub(super) fn patch_topic(&self, call: &Matched) -> Outcome {
        let name = call.param("name");
        let paths = update_mask(call, "UpdateTopicRequest", "Topic", NOT_UPDATABLE)?;
        let empty = Map::new();
        let patch = call
            .body
            .get("topic")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(body_name) = patch.get("name").and_then(Value::as_str)
            && body_name != name
        {
            return Err(Reply::invalid(format!(
                "The topic name in the request body ({body_name}) does not match the URL ({name})."
            )));
        }
        let mut state = self.lock();
        let stored = state.topics.get(name).ok_or_else(|| not_found(name))?;
        let mut updated = stored.clone();
        for p in &paths {
            crate::fieldmask::apply(&mut updated, patch, p);
        }
        check_topic(&updated)?;
        state.topics.insert(name.to_string(), updated.clone());
        Ok(Value::Object(updated))
    }

    pub(super) fn delete_topic(&self, call: &Matched) -> Outcome {
        let name = call.param("topic");
        let mut state = self.lock();
        if state.topics.remove(name).is_none() {
            return Err(not_found(name));
        }
        state.policies.remove(name);
        // Subscriptions outlive their topic (docs/gcp-apis.md#pubsub-lifecycle).
        for sub in state.subscriptions.values_mut() {
            if sub.resource.get("topic").and_then(Value::as_str) == Some(name) {
                sub.resource
                    .insert("topic".into(), "_deleted-topic_".into());
            }
        }
        Ok(json!({}))
    }

    pub(super) fn list_topics(&self, call: &Matched) -> Outcome {
        let prefix = format!("{}/topics/", call.param("project"));
        let state = self.lock();
        let all: Vec<Value> = state
            .topics
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| Value::Object(t.clone()))
            .collect();
        let (page, next) = crate::paging::page(
            &all,
            call.query_value("pageSize"),
            call.query_value("pageToken"),
            100,
        )?;
        list_response("topics", page, next)
    }

    pub(super) fn list_topic_subscriptions(&self, call: &Matched) -> Outcome {
        let topic = call.param("topic");
        let state = self.lock();
        if !state.topics.contains_key(topic) {
            return Err(not_found(topic));
        }
        let names: Vec<Value> = state
            .subscriptions
            .iter()
            .filter(|(_, s)| s.resource.get("topic").and_then(Value::as_str) == Some(topic))
            .map(|(name, _)| Value::String(name.clone()))
            .collect();
        let (page, next) = crate::paging::page(
            &names,
            call.query_value("pageSize"),
            call.query_value("pageToken"),
            100,
        )?;
        list_response("subscriptions", page, next)
    }
}
