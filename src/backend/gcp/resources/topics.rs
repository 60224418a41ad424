//! Topics and subscriptions, and the IAM grants a dead-letter policy needs: observed in the
//! plan's comparable form, created or patched (docs/gcp-apis.md#pubsub).

use std::time::Duration;

use anyhow::{Result, bail};

use super::{changed, last_segment, parse_seconds, seconds};
use crate::backend::gcp::{Gcp, pubsub};
use crate::plan::diff::{Action, Change, Observed};
use crate::plan::{Fields, Labels, Resource, SubscriptionDef, TopicDef, duration};

impl Gcp {
    /// A topic: its retention and labels.
    pub(super) async fn observe_topic(&self, t: &TopicDef) -> Result<Observed> {
        let p = &self.project;
        Ok(match pubsub::get_topic(&self.api, p, &t.name).await? {
            None => Observed::Missing,
            Some(topic) => {
                let mut f = Fields::new();
                let retention = topic
                    .message_retention_duration
                    .as_deref()
                    .and_then(parse_seconds);
                f.insert(
                    "message_retention",
                    retention.map_or("default".into(), duration),
                );
                self.present(&topic.labels, f)
            }
        })
    }

    /// A subscription: its settings, and the dead-letter grants where it has a policy.
    pub(super) async fn observe_subscription(
        &self,
        r: &Resource,
        sub: &SubscriptionDef,
    ) -> Result<Observed> {
        let p = &self.project;
        Ok({
            match pubsub::get_subscription(&self.api, p, &r.id.name).await? {
                None => Observed::Missing,
                Some(s) => {
                    let mut f = self.subscription_fields(&s);
                    if let Some((topic, _)) = &sub.dead_letter {
                        f.insert(
                            "dead_letter_access",
                            self.dead_letter_access(sub, topic).await?,
                        );
                    }
                    self.present(&s.labels, f)
                }
            }
        })
    }

    /// Creates or patches a topic.
    pub(super) async fn apply_topic(&self, t: &TopicDef, change: &Change) -> Result<String> {
        let p = &self.project;
        let labels = &change.resource.labels;
        let create = change.action == Action::Create;
        let topic = topic_body(t, labels);
        if create {
            pubsub::create_topic(&self.api, p, &t.name, &topic).await?;
            return Ok("created".into());
        }
        pubsub::patch_topic(
            &self.api,
            p,
            &t.name,
            &topic,
            &["labels", "messageRetentionDuration"],
        )
        .await?;
        Ok(format!("updated {}", changed(change)))
    }

    /// Creates or patches a subscription, then makes the dead-letter grants.
    pub(super) async fn apply_subscription(
        &self,
        s: &SubscriptionDef,
        change: &Change,
    ) -> Result<String> {
        let p = &self.project;
        let labels = &change.resource.labels;
        let create = change.action == Action::Create;
        let body = self.subscription_body(s, labels);
        if create {
            pubsub::create_subscription(&self.api, p, &s.name, &body).await?;
            self.grant_dead_lettering(s).await?;
            return Ok("created".into());
        }
        let mut mask = vec![
            "labels",
            "ackDeadlineSeconds",
            "messageRetentionDuration",
            "expirationPolicy",
            "retryPolicy",
            "deadLetterPolicy",
        ];
        // Always in the mask: absent in the body, it turns a BigQuery subscription back
        // into a pull one when the spec says so.
        mask.push("bigqueryConfig");
        pubsub::patch_subscription(&self.api, p, &s.name, &body, &mask).await?;
        self.grant_dead_lettering(s).await?;
        Ok(format!("updated {}", changed(change)))
    }

    fn subscription_fields(&self, s: &pubsub::Subscription) -> Fields {
        let mut f = Fields::new();
        f.insert("topic", last_segment(&s.topic));
        f.insert(
            "ack_deadline",
            duration(Duration::from_secs(
                s.ack_deadline_seconds.unwrap_or(10).max(0) as u64,
            )),
        );
        let retention = s
            .message_retention_duration
            .as_deref()
            .and_then(parse_seconds)
            .unwrap_or(Duration::from_secs(7 * 86_400));
        f.insert("message_retention", duration(retention));
        let never = s
            .expiration_policy
            .as_ref()
            .is_some_and(|e| e.ttl.as_deref().is_none_or(|t| t.is_empty()));
        f.insert(
            "expiration",
            if never {
                "never".into()
            } else {
                s.expiration_policy
                    .as_ref()
                    .and_then(|e| e.ttl.clone())
                    .unwrap_or_else(|| "after 31 days idle".into())
            },
        );
        f.insert(
            "retry_policy",
            s.retry_policy.as_ref().map_or("none".into(), |r| {
                let min = r
                    .minimum_backoff
                    .as_deref()
                    .and_then(parse_seconds)
                    .unwrap_or(Duration::from_secs(10));
                let max = r
                    .maximum_backoff
                    .as_deref()
                    .and_then(parse_seconds)
                    .unwrap_or(Duration::from_secs(600));
                format!("{}..{}", duration(min), duration(max))
            }),
        );
        f.insert(
            "dead_letter",
            s.dead_letter_policy.as_ref().map_or("none".into(), |d| {
                format!(
                    "{} after {} attempts",
                    last_segment(&d.dead_letter_topic),
                    d.max_delivery_attempts.unwrap_or(5)
                )
            }),
        );
        let prefix = format!("{}.", self.project);
        f.insert(
            "bigquery_table",
            s.bigquery_config.as_ref().map_or("none".into(), |b| {
                b.table
                    .strip_prefix(&prefix)
                    .unwrap_or(&b.table)
                    .to_string()
            }),
        );
        f
    }

    /// The service agent's grants a dead-letter policy needs, as `plan` shows them.
    async fn dead_letter_access(&self, s: &SubscriptionDef, topic: &str) -> Result<String> {
        if !self.dead_letter_grants_apply() {
            return Ok(crate::plan::dead_letter_access(topic));
        }
        let member = format!("serviceAccount:{}", self.pubsub_agent().await?);
        let topic_name = pubsub::topic_name(&self.project, topic);
        let sub_name = pubsub::subscription_name(&self.project, &s.name);
        let (publish, consume) = tokio::join!(
            pubsub::has_role(&self.api, &topic_name, PUBLISHER, &member),
            pubsub::has_role(&self.api, &sub_name, SUBSCRIBER, &member),
        );
        let (publish, consume) = match (publish, consume) {
            (Err(e), _) | (_, Err(e)) if self.no_iam_here(&e) => (true, true),
            // The dead-letter topic does not exist yet (up creates it, then grants), or the
            // policy may not be read: either way not granted as far as bqflow can tell.
            (Err(e), _) | (_, Err(e)) if e.not_found() || e.permission_denied() => {
                return Ok(format!("unknown: {e}"));
            }
            (publish, consume) => (publish?, consume?),
        };
        Ok(match (publish, consume) {
            (true, true) => crate::plan::dead_letter_access(topic),
            (false, true) => format!("the service agent may not publish to {topic}"),
            (true, false) => "the service agent may not acknowledge here".into(),
            (false, false) => "not granted to Pub/Sub's service agent".into(),
        })
    }

    /// Google's Pub/Sub emulator has no IAM methods (and enforces none): there, a missing
    /// method is not a missing grant.
    fn no_iam_here(&self, e: &crate::backend::gcp::api::ApiError) -> bool {
        self.api
            .endpoints
            .get(crate::backend::gcp::endpoints::Service::PubSub)
            .overridden
            && matches!(e.status, 501)
    }

    /// Lets Pub/Sub's service agent acknowledge on the subscription and publish to its
    /// dead-letter topic: without both, Pub/Sub keeps redelivering instead of forwarding.
    async fn grant_dead_lettering(&self, s: &SubscriptionDef) -> Result<()> {
        let Some((topic, _)) = &s.dead_letter else {
            return Ok(());
        };
        if !self.dead_letter_grants_apply() {
            return Ok(());
        }
        let agent = self.pubsub_agent().await?;
        let member = format!("serviceAccount:{agent}");
        let topic_name = pubsub::topic_name(&self.project, topic);
        let sub_name = pubsub::subscription_name(&self.project, &s.name);
        for (resource, role, what) in [
            (&topic_name, PUBLISHER, format!("publish to topic {topic}")),
            (
                &sub_name,
                SUBSCRIBER,
                format!("acknowledge on subscription {}", s.name),
            ),
        ] {
            match pubsub::grant(&self.api, resource, role, &member).await {
                Ok(()) => {}
                Err(e) if self.no_iam_here(&e) => {
                    tracing::info!("{e}: the Pub/Sub emulator has no IAM; nothing to grant");
                    return Ok(());
                }
                Err(e) if e.permission_denied() => bail!(
                    "cannot let the Pub/Sub service agent {agent} {what} ({e}); dead letters would \
                     be redelivered instead of forwarded. Ask an owner to run: gcloud pubsub {} \
                     add-iam-policy-binding {} --member={member} --role={role} --project {}",
                    if resource == &topic_name {
                        "topics"
                    } else {
                        "subscriptions"
                    },
                    last_segment(resource),
                    self.project
                ),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn subscription_body(&self, s: &SubscriptionDef, labels: &Labels) -> pubsub::Subscription {
        pubsub::Subscription {
            name: String::new(),
            topic: pubsub::topic_name(&self.project, &s.topic),
            labels: labels.clone(),
            ack_deadline_seconds: Some(s.ack_deadline.as_secs() as i64),
            message_retention_duration: Some(seconds(s.message_retention)),
            retry_policy: s.retry.map(|(min, max)| pubsub::RetryPolicy {
                minimum_backoff: Some(seconds(min)),
                maximum_backoff: Some(seconds(max)),
            }),
            dead_letter_policy: s.dead_letter.as_ref().map(|(topic, attempts)| {
                pubsub::DeadLetterPolicy {
                    dead_letter_topic: pubsub::topic_name(&self.project, topic),
                    max_delivery_attempts: Some(*attempts as i64),
                }
            }),
            // Present and empty: the subscription never expires (absent means 31 days idle).
            expiration_policy: Some(pubsub::ExpirationPolicy { ttl: None }),
            bigquery_config: s.bigquery_table.as_ref().map(|t| pubsub::BigQueryConfig {
                table: format!("{}.{t}", self.project),
                use_table_schema: true,
                write_metadata: false,
                drop_unknown_fields: false,
                state: None,
            }),
            state: None,
        }
    }
}

const PUBLISHER: &str = "roles/pubsub.publisher";

const SUBSCRIBER: &str = "roles/pubsub.subscriber";

fn topic_body(t: &TopicDef, labels: &Labels) -> pubsub::Topic {
    pubsub::Topic {
        name: String::new(),
        labels: labels.clone(),
        message_retention_duration: t.message_retention.map(seconds),
    }
}
