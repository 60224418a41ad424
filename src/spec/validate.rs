//! Semantic checks: valid YAML that still cannot work. Names against each service's rules,
//! references between resources, duplicates, value ranges. Every problem is collected with its
//! position; nothing stops at the first one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

mod dashboards;

use super::located::{Pos, Text};
use super::names::{self, Rule};
use super::types::*;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::generate::schema::{self as events, Field};

/// Google Cloud regions (Dataflow and Cloud Storage), checked so a typo fails before any call.
pub const GCP_REGIONS: &[&str] = &[
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
];

/// Labels bqflow sets itself; a spec may not override them.
pub const RESERVED_LABELS: &[&str] = &[
    crate::plan::build::PROJECT_LABEL,
    crate::plan::build::DEPLOYMENT_LABEL,
    crate::plan::build::MANAGED_BY_LABEL,
];

struct Checker<'a> {
    file: &'a Path,
    found: Diagnostics,
}

impl Checker<'_> {
    fn error(&mut self, at: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.found.push(Diagnostic::new(self.file, at, message));
        self.found.list.last_mut().expect("just pushed")
    }

    fn name(&mut self, what: &str, text: &Text, rule: Rule) {
        if let Err(reason) = rule(text) {
            self.error(text.at, format!("invalid {what} `{text}`: {reason}"))
                .culprit(text.as_str());
        }
    }

    /// Reports names declared twice; returns the set of names.
    fn unique<'t>(
        &mut self,
        what: &str,
        names: impl IntoIterator<Item = &'t Text>,
    ) -> BTreeSet<&'t str> {
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for name in names {
            if let Some(first) = seen.get(name.as_str()) {
                let first = *first;
                self.error(name.at, format!("duplicate {what} `{name}`"))
                    .culprit(name.as_str())
                    .hint(format!("first declared at line {}", first.line));
            } else {
                seen.insert(name.as_str(), name.at);
            }
        }
        seen.into_keys().collect()
    }

    /// Reports a reference to something not declared, with a "did you mean".
    fn exists(
        &mut self,
        what: &str,
        name: &Text,
        declared: &BTreeSet<&str>,
        context: &str,
    ) -> bool {
        if declared.contains(name.as_str()) {
            return true;
        }
        let d = self
            .error(
                name.at,
                format!("{context} refers to {what} `{name}`, which is not declared"),
            )
            .culprit(name.as_str());
        match names::suggest(name, declared.iter().copied()) {
            Some(s) => d.hint = Some(format!("did you mean `{s}`?")),
            None if declared.is_empty() => d.hint = Some(format!("no {what} is declared")),
            None => {
                let list: Vec<&str> = declared.iter().copied().collect();
                d.hint = Some(format!("declared: {}", list.join(", ")))
            }
        }
        false
    }

    fn range(&mut self, what: &str, dur: &Option<Dur>, min: Duration, max: Duration) {
        if let Some(d) = dur
            && (d.value < min || d.value > max)
        {
            self.error(
                d.at,
                format!(
                    "{what} `{}` is out of range: it must be between {} and {}",
                    d.text,
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            )
            .culprit(d.text.as_str());
        }
    }

    fn labels(&mut self, labels: &BTreeMap<Text, Text>) {
        for (key, value) in labels {
            self.name("label key", key, names::label_key);
            self.name("label value", value, names::label_value);
            if RESERVED_LABELS.contains(&key.as_str()) {
                self.error(
                    key.at,
                    format!("label `{key}` is set by bqflow and cannot be overridden"),
                )
                .culprit(key.as_str());
            }
        }
    }
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

pub fn check(spec: &Spec, file: &Path, templates_dir: &Path) -> Diagnostics {
    let mut c = Checker {
        file,
        found: Diagnostics::default(),
    };
    c.name("project name", &spec.name, names::project_name);
    c.labels(&spec.labels);
    check_targets(&mut c, &spec.targets);

    for t in &spec.topics {
        check_topic(&mut c, t);
    }
    let topics = c.unique("topic", spec.topics.iter().map(|t| &t.name));
    for s in &spec.subscriptions {
        check_subscription(&mut c, s, &topics);
    }
    let subscriptions = c.unique("subscription", spec.subscriptions.iter().map(|s| &s.name));

    check_dataset(&mut c, &spec.dataset);
    for t in &spec.tables {
        check_table(&mut c, t);
    }
    for v in &spec.views {
        let path = v.template.as_ref().map(|t| (t.value.as_str(), t.at));
        check_view(&mut c, "view", &v.name, &v.labels, path, templates_dir);
    }
    for m in &spec.materialized_views {
        let path = m.template.as_ref().map(|t| (t.value.as_str(), t.at));
        check_view(
            &mut c,
            "materialized view",
            &m.name,
            &m.labels,
            path,
            templates_dir,
        );
        check_refresh(&mut c, m);
    }
    let relations = c.unique(
        "table or view",
        spec.tables
            .iter()
            .map(|t| &t.name)
            .chain(spec.views.iter().map(|v| &v.name))
            .chain(spec.materialized_views.iter().map(|m| &m.name)),
    );
    check_pipelines(&mut c, spec, &subscriptions, &relations);
    check_generator(&mut c, spec, &topics);
    check_queries(&mut c, &spec.queries);
    dashboards::check(&mut c, spec);
    c.found
}

fn check_topic(c: &mut Checker, t: &Topic) {
    c.name("topic name", &t.name, names::pubsub);
    c.range(
        "message_retention",
        &t.message_retention,
        secs(10 * MINUTE),
        secs(31 * DAY),
    );
    c.labels(&t.labels);
}

fn check_subscription(c: &mut Checker, s: &Subscription, topics: &BTreeSet<&str>) {
    let context = format!("subscription `{}`", s.name);
    c.name("subscription name", &s.name, names::pubsub);
    c.exists("topic", &s.topic, topics, &context);
    c.range("ack_deadline", &s.ack_deadline, secs(10), secs(600));
    c.range(
        "message_retention",
        &s.message_retention,
        secs(10 * MINUTE),
        secs(31 * DAY),
    );
    if let Some(r) = &s.retry_policy {
        c.range("minimum_backoff", &r.minimum_backoff, secs(0), secs(600));
        c.range("maximum_backoff", &r.maximum_backoff, secs(0), secs(600));
        if let (Some(min), Some(max)) = (&r.minimum_backoff, &r.maximum_backoff)
            && min.value > max.value
        {
            c.error(min.at, "minimum_backoff is larger than maximum_backoff")
                .culprit(min.text.as_str());
        }
    }
    if let Some(dl) = &s.dead_letter {
        if c.exists(
            "topic",
            &dl.topic,
            topics,
            &format!("the dead-letter policy of {context}"),
        ) && dl.topic == s.topic
        {
            c.error(
                dl.topic.at,
                "the dead-letter topic must differ from the topic the subscription reads",
            )
            .culprit(dl.topic.as_str());
        }
        let n = &dl.max_delivery_attempts;
        if !(5..=100).contains(&n.value) {
            c.error(
                n.at,
                format!(
                    "max_delivery_attempts {} is out of range: it must be between 5 and 100",
                    n.value
                ),
            );
        }
    }
    c.labels(&s.labels);
}

fn check_dataset(c: &mut Checker, dataset: &Dataset) {
    c.name("dataset name", &dataset.name, names::dataset);
    if let Some(d) = &dataset.default_table_expiration
        && d.value < secs(HOUR)
    {
        c.error(
            d.at,
            format!(
                "default_table_expiration `{}` is below the minimum of 1h",
                d.text
            ),
        )
        .culprit(d.text.as_str());
    }
    c.labels(&dataset.labels);
}

/// A view's (or materialized view's) name and labels, and that its template is a file inside
/// templates/ (default: `views/<name>.sql`, `materialized_views/<name>.sql`).
fn check_view(
    c: &mut Checker,
    noun: &str,
    name: &Text,
    labels: &BTreeMap<Text, Text>,
    template: Option<(&str, Pos)>,
    templates_dir: &Path,
) {
    c.name(&format!("{noun} name"), name, names::table);
    c.labels(labels);
    let path = template.map_or_else(
        || format!("{}/{name}.sql", template_dir_of(noun)),
        |(t, _)| t.to_string(),
    );
    let at = template.map_or(name.at, |(_, at)| at);
    if Path::new(&path).is_absolute() || path.split(['/', '\\']).any(|p| p == "..") {
        c.error(
            at,
            format!("template path `{path}` must stay inside templates/"),
        )
        .culprit(path.as_str());
    } else if !templates_dir.join(&path).is_file() {
        c.error(
            at,
            format!("{noun} `{name}`: template `templates/{path}` does not exist"),
        )
        .culprit(template.map_or(name.as_str(), |(t, _)| t))
        .hint(format!(
            "create {} or set `template:`",
            templates_dir.join(&path).display()
        ));
    }
}

/// Where a kind's templates live by default.
pub fn template_dir_of(noun: &str) -> &'static str {
    if noun == "materialized view" {
        "materialized_views"
    } else {
        "views"
    }
}

/// BigQuery accepts a refresh interval from one minute to seven days.
fn check_refresh(c: &mut Checker, m: &MaterializedView) {
    if let Some(d) = &m.refresh_interval {
        let minutes = d.value.as_secs_f64() / 60.0;
        if !(1.0..=7.0 * 24.0 * 60.0).contains(&minutes) {
            c.error(
                d.at,
                format!(
                    "refresh_interval {} is out of range: BigQuery refreshes between every minute and every 7 days",
                    d.text
                ),
            )
            .culprit(d.text.as_str());
        }
    }
}

/// Each pipeline reads a subscription of its own, writes a table (not a view), and has a
/// dead-letter table no other pipeline or relation uses.
fn check_pipelines(
    c: &mut Checker,
    spec: &Spec,
    subscriptions: &BTreeSet<&str>,
    relations: &BTreeSet<&str>,
) {
    let tables: BTreeSet<&str> = spec.tables.iter().map(|t| t.name.as_str()).collect();
    let mut read_by: HashMap<&str, &Text> = HashMap::new();
    let mut dead_letter_tables: BTreeSet<String> = BTreeSet::new();
    for p in &spec.pipelines {
        let context = format!("pipeline `{}`", p.name);
        c.name("pipeline name", &p.name, names::pipeline);
        if c.exists("subscription", &p.subscription, subscriptions, &context)
            && let Some(other) = read_by.insert(p.subscription.as_str(), &p.name)
        {
            c.error(p.subscription.at, format!("subscription `{}` is already read by pipeline `{other}`", p.subscription))
                .culprit(p.subscription.as_str())
                .hint("each pipeline needs a subscription of its own, or it gets only part of the messages");
        }
        if c.exists("table", &p.table, relations, &context) && !tables.contains(p.table.as_str()) {
            c.error(
                p.table.at,
                format!(
                    "pipeline `{}` writes into `{}`, which is a view",
                    p.name, p.table
                ),
            )
            .culprit(p.table.as_str());
        }
        let dead_letter = p
            .dead_letter_table
            .clone()
            .unwrap_or_else(|| Text::unplaced(super::default_dead_letter_table(&p.table)));
        c.name("dead-letter table name", &dead_letter, names::table);
        let at = if dead_letter.at.known() {
            dead_letter.at
        } else {
            p.table.at
        };
        if relations.contains(dead_letter.as_str()) {
            c.error(
                at,
                format!("dead-letter table `{dead_letter}` clashes with a declared table or view"),
            )
            .hint("bqflow creates the dead-letter table itself; pick another `dead_letter_table`");
        }
        if !dead_letter_tables.insert(dead_letter.value.clone()) {
            c.error(
                at,
                format!("dead-letter table `{dead_letter}` is used by two pipelines"),
            );
        }
        if let Some(flex) = p.dataflow.as_ref().and_then(|d| d.flex_template.as_ref())
            && !flex.starts_with("gs://")
        {
            c.error(
                flex.at,
                format!("flex_template `{flex}` must be a gs:// path to the template spec"),
            )
            .culprit(flex.as_str());
        }
        if let Some(df) = &p.dataflow {
            if p.via.value != Via::Dataflow {
                c.error(p.via.at, "`dataflow:` settings need `via: dataflow`");
            }
            if let Some(n) = &df.max_workers
                && !(1..=1000).contains(&n.value)
            {
                c.error(
                    n.at,
                    format!(
                        "max_workers {} is out of range: it must be between 1 and 1000",
                        n.value
                    ),
                );
            }
        }
    }
}

fn check_targets(c: &mut Checker, targets: &Targets) {
    if targets.local.dir.trim().is_empty() {
        c.error(
            targets.local.dir.at,
            "the local target's `dir` must not be empty",
        );
    }
    let Some(gcp) = &targets.gcp else { return };
    // An empty project (e.g. `${GOOGLE_CLOUD_PROJECT:-}` unset) means "from --project or the env".
    if let Some(p) = gcp.project.as_ref().filter(|p| !p.is_empty()) {
        c.name("GCP project id", p, names::gcp_project);
    }
    if !GCP_REGIONS.contains(&gcp.region.as_str()) {
        let hint = names::suggest(&gcp.region, GCP_REGIONS.iter().copied()).map_or_else(
            || "e.g. us-central1, europe-west1".to_string(),
            |s| format!("did you mean `{s}`?"),
        );
        c.error(gcp.region.at, format!("unknown region `{}`", gcp.region))
            .culprit(gcp.region.as_str())
            .hint(hint);
    }
    let location = gcp.location.to_ascii_lowercase();
    if location != "us" && location != "eu" && !GCP_REGIONS.contains(&location.as_str()) {
        c.error(
            gcp.location.at,
            format!("unknown BigQuery location `{}`", gcp.location),
        )
        .culprit(gcp.location.as_str())
        .hint("use a multi-region (`US`, `EU`) or a region such as `us-central1`");
    }
    if let Some(b) = &gcp.temp_bucket {
        c.name("bucket name", b, names::bucket);
    }
    let e = &gcp.endpoints;
    for url in [
        &e.pubsub,
        &e.bigquery,
        &e.storage,
        &e.dataflow,
        &e.serviceusage,
        &e.resourcemanager,
    ]
    .into_iter()
    .flatten()
    {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            c.error(
                url.at,
                format!("endpoint `{url}` must start with http:// or https://"),
            )
            .culprit(url.as_str());
        }
    }
}

fn check_table(c: &mut Checker, t: &Table) {
    c.name("table name", &t.name, names::table);
    c.labels(&t.labels);
    if t.columns.is_empty() {
        c.error(t.name.at, format!("table `{}` has no columns", t.name));
    }
    check_columns(c, t);
    check_partitioning(c, t);
    check_clustering(c, t);
    if let Some(load) = &t.load {
        let fields = match load.value {
            DimensionSource::GeneratorProducts => events::PRODUCT,
            DimensionSource::GeneratorStores => events::STORE,
        };
        check_fields(c, t, fields, load.at, "the rows it loads");
    }
}

/// Names unique (case-insensitively, as BigQuery compares them) and NUMERIC bounds valid.
fn check_columns(c: &mut Checker, t: &Table) {
    let mut seen: HashMap<String, Pos> = HashMap::new();
    for col in &t.columns {
        c.name("column name", &col.name, names::column);
        // BigQuery column names are case-insensitive.
        if seen
            .insert(col.name.to_ascii_lowercase(), col.name.at)
            .is_some()
        {
            c.error(
                col.name.at,
                format!("duplicate column `{}` in table `{}`", col.name, t.name),
            )
            .culprit(col.name.as_str());
        }
        let numeric = col.column_type.value == ColumnType::NUMERIC;
        for (what, v) in [("precision", &col.precision), ("scale", &col.scale)] {
            if let Some(v) = v
                && !numeric
            {
                c.error(v.at, format!("`{what}` applies to NUMERIC columns only"));
            }
        }
        if numeric && (col.precision.is_some() || col.scale.is_some()) {
            let scale = col.scale.as_ref().map_or(0, |s| s.value);
            let precision = col.precision.as_ref().map_or(29 + scale, |p| p.value);
            let at = col
                .precision
                .as_ref()
                .or(col.scale.as_ref())
                .map_or(col.name.at, |v| v.at);
            if scale > 9 || precision < scale.max(1) || precision - scale > 29 {
                c.error(at, format!("NUMERIC({precision}, {scale}) is not valid: scale 0–9, precision ≥ max(1, scale), precision − scale ≤ 29"));
            }
        }
    }
}

/// A partitioning column exists and holds a time; a DATE is not split by the hour.
fn check_partitioning(c: &mut Checker, t: &Table) {
    let column = |name: &str| t.columns.iter().find(|col| col.name.as_str() == name);
    let column_names: BTreeSet<&str> = t.columns.iter().map(|col| col.name.as_str()).collect();
    let context = format!("table `{}`", t.name);
    if let Some(p) = &t.partitioning
        && c.exists(
            "column",
            &p.field,
            &column_names,
            &format!("the partitioning of {context}"),
        )
    {
        let ty = column(&p.field).expect("exists").column_type.value;
        if !matches!(
            ty,
            ColumnType::TIMESTAMP | ColumnType::DATE | ColumnType::DATETIME
        ) {
            c.error(
                p.field.at,
                format!(
                    "cannot partition on `{}`: it is {ty:?}, not TIMESTAMP, DATE or DATETIME",
                    p.field
                ),
            )
            .culprit(p.field.as_str());
        } else if ty == ColumnType::DATE && p.granularity.value == Granularity::HOUR {
            c.error(
                p.granularity.at,
                "a DATE column cannot be partitioned by HOUR",
            );
        }
    }
}

/// At most four clustering columns, each named once and present in the table.
fn check_clustering(c: &mut Checker, t: &Table) {
    let column_names: BTreeSet<&str> = t.columns.iter().map(|col| col.name.as_str()).collect();
    let context = format!("table `{}`", t.name);
    if t.clustering.len() > 4 {
        c.error(
            t.clustering[4].at,
            format!(
                "{context} clusters on {} columns; BigQuery allows at most 4",
                t.clustering.len()
            ),
        );
    }
    c.unique("clustering column", t.clustering.iter());
    for f in &t.clustering {
        c.exists(
            "column",
            f,
            &column_names,
            &format!("the clustering of {context}"),
        );
    }
}

/// A table fed by the generator must hold every field the generator writes, with a type that
/// can take it, and must not require a column the generator never writes.
fn check_fields(c: &mut Checker, t: &Table, fields: &[Field], at: Pos, what: &str) {
    for f in fields {
        match t.columns.iter().find(|col| col.name.as_str() == f.name) {
            None => {
                c.error(
                    at,
                    format!(
                        "table `{}` lacks column `{}`, which {what} carry",
                        t.name, f.name
                    ),
                )
                .hint(format!(
                    "add `- {{name: {}, type: {:?}}}`",
                    f.name, f.accepts[0]
                ));
            }
            Some(col) if !f.accepts.contains(&col.column_type.value) => {
                c.error(
                    col.column_type.at,
                    format!(
                        "column `{}` of `{}` is {:?}, but {what} carry it as {:?}",
                        col.name, t.name, col.column_type.value, f.accepts[0]
                    ),
                );
            }
            Some(_) => {}
        }
    }
    for col in &t.columns {
        if col.mode == Mode::REQUIRED && !fields.iter().any(|f| f.name == col.name.as_str()) {
            c.error(
                col.name.at,
                format!(
                    "column `{}` of `{}` is REQUIRED, but {what} never set it",
                    col.name, t.name
                ),
            )
            .culprit(col.name.as_str());
        }
    }
}

fn check_generator(c: &mut Checker, spec: &Spec, topics: &BTreeSet<&str>) {
    let g = &spec.generator;
    if !(1..=10_000).contains(&g.stores.value) {
        c.error(
            g.stores.at,
            format!(
                "generator.stores {} is out of range: 1 … 10000",
                g.stores.value
            ),
        );
    }
    if !(10..=100_000).contains(&g.products.value) {
        c.error(
            g.products.at,
            format!(
                "generator.products {} is out of range: 10 … 100000",
                g.products.value
            ),
        );
    }
    if g.rate.value == 0 {
        c.error(
            g.rate.at,
            "generator.rate must be at least 1 event per second",
        );
    }
    if chrono::NaiveDate::parse_from_str(&g.day, "%Y-%m-%d").is_err() {
        c.error(
            g.day.at,
            format!("generator.day `{}` is not a date: write YYYY-MM-DD", g.day),
        )
        .culprit(g.day.as_str());
    }
    let Some(streams) = &g.streams else { return };
    for (topic, fields, what) in [
        (&streams.sales, events::SALE, "sale events"),
        (&streams.inventory, events::INVENTORY, "inventory events"),
    ] {
        if !c.exists("topic", topic, topics, "generator.streams") {
            continue;
        }
        // Every table a pipeline fills from this topic must fit the events.
        for p in &spec.pipelines {
            let reads_topic = spec
                .subscriptions
                .iter()
                .any(|s| s.name == p.subscription && s.topic == *topic);
            if let (true, Some(t)) = (reads_topic, spec.tables.iter().find(|t| t.name == p.table)) {
                check_fields(c, t, fields, p.table.at, what);
            }
        }
    }
    if streams.sales == streams.inventory {
        c.error(
            streams.inventory.at,
            "sales and inventory events need different topics",
        );
    }
}

fn check_queries(c: &mut Checker, queries: &[Query]) {
    c.unique("query", queries.iter().map(|q| &q.name));
    for q in queries {
        c.name("query name", &q.name, names::query);
        c.unique("parameter", q.params.iter().map(|p| &p.name));
        for p in &q.params {
            c.name("parameter name", &p.name, names::parameter);
            if let Some(d) = &p.default
                && let Err(reason) = crate::sql::params::parse_value(p.param_type.value, d)
            {
                c.error(d.at, format!("default of parameter `{}`: {reason}", p.name))
                    .culprit(d.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_example_with(from: &str, to: &str) -> Diagnostics {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("project.yaml")).unwrap();
        assert_eq!(text.matches(from).count(), 1, "`{from}` must occur once");
        let text = text.replacen(from, to, 1);
        let file = root.join("project.yaml");
        let spec = super::super::parse(&text, &file).unwrap();
        check(&spec, &file, &root.join("templates"))
    }

    #[test]
    fn the_example_is_valid() {
        let found = check_example_with("name: retail_dw", "name: retail_dw");
        assert!(found.is_empty(), "{found}");
    }

    #[test]
    fn a_dangling_topic_is_reported_at_its_line_with_a_suggestion() {
        let found = check_example_with(
            "    topic: inventory-events\n",
            "    topic: inventory-evnts\n",
        );
        let d = &found.list[0];
        assert!(d.message.contains("inventory-evnts"), "{}", d.message);
        assert!(
            d.hint
                .as_deref()
                .unwrap_or_default()
                .contains("inventory-events"),
            "{:?}",
            d.hint
        );
        assert_eq!(d.pos.line, 41);
    }

    #[test]
    fn two_pipelines_on_one_subscription_are_refused() {
        let found = check_example_with(
            "    subscription: inventory-events-to-bq\n",
            "    subscription: sales-events-to-bq\n",
        );
        assert!(
            found
                .list
                .iter()
                .any(|d| d.message.contains("is already read by pipeline")),
            "{found}"
        );
    }
}
