//! Fake Pub/Sub v1 (REST), in memory: topics, subscriptions, publish, pull and ack.
//!
//! Behaves as docs/gcp-apis.md#pubsub describes: 409 `ALREADY_EXISTS` / 404 `NOT_FOUND` with the
//! service's message texts, update masks, `_deleted-topic_`, subscription defaults
//! (ack deadline 10 s, retention 7 d, expiry 31 d unless `expirationPolicy: {}`), publish
//! limits. Message filters, ordering guarantees, push and Cloud Storage delivery are not
//! modelled. Messages are kept per topic for tests to read (`Config::keep_messages`), and
//! queued per subscription from its creation on: for every pull subscription when messages
//! are kept, and always for subscriptions that have a consumer — a BigQuery subscription or
//! the input of a running Dataflow job — when delivery is on (`consume.rs`, `crate::delivery`).
//! A publish with neither pays nothing for the queues.

mod consume;
mod iam;
mod messages;
mod subscriptions;
mod topics;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::discovery::Matched;
use crate::reply::{Outcome, Reply};
use crate::server::{Api, Hub};

pub(crate) use consume::{BigQuerySubscription, Leased};

/// A message as published, for tests to read back with `Fakes::published`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedMessage {
    pub message_id: String,
    /// Decoded from base64.
    pub data: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    pub ordering_key: Option<String>,
    pub publish_time: String,
}

pub(crate) struct PubSub {
    hub: Arc<Hub>,
    keep_messages: bool,
    /// A BigQuery upstream exists, so BigQuery subscriptions and Dataflow jobs deliver.
    deliver: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    topics: BTreeMap<String, Map<String, Value>>,
    subscriptions: BTreeMap<String, Subscription>,
    /// By full topic name; survives topic deletion so tests can read after a teardown.
    published: BTreeMap<String, Vec<Arc<PublishedMessage>>>,
    /// The sequence number of the last message published (its id is derived from it).
    next_message_id: u64,
    next_ack_id: u64,
    /// Subscriptions a live Dataflow job reads, each with the job's drain watermark (the last
    /// sequence number it still takes; `None` while it runs). Kept by `crate::dataflow`.
    dataflow_inputs: BTreeMap<String, Option<u64>>,
    /// IAM policies by full topic or subscription name (absent: empty).
    policies: BTreeMap<String, Value>,
    next_policy_etag: u64,
}

struct Subscription {
    resource: Map<String, Value>,
    /// Unacknowledged messages in publish (= sequence) order.
    backlog: VecDeque<Pending>,
}

/// An unacknowledged message of a subscription.
struct Pending {
    /// Publish order across the fake; orders the backlog.
    seq: u64,
    ack_id: String,
    message: Arc<PublishedMessage>,
    /// Not redelivered before this instant (set by pull, modifyAckDeadline and consumers).
    leased_until: Option<Instant>,
    attempts: u32,
    /// Settled by a consumer, waiting to be popped off the front of the backlog.
    done: bool,
}

impl PubSub {
    pub fn new(hub: Arc<Hub>, keep_messages: bool, deliver: bool) -> PubSub {
        PubSub {
            hub,
            keep_messages,
            deliver,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Full topic name for a short id (in the configured project) or a full name.
    pub fn topic_name(&self, topic: &str) -> String {
        full_name(&self.hub.project, "topics", topic)
    }

    pub fn published(&self, topic: &str) -> Vec<PublishedMessage> {
        let name = self.topic_name(topic);
        self.lock()
            .published
            .get(&name)
            .map(|ms| ms.iter().map(|m| PublishedMessage::clone(m)).collect())
            .unwrap_or_default()
    }

    pub fn topic(&self, topic: &str) -> Option<Value> {
        let name = self.topic_name(topic);
        self.lock().topics.get(&name).cloned().map(Value::Object)
    }

    pub fn subscription(&self, sub: &str) -> Option<Value> {
        let name = full_name(&self.hub.project, "subscriptions", sub);
        let state = self.lock();
        state
            .subscriptions
            .get(&name)
            .map(|s| Value::Object(s.resource.clone()))
    }
}

impl Api for PubSub {
    fn handle(&self, call: &Matched) -> Reply {
        let outcome = match call.id.as_str() {
            "pubsub.projects.topics.create" => self.create_topic(call),
            "pubsub.projects.topics.get" => self.get_topic(call),
            "pubsub.projects.topics.patch" => self.patch_topic(call),
            "pubsub.projects.topics.delete" => self.delete_topic(call),
            "pubsub.projects.topics.list" => self.list_topics(call),
            "pubsub.projects.topics.subscriptions.list" => self.list_topic_subscriptions(call),
            "pubsub.projects.topics.publish" => self.publish(call),
            "pubsub.projects.topics.getIamPolicy"
            | "pubsub.projects.subscriptions.getIamPolicy" => self.get_iam_policy(call),
            "pubsub.projects.topics.setIamPolicy"
            | "pubsub.projects.subscriptions.setIamPolicy" => self.set_iam_policy(call),
            "pubsub.projects.subscriptions.create" => self.create_subscription(call),
            "pubsub.projects.subscriptions.get" => self.get_subscription(call),
            "pubsub.projects.subscriptions.patch" => self.patch_subscription(call),
            "pubsub.projects.subscriptions.delete" => self.delete_subscription(call),
            "pubsub.projects.subscriptions.list" => self.list_subscriptions(call),
            "pubsub.projects.subscriptions.pull" => self.pull(call),
            "pubsub.projects.subscriptions.acknowledge" => self.acknowledge(call),
            "pubsub.projects.subscriptions.modifyAckDeadline" => self.modify_ack_deadline(call),
            other => Err(Reply::unimplemented(other)),
        };
        Reply::from_outcome(outcome)
    }
}

fn full_name(project: &str, kind: &str, id: &str) -> String {
    if id.contains('/') {
        id.to_string()
    } else {
        format!("projects/{project}/{kind}/{id}")
    }
}

/// Checks `projects/{p}/{kind}/{id}` and the id rule (docs/gcp-apis.md#pubsub-resource-names);
/// returns the id.
fn resource_id<'a>(name: &'a str, kind: &str) -> Result<&'a str, Reply> {
    let invalid = || Reply::invalid(format!("Invalid [{kind}] name: (name={name})"));
    let mut parts = name.split('/');
    let (Some("projects"), Some(project), Some(k), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    let id_ok = (3..=255).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
        && !id.starts_with("goog");
    if project.is_empty() || k != kind || !id_ok {
        return Err(invalid());
    }
    Ok(id)
}

fn short_id(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn not_found(name: &str) -> Reply {
    Reply::not_found(format!("Resource not found (resource={}).", short_id(name)))
}

fn already_exists(name: &str) -> Reply {
    Reply::already_exists(format!(
        "Resource already exists in the project (resource={}).",
        short_id(name)
    ))
}

/// `Some(duration)` within [min, max] seconds, or the error Pub/Sub gives.
fn duration_in(field: &str, value: Option<&Value>, min: u64, max: u64) -> Result<(), Reply> {
    let Some(text) = value.and_then(Value::as_str) else {
        return Ok(());
    };
    let ok = crate::wire::parse_duration(text)
        .is_some_and(|d| d.as_secs_f64() >= min as f64 && d.as_secs_f64() <= max as f64);
    if ok {
        Ok(())
    } else {
        Err(Reply::invalid(format!(
            "Invalid {field}: {text}; must be between {min}s and {max}s"
        )))
    }
}

/// An update request's `updateMask`, split into camelCase paths. Empty is an error, and so is
/// a path whose first field is not a field of `schema` or is one of `fixed`.
fn update_mask(
    call: &Matched,
    request: &str,
    schema: &str,
    fixed: &[&str],
) -> Result<Vec<String>, Reply> {
    let mask = call
        .body
        .get("updateMask")
        .and_then(Value::as_str)
        .unwrap_or("");
    let paths = crate::fieldmask::paths(mask);
    if paths.is_empty() {
        return Err(Reply::invalid(format!(
            "The update_mask in the {request} must be set, and must be non-empty."
        )));
    }
    let fields = crate::discovery::Service::PubSub
        .discovery()
        .schema_properties(schema);
    for p in &paths {
        let head = p.split('.').next().unwrap_or("");
        if fixed.contains(&head) || !fields.iter().any(|f| f == head) {
            return Err(Reply::invalid(format!(
                "Invalid update_mask provided in the {request}: the '{p}' field cannot be updated or does not exist."
            )));
        }
    }
    Ok(paths)
}

/// `{}` when a list is empty, as Google sends it.
fn list_response(key: &str, items: Vec<Value>, next: Option<String>) -> Outcome {
    let mut out = Map::new();
    if !items.is_empty() {
        out.insert(key.into(), Value::Array(items));
    }
    if let Some(token) = next {
        out.insert("nextPageToken".into(), token.into());
    }
    Ok(Value::Object(out))
}
