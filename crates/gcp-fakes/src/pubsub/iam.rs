//! IAM policies on topics and subscriptions (`getIamPolicy` / `setIamPolicy`), and the check
//! Pub/Sub makes before dead-lettering: its service agent must be allowed to publish to the
//! dead-letter topic and to acknowledge on the source subscription
//! (docs/gcp-apis.md#pubsub-dead-lettering). Without those grants real Pub/Sub keeps
//! redelivering instead of forwarding; so does this fake. Project-level grants are not modelled.

use serde_json::{Map, Value, json};

use super::{PubSub, State, not_found};
use crate::discovery::Matched;
use crate::reply::{Outcome, Reply};

/// Roles that carry `pubsub.topics.publish` / `pubsub.subscriptions.consume`.
const PUBLISH: &[&str] = &[
    "roles/pubsub.publisher",
    "roles/pubsub.editor",
    "roles/pubsub.admin",
];
const CONSUME: &[&str] = &[
    "roles/pubsub.subscriber",
    "roles/pubsub.editor",
    "roles/pubsub.admin",
];

fn exists(state: &State, resource: &str) -> bool {
    state.topics.contains_key(resource) || state.subscriptions.contains_key(resource)
}

/// What an empty policy looks like on the wire.
fn empty_policy() -> Value {
    json!({ "etag": "ACAB" })
}

impl PubSub {
    pub(super) fn get_iam_policy(&self, call: &Matched) -> Outcome {
        let resource = call.param("resource");
        let state = self.lock();
        if !exists(&state, resource) {
            return Err(not_found(resource));
        }
        Ok(state
            .policies
            .get(resource)
            .cloned()
            .unwrap_or_else(empty_policy))
    }

    pub(super) fn set_iam_policy(&self, call: &Matched) -> Outcome {
        let resource = call.param("resource");
        let Some(policy) = call.body.get("policy").and_then(Value::as_object) else {
            return Err(Reply::invalid("policy is required."));
        };
        let mut bindings = Vec::new();
        for b in policy
            .get("bindings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let role = b.get("role").and_then(Value::as_str).unwrap_or("");
            let members: Vec<&str> = b
                .get("members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !role.starts_with("roles/") {
                return Err(Reply::invalid(format!(
                    "Role {role:?} is not a valid role."
                )));
            }
            if members.is_empty() {
                return Err(Reply::invalid(format!(
                    "Binding for {role} has no members."
                )));
            }
            if let Some(bad) = members.iter().find(|m| !m.contains(':')) {
                return Err(Reply::invalid(format!(
                    "Invalid member {bad:?}: a member is `type:id`, e.g. serviceAccount:sa@p.iam.gserviceaccount.com."
                )));
            }
            let mut binding = json!({ "role": role, "members": members });
            if let Some(condition) = b.get("condition").filter(|c| !c.is_null()) {
                binding["condition"] = condition.clone();
            }
            bindings.push(binding);
        }
        let mut state = self.lock();
        if !exists(&state, resource) {
            return Err(not_found(resource));
        }
        let current = state
            .policies
            .get(resource)
            .cloned()
            .unwrap_or_else(empty_policy);
        if let Some(etag) = policy.get("etag").and_then(Value::as_str)
            && Some(etag) != current.get("etag").and_then(Value::as_str)
        {
            return Err(Reply::error(
                409,
                "ABORTED",
                "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
            ));
        }
        state.next_policy_etag += 1;
        let conditional = bindings.iter().any(|b| b.get("condition").is_some());
        let mut stored = Map::new();
        stored.insert("version".into(), if conditional { 3 } else { 1 }.into());
        stored.insert(
            "etag".into(),
            crate::wire::encode_base64(&state.next_policy_etag.to_be_bytes()).into(),
        );
        if !bindings.is_empty() {
            stored.insert("bindings".into(), bindings.into());
        }
        let stored = Value::Object(stored);
        state.policies.insert(resource.to_string(), stored.clone());
        Ok(stored)
    }
}

impl State {
    /// Whether `member` holds one of `roles` on `resource`, unconditionally (a condition
    /// on time or resource names is not evaluated here).
    fn granted(&self, resource: &str, member: &str, roles: &[&str]) -> bool {
        self.policies
            .get(resource)
            .and_then(|p| p.get("bindings"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|b| {
                b.get("condition").is_none()
                    && b.get("role")
                        .and_then(Value::as_str)
                        .is_some_and(|r| roles.contains(&r))
                    && b.get("members")
                        .and_then(Value::as_array)
                        .is_some_and(|m| m.iter().any(|m| m.as_str() == Some(member)))
            })
    }

    /// Whether Pub/Sub's service agent may move a message of `subscription` to `topic`.
    pub(super) fn may_dead_letter(&self, agent: &str, subscription: &str, topic: &str) -> bool {
        let member = format!("serviceAccount:{agent}");
        self.granted(topic, &member, PUBLISH) && self.granted(subscription, &member, CONSUME)
    }
}
