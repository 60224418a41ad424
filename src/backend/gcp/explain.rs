//! `plan --explain`: each step as the `gcloud` / `bq` command that does the same by hand, so
//! a reviewer used to the console sees exactly what `up` will do, and can do it themselves.
//! The commands are what bqflow's REST calls amount to (docs/gcp-apis.md); arguments are
//! quoted for a POSIX shell.

use super::Gcp;
use crate::plan::diff::{Action, Change};
use crate::plan::{
    BucketDef, ColumnDef, DatasetDef, Desired, Labels, MaterializedViewDef, PipelineDef,
    SubscriptionDef, TableDef, TopicDef, ViewDef,
};
use crate::spec::types::Via;

/// Single-quoted for a POSIX shell (a `'` inside becomes `'\''`).
fn sh(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `k=v,k=v` for gcloud's `--labels` / `--update-labels`.
fn gcloud_labels(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// gcloud's verb and labels flag: `create --labels`, or `update --update-labels`.
fn gcloud_verb(create: bool) -> (&'static str, &'static str) {
    if create {
        ("create", "--labels")
    } else {
        ("update", "--update-labels")
    }
}

/// `--label k:v` repeated, for `bq`.
fn bq_labels(labels: &Labels, flag: &str) -> String {
    labels
        .iter()
        .map(|(k, v)| format!(" {flag} {}", sh(&format!("{k}:{v}"))))
        .collect()
}

fn seconds(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs())
}

impl Gcp {
    /// The commands for one change; none for what is unchanged or not bqflow's.
    pub fn explain(&self, change: &Change) -> Vec<String> {
        let create = change.action == Action::Create;
        let replace = matches!(change.action, Action::Replace(_));
        if !create && !replace && !matches!(change.action, Action::Update(_)) {
            return vec![];
        }
        let labels = &change.resource.labels;
        match &change.resource.desired {
            Desired::Topic(t) => vec![self.topic(t, labels, create)],
            Desired::Subscription(s) => vec![self.subscription(s, labels, create)],
            Desired::Dataset(d) => vec![self.dataset_command(d, labels, create)],
            Desired::Table(t) => self.table(t, labels, create),
            Desired::View(v) => vec![self.view(v, labels, create)],
            Desired::MaterializedView(m) if replace => {
                let mut commands = vec![format!(
                    "bq rm -f --table {}:{}.{}",
                    self.project, m.dataset, m.name
                )];
                commands.extend(self.materialized_view(m, labels, true));
                commands
            }
            Desired::MaterializedView(m) => self.materialized_view(m, labels, create),
            Desired::Rows(r) => vec![format!(
                "# {} rows derived from the generator's seed ({:?}): bqflow replaces the table's rows by DML\nbq query --use_legacy_sql=false {}",
                if create { "load the" } else { "reload the" },
                r.source,
                sh(&format!(
                    "DELETE FROM `{}.{}.{}` WHERE TRUE; INSERT INTO … VALUES …",
                    self.project, r.dataset, r.table
                ))
            )],
            Desired::Bucket(b) => self.bucket(b, labels, create),
            Desired::Pipeline(p) => vec![self.pipeline(p, labels, create)],
        }
    }

    fn topic(&self, t: &TopicDef, labels: &Labels, create: bool) -> String {
        let (verb, labels_flag) = gcloud_verb(create);
        let mut cmd = format!(
            "gcloud pubsub topics {verb} {} --project={} {labels_flag}={}",
            sh(&t.name),
            self.project,
            sh(&gcloud_labels(labels))
        );
        if let Some(r) = t.message_retention {
            cmd += &format!(" --message-retention-duration={}", seconds(r));
        }
        cmd
    }

    fn subscription(&self, s: &SubscriptionDef, labels: &Labels, create: bool) -> String {
        let (verb, labels_flag) = gcloud_verb(create);
        let mut cmd = format!(
            "gcloud pubsub subscriptions {verb} {} --project={}",
            sh(&s.name),
            self.project
        );
        if create {
            cmd += &format!(" --topic={}", sh(&s.topic));
        }
        cmd += &format!(
            " --ack-deadline={} --message-retention-duration={} --expiration-period=never {labels_flag}={}",
            s.ack_deadline.as_secs(),
            seconds(s.message_retention),
            sh(&gcloud_labels(labels))
        );
        if let Some((min, max)) = s.retry {
            cmd += &format!(
                " --min-retry-delay={} --max-retry-delay={}",
                seconds(min),
                seconds(max)
            );
        }
        if let Some((topic, attempts)) = &s.dead_letter {
            cmd += &format!(
                " --dead-letter-topic={} --max-delivery-attempts={attempts}",
                sh(topic)
            );
        }
        if let Some(table) = &s.bigquery_table {
            cmd += &format!(" --bigquery-table={} --use-table-schema", sh(table));
        }
        cmd
    }

    fn dataset_command(&self, d: &DatasetDef, labels: &Labels, create: bool) -> String {
        let mut cmd = if create {
            format!(
                "bq --location={} mk --dataset",
                sh(d.location.as_deref().unwrap_or(&self.location))
            )
        } else {
            "bq update --dataset".to_string()
        };
        if let Some(text) = &d.description {
            cmd += &format!(" --description={}", sh(text));
        }
        if let Some(e) = d.default_table_expiration {
            cmd += &format!(" --default_table_expiration={}", e.as_secs());
        }
        cmd += &bq_labels(labels, if create { "--label" } else { "--set_label" });
        cmd + &format!(" {}:{}", self.project, d.name)
    }

    fn table(&self, t: &TableDef, labels: &Labels, create: bool) -> Vec<String> {
        let file = format!("{}.schema.json", t.name);
        let schema = serde_json::to_string_pretty(&schema_json(&t.columns)).unwrap_or_default();
        let mut cmd = if create {
            "bq mk --table".to_string()
        } else {
            "bq update --table".to_string()
        };
        if let Some(text) = &t.description {
            cmd += &format!(" --description={}", sh(text));
        }
        if create && let Some((field, granularity, expiration)) = &t.partitioning {
            cmd += &format!(
                " --time_partitioning_field={field} --time_partitioning_type={granularity:?}"
            );
            if let Some(e) = expiration {
                cmd += &format!(" --time_partitioning_expiration={}", e.as_secs());
            }
        }
        if !t.clustering.is_empty() {
            cmd += &format!(" --clustering_fields={}", t.clustering.join(","));
        }
        cmd += &bq_labels(labels, if create { "--label" } else { "--set_label" });
        cmd += &format!(" {}:{}.{} {file}", self.project, t.dataset, t.name);
        vec![format!("cat > {file} <<'EOF'\n{schema}\nEOF"), cmd]
    }

    fn view(&self, v: &ViewDef, labels: &Labels, create: bool) -> String {
        let verb = if create { "mk" } else { "update" };
        let mut cmd = format!("bq {verb} --use_legacy_sql=false --view {}", sh(&v.sql));
        if let Some(text) = &v.description {
            cmd += &format!(" --description={}", sh(text));
        }
        cmd += &bq_labels(labels, if create { "--label" } else { "--set_label" });
        cmd + &format!(" {}:{}.{}", self.project, v.dataset, v.name)
    }

    fn materialized_view(
        &self,
        m: &MaterializedViewDef,
        labels: &Labels,
        create: bool,
    ) -> Vec<String> {
        let name = format!("{}.{}.{}", self.project, m.dataset, m.name);
        let options = format!(
            "enable_refresh = {}, refresh_interval_minutes = {}",
            m.enable_refresh,
            m.refresh_interval.as_secs_f64() / 60.0
        );
        let mut out = Vec::new();
        if create {
            out.push(format!(
                "bq query --use_legacy_sql=false {}",
                sh(&format!(
                    "CREATE MATERIALIZED VIEW `{name}` OPTIONS ({options}) AS\n{}",
                    m.sql
                ))
            ));
        } else {
            out.push(format!(
                "bq query --use_legacy_sql=false {}",
                sh(&format!(
                    "ALTER MATERIALIZED VIEW `{name}` SET OPTIONS ({options})"
                ))
            ));
        }
        out.push(format!(
            "bq update{}{} {}:{}.{}",
            m.description
                .as_ref()
                .map(|d| format!(" --description={}", sh(d)))
                .unwrap_or_default(),
            bq_labels(labels, "--set_label"),
            self.project,
            m.dataset,
            m.name
        ));
        out
    }

    fn bucket(&self, b: &BucketDef, labels: &Labels, create: bool) -> Vec<String> {
        let rule = format!(
            r#"{{"rule": [{{"action": {{"type": "Delete"}}, "condition": {{"age": {}}}}}]}}"#,
            b.delete_after_days
        );
        let mut out = vec![format!("cat > lifecycle.json <<'EOF'\n{rule}\nEOF")];
        if create {
            out.push(format!(
                "gcloud storage buckets create gs://{} --project={} --location={} --uniform-bucket-level-access",
                b.name,
                self.project,
                sh(&b.location)
            ));
        }
        out.push(format!(
            "gcloud storage buckets update gs://{} --lifecycle-file=lifecycle.json --update-labels={}",
            b.name,
            sh(&gcloud_labels(labels))
        ));
        out
    }

    fn pipeline(&self, p: &PipelineDef, labels: &Labels, create: bool) -> String {
        if p.via == Via::BigquerySubscription {
            return format!(
                "# no job: subscription {} writes into {}.{} itself (see its command)",
                p.subscription, p.dataset, p.table
            );
        }
        let name = self.job_name(&p.name);
        let mut cmd = match &p.flex_template {
            Some(spec) => format!(
                "gcloud dataflow flex-template run {name} --template-file-gcs-location={} --staging-location=gs://{}/staging",
                sh(spec),
                self.temp_bucket
            ),
            None => format!(
                "gcloud dataflow jobs run {name} --gcs-location={}",
                super::resources::classic_template(&self.region)
            ),
        };
        cmd += &format!(
            " --project={} --region={} --temp-location=gs://{}/temp",
            self.project, self.region, self.temp_bucket
        );
        if let Some(n) = p.max_workers {
            cmd += &format!(" --max-workers={n}");
        }
        if let Some(m) = &p.machine_type {
            cmd += &format!(" --worker-machine-type={}", sh(m));
        }
        if let Some(sa) = &self.service_account {
            cmd += &format!(" --service-account-email={}", sh(sa));
        }
        if !create {
            cmd += " --update";
        }
        cmd += &format!(
            " --additional-user-labels={} --parameters={}",
            sh(&gcloud_labels(labels)),
            sh(&format!(
                "inputSubscription=projects/{0}/subscriptions/{1},outputTableSpec={0}:{2}.{3},outputDeadletterTable={0}:{2}.{4}",
                self.project, p.subscription, p.dataset, p.table, p.dead_letter_table
            ))
        );
        cmd
    }
}

/// The table's schema as `bq mk` reads it from a JSON file.
fn schema_json(columns: &[ColumnDef]) -> serde_json::Value {
    serde_json::Value::Array(
        columns
            .iter()
            .map(|c| {
                let (base, args) = c
                    .bigquery_type
                    .split_once('(')
                    .unwrap_or((&c.bigquery_type, ""));
                let mode = if c.repeated {
                    "REPEATED"
                } else if c.required {
                    "REQUIRED"
                } else {
                    "NULLABLE"
                };
                let mut field =
                    serde_json::json!({ "name": c.name, "type": base.trim(), "mode": mode });
                // NUMERIC(18, 2): precision and scale, as strings, as the API takes them.
                let mut numbers = args.trim_end_matches(')').split(',').map(str::trim);
                if let Some(precision) = numbers.next().filter(|p| !p.is_empty()) {
                    field["precision"] = precision.into();
                }
                if let Some(scale) = numbers.next() {
                    field["scale"] = scale.into();
                }
                if let Some(d) = &c.description {
                    field["description"] = d.clone().into();
                }
                if !c.fields.is_empty() {
                    field["fields"] = schema_json(&c.fields);
                }
                field
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_single_quotes() {
        assert_eq!(sh("sales-events"), "sales-events");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("a b"), "'a b'");
    }
}
