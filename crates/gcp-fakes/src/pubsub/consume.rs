//! The consumer side of subscriptions, for `crate::delivery`: which subscriptions have a
//! consumer, leasing a batch, settling it, what is still to be consumed, and publishing on
//! Pub/Sub's own behalf (dead-lettering).
//!
//! A consumer leases messages like a subscriber pulls them, so a test's own pull does not
//! see them while a batch is in flight, and settles every one it leased (written, dead-lettered
//! or given up on) in the same pass: nothing stays leased after a batch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::messages::{Decoded, delivers_to_bigquery};
use super::{PubSub, PublishedMessage};

/// How long a consumer's lease lasts: longer than any batch, retries included.
const LEASE: Duration = Duration::from_secs(120);

/// A message leased to a consumer.
pub(crate) struct Leased {
    pub seq: u64,
    pub message: Arc<PublishedMessage>,
}

/// A BigQuery subscription, as the delivery worker needs it.
pub(crate) struct BigQuerySubscription {
    pub name: String,
    pub config: Map<String, Value>,
    pub dead_letter_topic: Option<String>,
}

impl PubSub {
    /// Replaces the subscriptions live Dataflow jobs read, each with the job's drain watermark.
    pub fn set_dataflow_inputs(&self, inputs: BTreeMap<String, Option<u64>>) {
        self.lock().dataflow_inputs = inputs;
    }

    /// Sequence number of the last message published so far (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_message_id
    }

    pub fn bigquery_subscriptions(&self) -> Vec<BigQuerySubscription> {
        if !self.deliver {
            return Vec::new();
        }
        let state = self.lock();
        state
            .subscriptions
            .iter()
            .filter(|(_, s)| delivers_to_bigquery(&s.resource))
            .map(|(name, s)| BigQuerySubscription {
                name: name.clone(),
                config: s.resource["bigqueryConfig"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                dead_letter_topic: s
                    .resource
                    .get("deadLetterPolicy")
                    .and_then(|p| p.get("deadLetterTopic"))
                    .and_then(Value::as_str)
                    .map(String::from),
            })
            .collect()
    }

    /// Leases up to `max` messages, oldest first, none past `until` (a drain watermark).
    pub fn lease(&self, subscription: &str, max: usize, until: Option<u64>) -> Vec<Leased> {
        let mut state = self.lock();
        let Some(sub) = state.subscriptions.get_mut(subscription) else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut leased = Vec::new();
        for p in sub.backlog.iter_mut() {
            if leased.len() >= max || until.is_some_and(|u| p.seq > u) {
                break;
            }
            if p.done || p.leased_until.is_some_and(|t| t > now) {
                continue;
            }
            p.leased_until = Some(now + LEASE);
            p.attempts += 1;
            leased.push(Leased {
                seq: p.seq,
                message: p.message.clone(),
            });
        }
        leased
    }

    /// Takes settled messages out of the subscription. Pub/Sub would keep retrying a message
    /// a BigQuery subscription cannot write; the fake gives up at once and counts it instead.
    pub fn settle(&self, subscription: &str, seqs: &[u64]) {
        let mut state = self.lock();
        let Some(sub) = state.subscriptions.get_mut(subscription) else {
            return;
        };
        for seq in seqs {
            if let Ok(i) = sub.backlog.binary_search_by_key(seq, |p| p.seq) {
                sub.backlog[i].done = true;
            }
        }
        // Settled messages are nearly always at the front; the rest follow when they get there.
        while sub.backlog.front().is_some_and(|p| p.done) {
            sub.backlog.pop_front();
        }
    }

    /// Whether a Dataflow job still has messages up to `until` to take from its input.
    pub fn backlog_through(&self, subscription: &str, until: u64) -> bool {
        let state = self.lock();
        state
            .subscriptions
            .get(subscription)
            .is_some_and(|s| any_through(&s.backlog, until))
    }

    /// Whether consumers still have to take a message published up to `through`.
    pub fn unconsumed(&self, through: u64) -> bool {
        if !self.deliver {
            return false;
        }
        let state = self.lock();
        state.subscriptions.iter().any(|(name, s)| {
            let limit = if delivers_to_bigquery(&s.resource) {
                through
            } else {
                match state.dataflow_inputs.get(name) {
                    Some(watermark) => watermark.map_or(through, |w| w.min(through)),
                    None => return false,
                }
            };
            any_through(&s.backlog, limit)
        })
    }

    /// Publishes a message of `subscription` to its dead-letter `topic` on Pub/Sub's own
    /// behalf; false if the topic does not exist or the service agent may not move it there.
    pub fn dead_letter(&self, subscription: &str, topic: &str, messages: Vec<Decoded>) -> bool {
        let mut state = self.lock();
        let agent = format!(
            "service-{}@gcp-sa-pubsub.iam.gserviceaccount.com",
            self.hub.project_number
        );
        if !state.topics.contains_key(topic) || !state.may_dead_letter(&agent, subscription, topic)
        {
            return false;
        }
        self.store(&mut state, topic, messages);
        true
    }
}

/// Settled messages are popped off the front, so this usually stops at the first one.
fn any_through(backlog: &std::collections::VecDeque<super::Pending>, until: u64) -> bool {
    backlog
        .iter()
        .take_while(|p| p.seq <= until)
        .any(|p| !p.done)
}
