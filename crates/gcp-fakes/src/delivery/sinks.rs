//! The two consumers and what each does with a message that does not fit
//! (docs/gcp-apis.md#dataflow-template-parameters,
//! docs/gcp-apis.md#pubsub-bigquery-subscriptions):
//!
//! - a `PubSub_Subscription_to_BigQuery` job writes it into its dead-letter table (created
//!   with the template's schema if missing), with the reason in `errorMessage`;
//! - a BigQuery subscription publishes it to its dead-letter topic, or, without one (or
//!   without the service agent's grants on it, `pubsub::iam`), leaves it undelivered (counted). `dropUnknownFields` drops unknown keys instead of failing.
//!
//! Rows that BigQuery itself refuses (`insertErrors`) are handled like messages that failed
//! the check. Upstream failures count the batch's messages as failed; either way every
//! leased message is settled, so a drain or `wait_delivered` never hangs on them.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::rows::{self, Schema, Type};
use super::upstream::TableRef;
use super::{BATCH, Delivery, SLICE};
use crate::dataflow::JobSink;
use crate::pubsub::{BigQuerySubscription, Leased};

/// The template's dead-letter schema
/// (DataflowTemplates `pubsubmessage_deadletter_table_schema.json`).
fn dead_letter_fields() -> Value {
    json!([
        {"name": "timestamp", "type": "TIMESTAMP", "mode": "REQUIRED"},
        {"name": "payloadString", "type": "STRING", "mode": "REQUIRED"},
        {"name": "payloadBytes", "type": "BYTES", "mode": "REQUIRED"},
        {"name": "attributes", "type": "RECORD", "mode": "REPEATED", "fields": [
            {"name": "key", "type": "STRING", "mode": "NULLABLE"},
            {"name": "value", "type": "STRING", "mode": "NULLABLE"},
        ]},
        {"name": "errorMessage", "type": "STRING", "mode": "NULLABLE"},
        {"name": "stacktrace", "type": "STRING", "mode": "NULLABLE"},
    ])
}

/// A message that did not make it into its table, and why.
type Rejected<'a> = Vec<(&'a Leased, String)>;

impl Delivery {
    pub(super) async fn run_job(self: std::sync::Arc<Self>, sink: JobSink) {
        let started = Instant::now();
        while started.elapsed() < SLICE && self.dataflow.delivering(&sink.job_id) {
            let batch = self.pubsub.lease(&sink.subscription, BATCH, sink.until);
            if batch.is_empty() {
                break;
            }
            self.job_batch(&sink, &batch).await;
            let seqs: Vec<u64> = batch.iter().map(|m| m.seq).collect();
            self.pubsub.settle(&sink.subscription, &seqs);
        }
    }

    async fn job_batch(&self, sink: &JobSink, batch: &[Leased]) {
        let (Some(table), Some(dead_letter)) = (
            TableRef::parse(&sink.table),
            TableRef::parse(&sink.dead_letter_table),
        ) else {
            let error = format!(
                "job {}: bad outputTableSpec {:?} or outputDeadletterTable {:?}",
                sink.job_id, sink.table, sink.dead_letter_table
            );
            return self.fail(&sink.table, batch.len(), error);
        };
        let key = table.key();
        let Some(schema) = self.schema_or_fail(&table, batch.len()).await else {
            return;
        };
        let mut rejected = Vec::new();
        let mut good = Vec::new();
        for m in batch {
            match schema.row_from_json(&m.message.data, false) {
                Ok(row) => good.push((m, row)),
                Err(reason) => rejected.push((m, reason)),
            }
        }
        rejected.extend(self.write(&table, good).await);
        if rejected.is_empty() {
            return;
        }
        let n = rejected.len();
        let now = crate::wire::timestamp_micros(chrono::Utc::now());
        let rows = rejected
            .into_iter()
            .map(|(m, reason)| {
                let data = &m.message.data;
                let row = json!({
                    "timestamp": now,
                    "payloadString": String::from_utf8_lossy(data),
                    "payloadBytes": crate::wire::encode_base64(data),
                    "attributes": [],
                    "errorMessage": reason,
                    "stacktrace": null,
                });
                let Value::Object(row) = row else {
                    unreachable!("a JSON object literal")
                };
                (m.message.message_id.clone(), row)
            })
            .collect();
        if !self.ensure_table(&key, &dead_letter, n).await {
            return;
        }
        match self.upstream.insert_all(&dead_letter, rows).await {
            Ok(errors) => {
                let last = errors.last().map(|(_, e)| e.clone());
                self.count(&key, |s| {
                    s.dead_lettered += n - errors.len();
                    s.failed += errors.len();
                    s.last_error = last.or(s.last_error.take());
                });
            }
            Err(f) => self.fail(&key, n, f.message),
        }
    }

    /// Creates a missing dead-letter table, as the template does; false (and the messages
    /// counted as failed) when that is not possible.
    async fn ensure_table(&self, key: &str, t: &TableRef, n: usize) -> bool {
        let error = match self.schema(t).await {
            Ok(Some(_)) => return true,
            Ok(None) => match self.upstream.create_table(t, &dead_letter_fields()).await {
                Ok(()) => return true,
                Err(f) => f.message,
            },
            Err(f) => f.message,
        };
        self.fail(key, n, error);
        false
    }

    /// The table's schema, or `None` with the batch counted as failed.
    async fn schema_or_fail(&self, t: &TableRef, n: usize) -> Option<std::sync::Arc<Schema>> {
        let error = match self.schema(t).await {
            Ok(Some(s)) => return Some(s),
            Ok(None) => format!("table {} not found", t.key()),
            Err(f) => f.message,
        };
        self.fail(&t.key(), n, error);
        None
    }

    /// Streams checked rows; counts the written ones and returns those BigQuery refused.
    async fn write<'a>(
        &self,
        t: &TableRef,
        good: Vec<(&'a Leased, Map<String, Value>)>,
    ) -> Rejected<'a> {
        if good.is_empty() {
            return Vec::new();
        }
        let (messages, rows): (Vec<&Leased>, Vec<_>) = good
            .into_iter()
            .map(|(m, row)| (m, (m.message.message_id.clone(), row)))
            .unzip();
        match self.upstream.insert_all(t, rows).await {
            Ok(errors) => {
                let written = messages.len() - errors.len();
                self.count(&t.key(), |s| s.delivered += written);
                errors
                    .into_iter()
                    .filter_map(|(i, e)| Some((*messages.get(i)?, format!("insertAll: {e}"))))
                    .collect()
            }
            Err(f) => {
                self.fail(&t.key(), messages.len(), f.message);
                Vec::new()
            }
        }
    }

    pub(super) async fn run_subscription(self: std::sync::Arc<Self>, sub: BigQuerySubscription) {
        let started = Instant::now();
        while started.elapsed() < SLICE {
            let batch = self.pubsub.lease(&sub.name, BATCH, None);
            if batch.is_empty() {
                break;
            }
            self.subscription_batch(&sub, &batch).await;
            let seqs: Vec<u64> = batch.iter().map(|m| m.seq).collect();
            self.pubsub.settle(&sub.name, &seqs);
        }
    }

    async fn subscription_batch(&self, sub: &BigQuerySubscription, batch: &[Leased]) {
        let spec = sub
            .config
            .get("table")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(table) = TableRef::parse(spec) else {
            let error = format!("{}: bad bigqueryConfig.table {spec:?}", sub.name);
            return self.fail(spec, batch.len(), error);
        };
        let Some(schema) = self.schema_or_fail(&table, batch.len()).await else {
            return;
        };
        let flag = |k: &str| sub.config.get(k).and_then(Value::as_bool).unwrap_or(false);
        // Topic schemas are not modelled: their JSON encoding maps to columns the same way.
        let by_table = flag("useTableSchema") || flag("useTopicSchema");
        let mut rejected = Vec::new();
        let mut good = Vec::new();
        for m in batch {
            let row = if by_table {
                rows::parse_object(&m.message.data)
            } else {
                data_row(&schema, &m.message.data)
            }
            .and_then(|mut object| {
                if flag("writeMetadata") {
                    add_metadata(&schema, &mut object, &sub.name, m)?;
                }
                schema.row(object, by_table && flag("dropUnknownFields"))
            });
            match row {
                Ok(row) => good.push((m, row)),
                Err(reason) => rejected.push((m, reason)),
            }
        }
        rejected.extend(self.write(&table, good).await);
        let key = table.key();
        for (m, _) in rejected {
            let forwarded = sub
                .dead_letter_topic
                .as_deref()
                .is_some_and(|topic| self.forward(topic, &sub.name, m));
            self.count(&key, |s| {
                if forwarded {
                    s.dead_lettered += 1;
                } else {
                    s.undelivered += 1;
                }
            });
        }
    }

    /// Publishes a message to a dead-letter topic with the attributes Pub/Sub adds.
    fn forward(&self, topic: &str, subscription: &str, m: &Leased) -> bool {
        let msg = &m.message;
        let mut attributes = msg.attributes.clone();
        let (project, short) = split_name(subscription);
        for (k, v) in [
            ("CloudPubSubDeadLetterSourceDeliveryCount", "1".to_string()),
            ("CloudPubSubDeadLetterSourceSubscription", short.to_string()),
            (
                "CloudPubSubDeadLetterSourceSubscriptionProject",
                project.to_string(),
            ),
            (
                "CloudPubSubDeadLetterSourceTopicPublishTime",
                msg.publish_time.clone(),
            ),
        ] {
            attributes.insert(k.to_string(), v);
        }
        let forwarded = (msg.data.clone(), attributes, msg.ordering_key.clone());
        self.pubsub
            .dead_letter(subscription, topic, vec![forwarded])
    }
}

/// `projects/P/subscriptions/S` → (P, S).
fn split_name(name: &str) -> (&str, &str) {
    let mut parts = name.split('/');
    let project = parts.nth(1).unwrap_or("");
    (project, parts.nth(1).unwrap_or(name))
}

/// Without a schema option the message goes whole into a `data` column (STRING, BYTES or JSON).
fn data_row(schema: &Schema, data: &[u8]) -> Result<Map<String, Value>, String> {
    let column = schema
        .columns
        .iter()
        .find(|c| c.name == "data")
        .ok_or("the table has no data column")?;
    let value = match column.ty {
        Type::Bytes => crate::wire::encode_base64(data),
        Type::String | Type::Opaque => {
            let text = std::str::from_utf8(data).map_err(|e| format!("data is not UTF-8: {e}"))?;
            if column.ty == Type::Opaque {
                serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}"))?;
            }
            text.to_string()
        }
        _ => return Err("the data column must be STRING, BYTES or JSON".into()),
    };
    let mut row = Map::new();
    row.insert("data".into(), value.into());
    Ok(row)
}

/// `writeMetadata`: the subscription, message id, publish time and attributes (as JSON text)
/// go into columns of their own, which the table must have.
fn add_metadata(
    schema: &Schema,
    object: &mut Map<String, Value>,
    subscription: &str,
    m: &Leased,
) -> Result<(), String> {
    let msg = &m.message;
    let metadata = [
        ("subscription_name", Value::from(subscription)),
        ("message_id", Value::from(msg.message_id.as_str())),
        ("publish_time", Value::from(msg.publish_time.as_str())),
        ("attributes", Value::from(json!(msg.attributes).to_string())),
    ];
    for (name, value) in metadata {
        if !schema.has(name) {
            return Err(format!("writeMetadata: the table has no {name} column"));
        }
        object.insert(name.to_string(), value);
    }
    Ok(())
}
