//! Spec → plan: one resource per topic, subscription, dataset, table, view, dimension load and
//! pipeline, with the dependencies that order their creation.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::*;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::spec::Project;
use crate::spec::located::Text;
use crate::spec::types::{self, Mode, Via};
use crate::sql::{Dialect, Renderer};

/// Label keys every bqflow resource carries; `teardown` deletes only what carries this
/// deployment's (docs/ownership.md).
pub const PROJECT_LABEL: &str = "bqflow-project";
pub const DEPLOYMENT_LABEL: &str = "bqflow-deployment";
pub const MANAGED_BY_LABEL: &str = "managed-by";
pub const MANAGED_BY: &str = "bqflow";

/// Pub/Sub's default ack deadline.
const DEFAULT_ACK_DEADLINE: Duration = Duration::from_secs(10);

pub fn ownership_labels(project: &Project) -> Labels {
    let mut labels = Labels::new();
    labels.insert(PROJECT_LABEL.into(), project.spec.name.value.clone());
    labels.insert(DEPLOYMENT_LABEL.into(), project.deployment());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels
}

pub(super) fn labels_of(project: &Project, own: &BTreeMap<Text, Text>) -> Labels {
    let mut labels = ownership_labels(project);
    for (k, v) in project.spec.labels.iter().chain(own) {
        labels.insert(k.value.clone(), v.value.clone());
    }
    labels
}

pub(super) fn id(kind: Kind, name: impl Into<String>) -> ResourceId {
    ResourceId {
        kind,
        name: name.into(),
    }
}

/// Pub/Sub keeps unacknowledged messages this long unless told otherwise.
const DEFAULT_SUBSCRIPTION_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// Dataflow temp files are scratch; a lifecycle rule removes what jobs leave behind.
const TEMP_OBJECTS_DAYS: u32 = 7;

pub fn build(
    project: &Project,
    renderer: &Renderer,
    placement: &Placement,
) -> Result<Plan, Diagnostics> {
    let gcp = match placement {
        Placement::Gcp(g) => Some(g),
        Placement::Local => None,
    };
    let b = Builder::new(project);
    let mut found = Diagnostics::default();
    let mut resources = b.topics();
    resources.extend(b.subscriptions());
    resources.push(b.dataset(gcp));
    resources.extend(b.tables());
    let bucket = b.temp_bucket(gcp);
    let bucket_id = bucket.as_ref().map(|r| r.id.clone());
    resources.extend(bucket);
    resources.extend(b.pipelines(bucket_id));
    resources.extend(b.materialized_views(renderer, placement, &mut found));
    resources.extend(b.views(renderer, &mut found));
    if let Some(cycle) = find_cycle(&resources) {
        found.push(b.cycle_error(&cycle));
    }
    found.into_result()?;
    Ok(Plan { resources })
}

/// What every resource kind's step needs: the project, its dataset and that dataset's id.
pub(super) struct Builder<'a> {
    pub(super) project: &'a Project,
    pub(super) spec: &'a types::Spec,
    pub(super) dataset: String,
    pub(super) dataset_id: ResourceId,
}

impl<'a> Builder<'a> {
    fn new(project: &'a Project) -> Builder<'a> {
        let dataset = project.spec.dataset.name.value.clone();
        Builder {
            project,
            spec: &project.spec,
            dataset_id: id(Kind::Dataset, dataset.as_str()),
            dataset,
        }
    }

    fn topics(&self) -> Vec<Resource> {
        let (project, spec) = (self.project, self.spec);
        let mut out = Vec::new();
        for t in &spec.topics {
            out.push(Resource {
                id: id(Kind::Topic, t.name.as_str()),
                deps: vec![],
                desired: Desired::Topic(TopicDef {
                    name: t.name.value.clone(),
                    message_retention: t.message_retention.as_ref().map(|d| d.value),
                }),
                labels: labels_of(project, &t.labels),
            });
        }
        out
    }

    fn subscriptions(&self) -> Vec<Resource> {
        let (project, spec, dataset) = (self.project, self.spec, &self.dataset);
        let mut out = Vec::new();
        // A bigquery-subscription pipeline turns its subscription into a BigQuery one.
        let bigquery_subscriptions: HashMap<&str, &types::Pipeline> = spec
            .pipelines
            .iter()
            .filter(|p| p.via.value == Via::BigquerySubscription)
            .map(|p| (p.subscription.as_str(), p))
            .collect();
        for s in &spec.subscriptions {
            let mut deps = vec![id(Kind::Topic, s.topic.as_str())];
            let dead_letter = s.dead_letter.as_ref().map(|d| {
                deps.push(id(Kind::Topic, d.topic.as_str()));
                (d.topic.value.clone(), d.max_delivery_attempts.value)
            });
            // Pub/Sub checks its write access when a BigQuery subscription is created, so the
            // pipeline step (which grants it) comes first.
            let bigquery_table = bigquery_subscriptions.get(s.name.as_str()).map(|p| {
                deps.push(id(Kind::Table, format!("{dataset}.{}", p.table)));
                deps.push(id(Kind::Pipeline, p.name.as_str()));
                format!("{dataset}.{}", p.table)
            });
            out.push(Resource {
                id: id(Kind::Subscription, s.name.as_str()),
                deps,
                desired: Desired::Subscription(SubscriptionDef {
                    name: s.name.value.clone(),
                    topic: s.topic.value.clone(),
                    ack_deadline: s
                        .ack_deadline
                        .as_ref()
                        .map_or(DEFAULT_ACK_DEADLINE, |d| d.value),
                    message_retention: s
                        .message_retention
                        .as_ref()
                        .map_or(DEFAULT_SUBSCRIPTION_RETENTION, |d| d.value),
                    retry: s.retry_policy.as_ref().map(|r| {
                        (
                            r.minimum_backoff
                                .as_ref()
                                .map_or(Duration::from_secs(10), |d| d.value),
                            r.maximum_backoff
                                .as_ref()
                                .map_or(Duration::from_secs(600), |d| d.value),
                        )
                    }),
                    dead_letter,
                    bigquery_table,
                }),
                labels: labels_of(project, &s.labels),
            });
        }
        out
    }

    fn dataset(&self, gcp: Option<&GcpPlacement>) -> Resource {
        let (project, spec, dataset) = (self.project, self.spec, &self.dataset);
        let mut out = Vec::new();
        out.push(Resource {
            id: self.dataset_id.clone(),
            deps: vec![],
            desired: Desired::Dataset(DatasetDef {
                name: dataset.clone(),
                location: gcp.map(|g| g.location.clone()),
                description: spec.dataset.description.as_ref().map(|d| d.value.clone()),
                default_table_expiration: spec
                    .dataset
                    .default_table_expiration
                    .as_ref()
                    .map(|d| d.value),
            }),
            labels: labels_of(project, &spec.dataset.labels),
        });
        out.pop().expect("one dataset")
    }

    /// The spec's tables, and the rows step of each that is loaded from the generator.
    fn tables(&self) -> Vec<Resource> {
        let (project, spec, dataset, dataset_id) =
            (self.project, self.spec, &self.dataset, &self.dataset_id);
        let mut out = Vec::new();
        for t in &spec.tables {
            let table_id = id(Kind::Table, format!("{dataset}.{}", t.name));
            out.push(Resource {
                id: table_id.clone(),
                deps: vec![dataset_id.clone()],
                desired: Desired::Table(TableDef {
                    dataset: dataset.clone(),
                    name: t.name.value.clone(),
                    description: t.description.as_ref().map(|d| d.value.clone()),
                    columns: t.columns.iter().map(column_def).collect(),
                    partitioning: t.partitioning.as_ref().map(|p| {
                        (
                            p.field.value.clone(),
                            p.granularity.value,
                            p.expiration.as_ref().map(|d| d.value),
                        )
                    }),
                    clustering: t.clustering.iter().map(|c| c.value.clone()).collect(),
                    dead_letter_of: None,
                }),
                labels: labels_of(project, &t.labels),
            });
            if let Some(load) = &t.load {
                out.push(Resource {
                    id: id(Kind::Rows, format!("{dataset}.{}", t.name)),
                    deps: vec![table_id],
                    desired: Desired::Rows(RowsDef {
                        dataset: dataset.clone(),
                        table: t.name.value.clone(),
                        source: load.value,
                        model: crate::generate::model_config(&spec.generator),
                        fingerprint: format!(
                            "{:?} {}",
                            load.value,
                            crate::generate::producer_id(&crate::generate::model_config(
                                &spec.generator
                            ))
                        ),
                    }),
                    labels: ownership_labels(project),
                });
            }
        }
        out
    }

    fn temp_bucket(&self, gcp: Option<&GcpPlacement>) -> Option<Resource> {
        let (project, spec) = (self.project, self.spec);
        // Dataflow jobs need a bucket for temp files (gcp only).
        match gcp {
            Some(g) if spec.pipelines.iter().any(|p| p.via.value == Via::Dataflow) => {
                Some(Resource {
                    id: id(Kind::Bucket, g.temp_bucket.as_str()),
                    deps: vec![],
                    desired: Desired::Bucket(BucketDef {
                        name: g.temp_bucket.clone(),
                        location: g.region.clone(),
                        delete_after_days: TEMP_OBJECTS_DAYS,
                    }),
                    labels: ownership_labels(project),
                })
            }
            _ => None,
        }
    }

    /// Each pipeline, and the dead-letter table it writes what does not fit into.
    fn pipelines(&self, bucket_id: Option<ResourceId>) -> Vec<Resource> {
        let (project, spec, dataset, dataset_id) =
            (self.project, self.spec, &self.dataset, &self.dataset_id);
        let mut out = Vec::new();
        for p in &spec.pipelines {
            let dead_letter = Project::dead_letter_table(p);
            let dl_id = id(Kind::Table, format!("{dataset}.{dead_letter}"));
            out.push(Resource {
                id: dl_id.clone(),
                deps: vec![dataset_id.clone()],
                desired: Desired::Table(dead_letter_table(dataset, &dead_letter, p)),
                labels: ownership_labels(project),
            });
            let table_id = id(Kind::Table, format!("{dataset}.{}", p.table));
            let sub_id = id(Kind::Subscription, p.subscription.as_str());
            out.push(Resource {
                id: id(Kind::Pipeline, p.name.as_str()),
                deps: match p.via.value {
                    Via::Dataflow => [sub_id, table_id, dl_id]
                        .into_iter()
                        .chain(bucket_id.clone())
                        .collect(),
                    Via::BigquerySubscription => vec![table_id, dl_id],
                },
                desired: Desired::Pipeline(PipelineDef {
                    name: p.name.value.clone(),
                    subscription: p.subscription.value.clone(),
                    topic: project.pipeline_topic(p).to_string(),
                    dataset: dataset.clone(),
                    table: p.table.value.clone(),
                    dead_letter_table: dead_letter,
                    via: p.via.value,
                    max_workers: p
                        .dataflow
                        .as_ref()
                        .and_then(|d| d.max_workers.as_ref().map(|n| n.value)),
                    machine_type: p
                        .dataflow
                        .as_ref()
                        .and_then(|d| d.machine_type.as_ref().map(|m| m.value.clone())),
                    flex_template: p
                        .dataflow
                        .as_ref()
                        .and_then(|d| d.flex_template.as_ref().map(|m| m.value.clone())),
                }),
                labels: ownership_labels(project),
            });
        }
        out
    }

    /// Views, rendered; each waits for the tables and views its SQL refers to.
    fn views(&self, renderer: &Renderer, found: &mut Diagnostics) -> Vec<Resource> {
        let (project, spec, dataset, dataset_id) =
            (self.project, self.spec, &self.dataset, &self.dataset_id);
        let mut out = Vec::new();
        let tables: Vec<&str> = spec.tables.iter().map(|t| t.name.as_str()).collect();
        let dead_letters: Vec<String> = spec
            .pipelines
            .iter()
            .map(Project::dead_letter_table)
            .collect();
        for v in &spec.views {
            let rendered = match renderer.view(v) {
                Ok(r) => r,
                Err(d) => {
                    found.push(d);
                    continue;
                }
            };
            let deps = rendered
                .refs
                .iter()
                .map(|r| {
                    let kind = if tables.contains(&r.as_str()) || dead_letters.contains(r) {
                        Kind::Table
                    } else if spec.materialized_views.iter().any(|m| m.name.as_str() == r) {
                        Kind::MaterializedView
                    } else {
                        Kind::View
                    };
                    id(kind, format!("{dataset}.{r}"))
                })
                .chain([dataset_id.clone()])
                .collect();
            out.push(Resource {
                id: id(Kind::View, format!("{dataset}.{}", v.name)),
                deps,
                desired: Desired::View(ViewDef {
                    dataset: dataset.clone(),
                    name: v.name.value.clone(),
                    description: v.description.as_ref().map(|d| d.value.clone()),
                    sql: rendered.sql,
                }),
                labels: labels_of(project, &v.labels),
            });
        }
        out
    }

    fn cycle_error(&self, cycle: &[String]) -> Diagnostic {
        let view = self
            .spec
            .views
            .iter()
            .find(|v| format!("{}.{}", self.dataset, v.name) == cycle[0]);
        Diagnostic::new(
            &self.project.file,
            view.map_or(Default::default(), |v| v.name.at),
            format!(
                "views refer to each other in a cycle: {}",
                cycle.join(" → ")
            ),
        )
    }
}

fn column_def(c: &types::Column) -> ColumnDef {
    let precision = c.precision.as_ref().map(|p| p.value);
    let scale = c.scale.as_ref().map(|s| s.value);
    ColumnDef {
        name: c.name.value.clone(),
        bigquery_type: Dialect::BigQuery.type_name(c.column_type.value, precision, scale),
        duckdb_type: Dialect::DuckDb.type_name(c.column_type.value, precision, scale),
        required: c.mode == Mode::REQUIRED,
        repeated: false,
        description: c.description.as_ref().map(|d| d.value.clone()),
        fields: vec![],
    }
}

fn plain(name: &str, bq: &str, duck: &str) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        bigquery_type: bq.into(),
        duckdb_type: duck.into(),
        required: false,
        repeated: false,
        description: None,
        fields: vec![],
    }
}

/// The schema Google's Pub/Sub-to-BigQuery template writes failed messages with, so the same
/// table works whether the local loader or Dataflow fills it.
pub fn dead_letter_table(dataset: &str, name: &str, p: &types::Pipeline) -> TableDef {
    let mut attributes = plain(
        "attributes",
        "RECORD",
        "STRUCT(key VARCHAR, value VARCHAR)[]",
    );
    attributes.repeated = true;
    attributes.fields = vec![
        plain("key", "STRING", "VARCHAR"),
        plain("value", "STRING", "VARCHAR"),
    ];
    TableDef {
        dataset: dataset.into(),
        name: name.into(),
        description: Some(format!(
            "Messages pipeline `{}` could not write into `{}`",
            p.name, p.table
        )),
        columns: vec![
            plain("timestamp", "TIMESTAMP", "TIMESTAMP"),
            plain("payloadString", "STRING", "VARCHAR"),
            plain("payloadBytes", "BYTES", "BLOB"),
            attributes,
            plain("errorMessage", "STRING", "VARCHAR"),
            plain("stacktrace", "STRING", "VARCHAR"),
        ],
        partitioning: None,
        clustering: vec![],
        dead_letter_of: Some(p.name.value.clone()),
    }
}

/// A dependency cycle among resources (only views can form one), as names.
fn find_cycle(resources: &[Resource]) -> Option<Vec<String>> {
    let index: HashMap<&ResourceId, usize> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.id, i))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; resources.len()];
    fn visit(
        i: usize,
        rs: &[Resource],
        index: &HashMap<&ResourceId, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        path.push(i);
        for dep in &rs[i].deps {
            let Some(&j) = index.get(dep) else { continue };
            if state[j] == 1 {
                let start = path.iter().position(|&k| k == j).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..]
                    .iter()
                    .map(|&k| rs[k].id.name.clone())
                    .collect();
                cycle.push(rs[j].id.name.clone());
                return Some(cycle);
            }
            if state[j] == 0
                && let Some(c) = visit(j, rs, index, state, path)
            {
                return Some(c);
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    (0..resources.len()).find_map(|i| {
        if state[i] == 0 {
            visit(i, resources, &index, &mut state, &mut Vec::new())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn plan_for(placement: &Placement) -> Plan {
        let project =
            Project::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("project.yaml")).unwrap();
        let dialect = match placement {
            Placement::Local => Dialect::DuckDb,
            Placement::Gcp(_) => Dialect::BigQuery,
        };
        let renderer = Renderer::new(&project, dialect, "p").unwrap();
        build(&project, &renderer, placement).unwrap()
    }

    fn gcp() -> Placement {
        Placement::Gcp(GcpPlacement {
            project: "p".into(),
            region: "us-central1".into(),
            location: "US".into(),
            temp_bucket: "p-tmp".into(),
            service_account: None,
        })
    }

    #[test]
    fn every_dependency_is_in_the_plan_and_comes_before_its_dependent() {
        for placement in [Placement::Local, gcp()] {
            let plan = plan_for(&placement);
            for (i, r) in plan.resources.iter().enumerate() {
                for dep in &r.deps {
                    let at = plan.resources.iter().position(|d| &d.id == dep);
                    assert!(at.is_some_and(|at| at < i), "{} waits for {dep}", r.id);
                }
            }
        }
    }

    #[test]
    fn a_dataflow_pipeline_waits_for_its_subscription_tables_and_the_temp_bucket() {
        let local = plan_for(&Placement::Local);
        assert!(local.resources.iter().all(|r| r.id.kind != Kind::Bucket));
        let cloud = plan_for(&gcp());
        let pipeline = cloud
            .resources
            .iter()
            .find(|r| r.id.kind == Kind::Pipeline && r.id.name == "sales-ingest")
            .unwrap();
        let deps: Vec<String> = pipeline.deps.iter().map(|d| d.to_string()).collect();
        for want in [
            "subscription sales-events-to-bq",
            "table retail_dw.sales_fact",
            "table retail_dw.sales_fact_error_records",
            "bucket p-tmp",
        ] {
            assert!(deps.iter().any(|d| d == want), "{want} not in {deps:?}");
        }
    }

    /// The value is pinned: changing how it is derived orphans every existing deployment.
    #[test]
    fn every_resource_carries_the_deployment_label() {
        let plan = plan_for(&gcp());
        for r in &plan.resources {
            assert_eq!(
                r.labels.get(DEPLOYMENT_LABEL).map(String::as_str),
                Some("retail-dw-c0accd4d"),
                "{}",
                r.id
            );
        }
    }
}
