//! The settings `plan` compares and shows, as text by field name: one function per resource
//! kind. Which of them a target can change in place is the target's call
//! (`Target::updatable`); a table's columns are compared by name (`columns.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    BucketDef, ColumnDef, DatasetDef, Desired, Kind, Labels, MaterializedViewDef, PipelineDef,
    Resource, SubscriptionDef, TableDef, dead_letter_access,
};

/// Comparable settings of a resource, as text, by field name.
pub type Fields = BTreeMap<&'static str, String>;

impl Resource {
    /// Settings plus labels: what is compared with the observed resource.
    pub fn fields(&self) -> Fields {
        let mut f = self.desired.fields();
        if self.id.kind != Kind::Rows {
            f.insert("labels", labels_text(&self.labels));
        }
        f
    }
}

impl Desired {
    /// The settings `plan` compares and shows.
    pub fn fields(&self) -> Fields {
        match self {
            Desired::Topic(t) => {
                Fields::from([("message_retention", opt_duration(t.message_retention))])
            }
            Desired::Subscription(s) => subscription(s),
            Desired::Dataset(d) => dataset(d),
            Desired::Table(t) => table(t),
            Desired::View(v) => Fields::from([
                ("description", v.description.clone().unwrap_or_default()),
                ("sql", v.sql.clone()),
            ]),
            Desired::MaterializedView(m) => materialized_view(m),
            Desired::Rows(r) => Fields::from([("fingerprint", r.fingerprint.clone())]),
            Desired::Bucket(b) => bucket(b),
            Desired::Pipeline(p) => pipeline(p),
        }
    }
}

fn subscription(s: &SubscriptionDef) -> Fields {
    let mut f = Fields::from([
        ("topic", s.topic.clone()),
        ("ack_deadline", duration(s.ack_deadline)),
        ("message_retention", duration(s.message_retention)),
        ("expiration", "never".into()),
        (
            "retry_policy",
            s.retry.map_or("none".into(), |(a, b)| {
                format!("{}..{}", duration(a), duration(b))
            }),
        ),
        (
            "dead_letter",
            s.dead_letter
                .as_ref()
                .map_or("none".into(), |(t, n)| format!("{t} after {n} attempts")),
        ),
        (
            "bigquery_table",
            s.bigquery_table.clone().unwrap_or_else(|| "none".into()),
        ),
    ]);
    if let Some((topic, _)) = &s.dead_letter {
        f.insert("dead_letter_access", dead_letter_access(topic));
    }
    f
}

fn dataset(d: &DatasetDef) -> Fields {
    let mut f = Fields::from([
        ("description", d.description.clone().unwrap_or_default()),
        (
            "default_table_expiration",
            opt_duration(d.default_table_expiration),
        ),
    ]);
    if let Some(location) = &d.location {
        f.insert("location", location.clone());
    }
    f
}

fn table(t: &TableDef) -> Fields {
    let partitioning = t
        .partitioning
        .as_ref()
        .map_or("none".into(), |(field, g, exp)| {
            format!(
                "{g:?}({field}){}",
                exp.map(|e| format!(" expiring after {}", duration(e)))
                    .unwrap_or_default()
            )
        });
    let clustering = if t.clustering.is_empty() {
        "none".into()
    } else {
        t.clustering.join(", ")
    };
    Fields::from([
        ("description", t.description.clone().unwrap_or_default()),
        ("columns", columns_text(&t.columns)),
        ("partitioning", partitioning),
        ("clustering", clustering),
    ])
}

fn materialized_view(m: &MaterializedViewDef) -> Fields {
    Fields::from([
        ("description", m.description.clone().unwrap_or_default()),
        ("sql", m.sql.clone()),
        ("enable_refresh", m.enable_refresh.to_string()),
        ("refresh_interval", duration(m.refresh_interval)),
    ])
}

/// The temp bucket's location is where it is created, not compared afterwards: a job works
/// with temp files elsewhere, so a moved region must not block `up`.
fn bucket(b: &BucketDef) -> Fields {
    Fields::from([(
        "lifecycle",
        format!("delete objects after {} days", b.delete_after_days),
    )])
}

fn pipeline(p: &PipelineDef) -> Fields {
    Fields::from([
        ("via", format!("{:?}", p.via).to_lowercase()),
        ("subscription", p.subscription.clone()),
        ("table", format!("{}.{}", p.dataset, p.table)),
        (
            "dead_letter_table",
            format!("{}.{}", p.dataset, p.dead_letter_table),
        ),
        (
            "max_workers",
            p.max_workers.map_or("default".into(), |n| n.to_string()),
        ),
        (
            "machine_type",
            p.machine_type.clone().unwrap_or_else(|| "default".into()),
        ),
        (
            "template",
            p.flex_template
                .clone()
                .unwrap_or_else(|| "PubSub_Subscription_to_BigQuery".into()),
        ),
    ])
}

pub fn labels_text(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn columns_text(columns: &[ColumnDef]) -> String {
    columns
        .iter()
        .map(|c| {
            let mode = if c.repeated {
                " REPEATED"
            } else if c.required {
                " REQUIRED"
            } else {
                ""
            };
            let nested = if c.fields.is_empty() {
                String::new()
            } else {
                format!("<{}>", columns_text(&c.fields))
            };
            format!("{} {}{nested}{mode}", c.name, c.bigquery_type)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn opt_duration(d: Option<Duration>) -> String {
    d.map_or("default".into(), duration)
}
