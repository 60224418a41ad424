//! Publish, and a minimal pull / acknowledge / modifyAckDeadline for verification.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Pending, PubSub, PublishedMessage, State, not_found};
use crate::discovery::Matched;
use crate::reply::{Outcome, Reply};

/// Per publish request (docs/gcp-apis.md#pubsub-publish-limits).
const MAX_MESSAGES: usize = 1000;
const MAX_REQUEST_BYTES: usize = 10_000_000;
const MAX_ATTRIBUTES: usize = 100;

/// A subscription is a pull subscription when it delivers nowhere else.
fn is_pull(resource: &Map<String, Value>) -> bool {
    [
        "pushConfig",
        "bigqueryConfig",
        "cloudStorageConfig",
        "bigtableConfig",
    ]
    .iter()
    .all(|k| {
        resource
            .get(*k)
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
    })
}

/// A BigQuery subscription: one with a non-empty `bigqueryConfig`.
pub(super) fn delivers_to_bigquery(resource: &Map<String, Value>) -> bool {
    resource
        .get("bigqueryConfig")
        .and_then(Value::as_object)
        .is_some_and(|c| !c.is_empty())
}

/// A message's data, attributes and ordering key, decoded from a publish request.
pub(super) type Decoded = (Vec<u8>, BTreeMap<String, String>, Option<String>);

fn too_large(what: &str, got: usize, max: usize) -> Reply {
    Reply::invalid(format!(
        "The value for {what} is too large. You passed {got} in the request, but the maximum value is {max}."
    ))
}

impl PubSub {
    pub(super) fn publish(&self, call: &Matched) -> Outcome {
        let topic = call.param("topic");
        let empty = Vec::new();
        let messages = call
            .body
            .get("messages")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        if messages.is_empty() {
            return Err(Reply::invalid(
                "The request must contain at least one message.",
            ));
        }
        if messages.len() > MAX_MESSAGES {
            return Err(too_large("message_count", messages.len(), MAX_MESSAGES));
        }
        let mut decoded = Vec::with_capacity(messages.len());
        let mut size = 0;
        let mut ordering_keys = std::collections::BTreeSet::new();
        for (i, m) in messages.iter().enumerate() {
            // The validator already checked the base64.
            let data = m
                .get("data")
                .and_then(Value::as_str)
                .and_then(crate::wire::decode_base64)
                .unwrap_or_default();
            let attributes: BTreeMap<String, String> = m
                .get("attributes")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect();
            if data.is_empty() && attributes.is_empty() {
                return Err(Reply::invalid(format!(
                    "Message {i} has neither data nor attributes; at least one is required."
                )));
            }
            if attributes.len() > MAX_ATTRIBUTES {
                return Err(too_large(
                    "attribute_count",
                    attributes.len(),
                    MAX_ATTRIBUTES,
                ));
            }
            for (k, v) in &attributes {
                if k.len() > 256 || v.len() > 1024 || k.starts_with("goog") {
                    return Err(Reply::invalid(format!(
                        "Invalid attribute {k:?} in message {i}: keys are at most 256 bytes and may not start with \"goog\", values at most 1024 bytes."
                    )));
                }
            }
            let ordering_key = m
                .get("orderingKey")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
                .map(String::from);
            ordering_keys.insert(ordering_key.clone());
            size += data.len()
                + attributes
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
                + ordering_key.as_ref().map_or(0, String::len);
            decoded.push((data, attributes, ordering_key));
        }
        if size > MAX_REQUEST_BYTES {
            return Err(too_large("request_size", size, MAX_REQUEST_BYTES));
        }
        if ordering_keys.len() > 1 {
            return Err(Reply::invalid(
                "In a single publish request, all messages must have no ordering key or they must all have the same ordering key.",
            ));
        }

        let mut state = self.lock();
        if !state.topics.contains_key(topic) {
            return Err(not_found(topic));
        }
        let ids = self.store(&mut state, topic, decoded);
        Ok(json!({ "messageIds": ids }))
    }

    /// Assigns ids to messages published to `topic` (which exists), queues them on the
    /// subscriptions that want them, and keeps them for `Fakes::published`.
    pub(super) fn store(
        &self,
        state: &mut State,
        topic: &str,
        decoded: Vec<Decoded>,
    ) -> Vec<Value> {
        let State {
            subscriptions,
            dataflow_inputs,
            next_message_id,
            published,
            ..
        } = state;
        // The subscriptions that queue these messages. Without kept messages and without
        // delivery (benchmarks) there are none, and no message is even built.
        let mut queues: Vec<_> = subscriptions
            .iter_mut()
            .filter(|(name, sub)| {
                (self.keep_messages || self.deliver)
                    && sub.resource.get("topic").and_then(Value::as_str) == Some(topic)
                    && ((self.keep_messages && is_pull(&sub.resource))
                        || (self.deliver
                            && (delivers_to_bigquery(&sub.resource)
                                || dataflow_inputs.contains_key(*name))))
            })
            .map(|(_, sub)| &mut sub.backlog)
            .collect();
        let build = self.keep_messages || !queues.is_empty();
        let publish_time = crate::wire::now();
        let mut ids = Vec::with_capacity(decoded.len());
        let mut stored = Vec::with_capacity(if build { decoded.len() } else { 0 });
        for (data, attributes, ordering_key) in decoded {
            *next_message_id += 1;
            let seq = *next_message_id;
            let message_id = (10_000_000_000_000 + seq).to_string();
            ids.push(Value::String(message_id.clone()));
            if build {
                let message = PublishedMessage {
                    message_id,
                    data,
                    attributes,
                    ordering_key,
                    publish_time: publish_time.clone(),
                };
                stored.push((seq, Arc::new(message)));
            }
        }
        for backlog in &mut queues {
            backlog.extend(stored.iter().map(|(seq, m)| Pending {
                seq: *seq,
                ack_id: String::new(),
                message: m.clone(),
                leased_until: None,
                attempts: 0,
                done: false,
            }));
        }
        if self.keep_messages {
            published
                .entry(topic.to_string())
                .or_default()
                .extend(stored.into_iter().map(|(_, m)| m));
        }
        ids
    }

    pub(super) fn pull(&self, call: &Matched) -> Outcome {
        let name = call.param("subscription");
        let max = call
            .body
            .get("maxMessages")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if max <= 0 {
            return Err(Reply::invalid("maxMessages must be a positive integer."));
        }
        let mut state = self.lock();
        let state = &mut *state;
        let sub = state
            .subscriptions
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        let deadline = sub
            .resource
            .get("ackDeadlineSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(10);
        let dead_letter = sub.resource.contains_key("deadLetterPolicy");
        let now = Instant::now();
        let mut received = Vec::new();
        for pending in sub.backlog.iter_mut() {
            if received.len() as i64 >= max {
                break;
            }
            if pending.done || pending.leased_until.is_some_and(|t| t > now) {
                continue;
            }
            // A fresh ack id per delivery, as Pub/Sub does.
            state.next_ack_id += 1;
            pending.ack_id = format!("ack-{}", state.next_ack_id);
            pending.leased_until = Some(now + Duration::from_secs(deadline));
            pending.attempts += 1;
            let mut r = json!({"ackId": pending.ack_id, "message": wire_message(&pending.message)});
            if dead_letter {
                r["deliveryAttempt"] = pending.attempts.into();
            }
            received.push(r);
        }
        if received.is_empty() {
            return Ok(json!({}));
        }
        Ok(json!({ "receivedMessages": received }))
    }

    pub(super) fn acknowledge(&self, call: &Matched) -> Outcome {
        let name = call.param("subscription");
        let ids = ack_ids(call)?;
        let mut state = self.lock();
        let sub = state
            .subscriptions
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        sub.backlog
            .retain(|p| p.ack_id.is_empty() || !ids.contains(&p.ack_id.as_str()));
        Ok(json!({}))
    }

    pub(super) fn modify_ack_deadline(&self, call: &Matched) -> Outcome {
        let name = call.param("subscription");
        let ids = ack_ids(call)?;
        let seconds = call
            .body
            .get("ackDeadlineSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if seconds > 600 {
            return Err(Reply::invalid(
                "ackDeadlineSeconds must be between 0 and 600.",
            ));
        }
        let mut state = self.lock();
        let sub = state
            .subscriptions
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        let until = (seconds > 0).then(|| Instant::now() + Duration::from_secs(seconds));
        for p in sub.backlog.iter_mut() {
            if !p.ack_id.is_empty() && ids.contains(&p.ack_id.as_str()) {
                p.leased_until = until;
            }
        }
        Ok(json!({}))
    }
}

fn ack_ids(call: &Matched) -> Result<Vec<&str>, Reply> {
    let ids: Vec<&str> = call
        .body
        .get("ackIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if ids.is_empty() {
        return Err(Reply::invalid("No ack ids specified."));
    }
    Ok(ids)
}

/// A stored message as `PubsubMessage` JSON.
fn wire_message(m: &PublishedMessage) -> Value {
    let mut v = json!({
        "data": crate::wire::encode_base64(&m.data),
        "messageId": m.message_id,
        "publishTime": m.publish_time,
    });
    if !m.attributes.is_empty() {
        v["attributes"] = json!(m.attributes);
    }
    if let Some(k) = &m.ordering_key {
        v["orderingKey"] = k.clone().into();
    }
    v
}
