//! The gcp target against real peers: bqemulator (BigQuery) and gcp-storage-emulator (Cloud
//! Storage) from PyPI, reached through validating proxies, and the in-repo fakes of Pub/Sub,
//! Dataflow, Service Usage and Resource Manager, which check every request against Google's
//! discovery documents. Faults are injected between bqflow and all of them.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gcp_fakes::{Config, DataflowTiming, Fakes, FaultKind, FaultRule, Faults, Service, Upstream};

use crate::support::{Project, Run, wait_until};

/// The emulators' URLs: from the environment `scripts/test` sets up, or started here.
fn emulators() -> &'static (String, String) {
    static URLS: OnceLock<(String, String)> = OnceLock::new();
    URLS.get_or_init(|| {
        if let (Ok(bq), Ok(gcs)) = (
            std::env::var("BIGQUERY_EMULATOR_HOST"),
            std::env::var("STORAGE_EMULATOR_HOST"),
        ) {
            return (bq, gcs);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/emulators");
        let out = Command::new(script)
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/emulators");
        assert!(
            out.status.success(),
            "the gcp tests need the emulators: `scripts/emulators start` failed (see above)"
        );
        let exports = String::from_utf8_lossy(&out.stdout);
        let var = |name: &str| {
            exports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("scripts/emulators start printed no {name}"))
                .to_string()
        };
        (var("BIGQUERY_EMULATOR_HOST"), var("STORAGE_EMULATOR_HOST"))
    })
}

/// A project on the fakes and emulators, private to one test (its own GCP project id).
struct Cloud {
    fakes: Fakes,
    project: Project,
    id: String,
}

fn cloud_with(faults: Faults, timing: DataflowTiming) -> Cloud {
    cloud_configured(|config| {
        config.faults = faults;
        config.dataflow = timing;
    })
}

/// A cloud whose fakes' configuration the test adjusts (defaults: no faults, instant jobs).
fn cloud_configured(adjust: impl FnOnce(&mut Config)) -> Cloud {
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = format!(
        "bqt-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (bq, gcs) = emulators();
    let mut config = Config {
        dataflow: DataflowTiming {
            start: Some(Duration::from_millis(50)),
            drain: Some(Duration::from_millis(200)),
            cancel: Some(Duration::from_millis(50)),
        },
        upstreams: vec![
            Upstream::new("bigquery", bq, Service::BigQuery),
            Upstream::new("storage", gcs, Service::Storage),
        ],
        ..Config::new(&id)
    };
    adjust(&mut config);
    let fakes = Fakes::start(config).expect("start the fakes");
    Cloud {
        fakes,
        project: Project::example(),
        id,
    }
}

fn cloud() -> Cloud {
    cloud_with(
        Faults::none(),
        DataflowTiming {
            start: Some(Duration::from_millis(50)),
            drain: Some(Duration::from_millis(200)),
            cancel: Some(Duration::from_millis(50)),
        },
    )
}

impl Cloud {
    fn run(&self) -> Run {
        let mut run = self
            .project
            .run()
            .env("GOOGLE_CLOUD_PROJECT", &self.id)
            .env("BQFLOW_POLL_MS", "50")
            .env("BQFLOW_RETRY_MIN_DELAY_MS", "20");
        for (k, v) in self.fakes.env() {
            run = run.env(&k, &v);
        }
        run.args(&["--target", "gcp"])
    }

    fn ok(&self, args: &[&str]) -> String {
        self.run().args(args).success().stdout
    }

    /// Requests that change something (anything but reads).
    fn writes(&self) -> Vec<String> {
        self.fakes
            .requests()
            .into_iter()
            .filter(|r| r.http_method != "GET")
            .map(|r| format!("{} {} {}", r.http_method, r.server, r.path))
            .collect()
    }

    fn active_jobs(&self) -> usize {
        self.fakes
            .dataflow_jobs()
            .iter()
            .filter(|j| {
                let state = j["currentState"].as_str().unwrap_or_default();
                ![
                    "JOB_STATE_DRAINED",
                    "JOB_STATE_CANCELLED",
                    "JOB_STATE_DONE",
                    "JOB_STATE_FAILED",
                    "JOB_STATE_UPDATED",
                ]
                .contains(&state)
            })
            .count()
    }
}

#[test]
fn up_twice_writes_nothing_the_second_time_and_plan_agrees() {
    let c = cloud();
    c.run().args(&["plan"]).code(3);
    let out = c.ok(&["up"]);
    assert!(out.contains("launched Dataflow job"), "{out}");
    assert!(c.fakes.topic("sales-events").is_some());
    let sub = c.fakes.subscription("sales-events-to-bq").unwrap();
    assert_eq!(
        sub["expirationPolicy"],
        serde_json::json!({}),
        "subscriptions must never expire: {sub}"
    );
    assert_eq!(sub["labels"]["bqflow-project"], "blackfriday");
    assert_eq!(c.active_jobs(), 2);

    c.fakes.clear_log();
    c.ok(&["up"]);
    assert_eq!(c.writes(), Vec::<String>::new(), "the second up wrote");
    let plan = c.run().args(&["plan"]).code(0).stdout;
    assert!(
        plan.contains("0 to create, 0 to update, 32 unchanged"),
        "{plan}"
    );
    // Every query job and resource carried the labels; every request matched the discovery docs.
    c.fakes.assert_no_violations();
}

#[test]
fn a_changed_view_is_planned_and_applied() {
    let c = cloud();
    c.ok(&["up"]);
    c.project.edit(
        "templates/views/daily_sales.sql",
        "SUM(r.sales) AS sales,",
        "SUM(r.sales) AS sales_count,",
    );
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("~ update        view retail_dw.daily_sales"),
        "{plan}"
    );
    c.fakes.clear_log();
    c.ok(&["up"]);
    let writes = c.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].starts_with("PATCH bigquery") && writes[0].ends_with("/tables/daily_sales"),
        "{writes:?}"
    );
    c.run().args(&["plan"]).code(0);
    // Labels changed in the spec are patched too.
    c.project.edit(
        "project.yaml",
        "  team: retail-analytics",
        "  team: merchandising",
    );
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("labels:") && plan.contains("team=merchandising"),
        "{plan}"
    );
    c.ok(&["up"]);
    c.run().args(&["plan"]).code(0);
    assert_eq!(
        c.fakes.topic("sales-events").unwrap()["labels"]["team"],
        "merchandising"
    );
    c.fakes.assert_no_violations();
}

/// Columns are compared by name: two that trade places in the spec are no change, and a new
/// NULLABLE one declared in the middle is appended to the table's own schema by one patch.
#[test]
fn a_new_nullable_column_is_patched_in_and_column_order_is_no_change() {
    let c = cloud();
    c.ok(&["up"]);
    c.project.edit(
        "project.yaml",
        "      - { name: product_id, type: STRING, mode: REQUIRED }\n      - { name: timestamp, type: TIMESTAMP, mode: REQUIRED }\n      - { name: quantity, type: INT64, mode: REQUIRED }\n",
        "      - { name: timestamp, type: TIMESTAMP, mode: REQUIRED }\n      - { name: product_id, type: STRING, mode: REQUIRED }\n      - { name: coupon, type: STRING }\n      - { name: quantity, type: INT64, mode: REQUIRED }\n",
    );
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("~ update        table retail_dw.sales_fact")
            && plan.contains("column: (none) → coupon STRING")
            && !plan.contains("product_id STRING REQUIRED →"),
        "{plan}"
    );
    c.fakes.clear_log();
    c.ok(&["up"]);
    let writes = c.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].starts_with("PATCH bigquery"), "{writes:?}");
    let table = get_json(&table_url(&c, "sales_fact"));
    let names: Vec<&str> = table["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "transaction_id",
            "product_id",
            "timestamp",
            "quantity",
            "unit_price",
            "store_id",
            "coupon"
        ]
    );
    c.run().args(&["plan"]).code(0);
    c.fakes.assert_no_violations();
}

/// A GET the way a colleague's script would make it, past bqflow, as JSON.
fn get_json(url: &str) -> serde_json::Value {
    bqflow::runtime::block_on(async { reqwest::get(url).await.unwrap().json().await.unwrap() })
}

/// dev and staging from one spec in one GCP project: each is its own deployment (its own
/// label, job names, temp bucket and ledger), and tearing one down leaves the other whole.
#[test]
fn two_deployments_of_one_spec_tear_down_apart() {
    let c = cloud();
    let yaml = c
        .project
        .read("project.yaml")
        .replace("sales-events", "sales-events-${BQFLOW_ENV}")
        .replace("inventory-events", "inventory-events-${BQFLOW_ENV}")
        .replace("  name: retail_dw", "  name: retail_${BQFLOW_ENV}");
    c.project.write("project.yaml", &yaml);
    let env = |e: &str| c.run().env("BQFLOW_ENV", e);
    env("dev").args(&["up"]).success();
    env("staging").args(&["up"]).success();
    assert_eq!(c.active_jobs(), 4);
    env("dev")
        .args(&["generate", "--count", "200", "--rate", "max"])
        .success();
    env("staging")
        .args(&["generate", "--count", "300", "--rate", "max"])
        .success();

    let out = env("dev").args(&["teardown", "--yes"]).success().stdout;
    assert!(out.contains("deleted dataset retail_dev"), "{out}");
    assert!(
        !out.contains("staging"),
        "dev's teardown touched staging:\n{out}"
    );
    assert_eq!(c.active_jobs(), 2, "staging's jobs must still run");
    assert!(c.fakes.topic("sales-events-dev").is_none());
    assert!(c.fakes.topic("sales-events-staging").is_some());
    // Staging is whole: every resource as applied (jobs and temp bucket included), and its
    // ledger still knows what it published.
    env("staging").args(&["plan"]).code(0);
    assert!(c.fakes.wait_delivered(Duration::from_secs(60)));
    let verify = env("staging").args(&["verify", "--wait", "30s"]).success();
    assert!(
        verify.stdout.contains("retail_staging.sales_fact"),
        "{}",
        verify.stdout
    );
    c.fakes.assert_no_violations();
}

/// A bug that panics inside a publishing task fails `generate` (exit 1) with the batch
/// counted as failed, instead of a success that acknowledged fewer events than it claims.
#[test]
fn a_panic_inside_the_publisher_fails_generate_and_counts_the_batch_as_failed() {
    let c = cloud();
    c.ok(&["up"]);
    let run = c
        .run()
        .env("BQFLOW_TEST_PANIC_IN_PUBLISH", "1")
        .args(&["generate", "--count", "200", "--rate", "max"])
        .code(1);
    assert!(
        run.stderr.contains("stopped on an internal error")
            && run.stderr.contains("they count as failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("Generated"), "{}", run.stdout);
}

/// One REST call the way a colleague's script or console click would make it, past bqflow.
fn call(method: reqwest::Method, url: &str, body: Option<serde_json::Value>) -> u16 {
    bqflow::runtime::block_on(async {
        let mut req = reqwest::Client::new().request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

/// Creates a topic the way a colleague would in the console: no labels.
fn create_unlabelled_topic(c: &Cloud, topic: &str) {
    let url = format!(
        "{}/v1/projects/{}/topics/{topic}",
        c.fakes.pubsub_url(),
        c.id
    );
    let status = call(reqwest::Method::PUT, &url, Some(serde_json::json!({})));
    assert!((200..300).contains(&status), "{status}");
}

/// A BigQuery table URL (through the validating proxy), or the dataset's tables collection.
fn table_url(c: &Cloud, table: &str) -> String {
    format!(
        "{}/bigquery/v2/projects/{}/datasets/retail_dw/tables/{table}",
        c.fakes.proxy_url("bigquery"),
        c.id
    )
    .trim_end_matches('/')
    .to_string()
}

#[test]
fn teardown_keeps_a_dataset_that_also_holds_someone_elses_table() {
    let c = cloud();
    c.ok(&["up"]);
    let notes = serde_json::json!({
        "tableReference": {"projectId": c.id, "datasetId": "retail_dw", "tableId": "analyst_notes"},
        "schema": {"fields": [{"name": "note", "type": "STRING"}]},
    });
    let status = call(reqwest::Method::POST, &table_url(&c, ""), Some(notes));
    assert_eq!(status, 200);

    // A routine of someone else's there too: a dataset never goes with what bqflow did not make.
    let routine = serde_json::json!({
        "query": "CREATE FUNCTION retail_dw.plus_one(x INT64) AS (x + 1)",
        "useLegacySql": false,
    });
    let queries = format!(
        "{}/bigquery/v2/projects/{}/queries",
        c.fakes.proxy_url("bigquery"),
        c.id
    );
    assert_eq!(call(reqwest::Method::POST, &queries, Some(routine)), 200);

    let out = c.ok(&["teardown", "--yes"]);
    assert!(
        out.contains("left alone dataset retail_dw: also holds 1 table or view (analyst_notes), 1 routine (plus_one) that bqflow did not create"),
        "{out}"
    );
    assert!(out.contains("deleted table retail_dw.sales_fact"), "{out}");
    assert!(!out.contains("deleted dataset"), "{out}");
    assert_eq!(
        call(reqwest::Method::GET, &table_url(&c, "analyst_notes"), None),
        200
    );
    assert_eq!(
        call(reqwest::Method::GET, &table_url(&c, "sales_fact"), None),
        404
    );
    assert_eq!(
        call(reqwest::Method::GET, &table_url(&c, "top_products"), None),
        404
    );

    // Once the colleague's table and routine are gone, teardown finishes with the dataset.
    assert_eq!(
        call(
            reqwest::Method::DELETE,
            &table_url(&c, "analyst_notes"),
            None
        ),
        204
    );
    let routine_url = format!(
        "{}/bigquery/v2/projects/{}/datasets/retail_dw/routines/plus_one",
        c.fakes.proxy_url("bigquery"),
        c.id
    );
    assert_eq!(call(reqwest::Method::DELETE, &routine_url, None), 204);
    let out = c.ok(&["teardown", "--yes"]);
    assert!(out.contains("deleted dataset retail_dw"), "{out}");
    c.fakes.assert_no_violations();
}

#[test]
fn a_changed_worker_setting_updates_the_running_job_in_place() {
    let c = cloud();
    c.ok(&["up"]);
    let first: Vec<String> = c
        .fakes
        .dataflow_jobs()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    c.project.edit(
        "project.yaml",
        "    table: sales_fact\n    via: dataflow\n    dataflow: { max_workers: 2,",
        "    table: sales_fact\n    via: dataflow\n    dataflow: { max_workers: 5,",
    );
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("~ update        pipeline sales-ingest")
            && plan.contains("max_workers: 2 → 5"),
        "{plan}"
    );
    assert!(plan.contains("1 to update"), "{plan}");
    let out = c.ok(&["up"]);
    assert!(out.contains("replaces the running one"), "{out}");
    c.run().args(&["plan"]).code(0);
    let jobs = c.fakes.dataflow_jobs();
    let replaced = jobs
        .iter()
        .find(|j| j["currentState"] == "JOB_STATE_UPDATED")
        .expect("the old job ends as UPDATED");
    assert!(first.contains(&replaced["id"].as_str().unwrap().to_string()));
    assert_eq!(c.active_jobs(), 2);

    // What the job runs cannot change under it: reported, not applied.
    c.project.edit(
        "project.yaml",
        "dataflow: { max_workers: 5, machine_type: n1-standard-2 }",
        "dataflow: { max_workers: 5, machine_type: n1-standard-2, flex_template: \"gs://my-templates/ingest.json\" }",
    );
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("pipeline sales-ingest")
            && plan.contains("template: another value → gs://my-templates/ingest.json"),
        "{plan}"
    );
    assert!(plan.contains("1 cannot change in place"), "{plan}");
    c.fakes.assert_no_violations();
}

#[test]
fn teardown_drains_jobs_of_pipelines_no_longer_on_dataflow() {
    let c = cloud();
    c.ok(&["up"]);
    assert_eq!(c.active_jobs(), 2);
    for table in ["sales_fact", "inventory_fact"] {
        c.project.edit(
            "project.yaml",
            &format!("    table: {table}\n    via: dataflow\n    dataflow: {{ max_workers: 2, machine_type: n1-standard-2 }}"),
            &format!("    table: {table}\n    via: bigquery-subscription"),
        );
    }
    let out = c.ok(&["teardown", "--yes"]);
    assert_eq!(c.active_jobs(), 0, "{out}");
    assert!(out.contains("deleted Dataflow job"), "{out}");
    assert!(out.contains("deleted bucket"), "{out}");
    c.fakes.assert_no_violations();
}

#[test]
fn teardown_removes_exactly_what_carries_the_labels() {
    let c = cloud();
    create_unlabelled_topic(&c, "inventory-events");
    let err = c.run().args(&["up"]).code(1);
    assert!(
        err.stderr
            .contains("? not owned     topic inventory-events"),
        "{}",
        err.stderr
    );
    assert!(err.stderr.contains("not owned by bqflow"), "{}", err.stderr);
    assert!(c.fakes.topic("sales-events").is_some());

    let out = c.ok(&["teardown", "--yes"]);
    assert!(out.contains("left alone topic inventory-events"), "{out}");
    assert!(
        out.contains("deleted topic sales-events") && out.contains("deleted dataset"),
        "{out}"
    );
    assert!(
        c.fakes.topic("inventory-events").is_some(),
        "the unlabelled look-alike was deleted"
    );
    assert!(c.fakes.topic("sales-events").is_none());
    assert_eq!(c.active_jobs(), 0);
    // Nothing of ours is left: a fresh plan would create everything but the taken name.
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("31 to create") && plan.contains("1 not owned"),
        "{plan}"
    );
    c.fakes.assert_no_violations();
}

#[test]
fn an_interrupted_up_converges_on_the_next_run() {
    let c = cloud();
    // Tables cannot be created for now: up gets topics and the dataset, then fails.
    c.fakes.set_faults_for(
        "bigquery",
        Faults::none()
            .with_rule(FaultRule::always(FaultKind::Unavailable).only(["bigquery.tables.insert"])),
    );
    let failed = c
        .run()
        .args(&["up"])
        .env("BQFLOW_RETRY_DEADLINE_MS", "300")
        .code(1);
    assert!(
        failed.stdout.contains("skipped") || failed.stdout.contains("✗"),
        "{}",
        failed.stdout
    );
    assert!(c.fakes.topic("sales-events").is_some());
    c.fakes.set_faults_for("bigquery", Faults::none());
    c.ok(&["up"]);
    c.run().args(&["plan"]).code(0);
    assert_eq!(c.active_jobs(), 2);
    // A kill in the middle converges too.
    c.ok(&["teardown", "--yes"]);
    // Killed once the first resource is made, with the rest in flight or not begun.
    let mut up = c.run().args(&["up"]).spawn();
    up.wait_for_line("✓", Duration::from_secs(60));
    up.kill();
    c.ok(&["up"]);
    c.run().args(&["plan"]).code(0);
    assert_eq!(c.active_jobs(), 2);
}

#[test]
fn up_and_teardown_converge_through_faults_without_duplicates() {
    let faults = Faults::none()
        .with_seed(11)
        .with_rule(FaultRule::probability(FaultKind::TooManyRequests, 0.08))
        .with_rule(FaultRule::probability(FaultKind::Unavailable, 0.08))
        .with_rule(FaultRule::probability(FaultKind::ConnectionReset, 0.05))
        .with_rule(FaultRule::probability(FaultKind::ResponseLost, 0.08))
        .with_rule(FaultRule::probability(FaultKind::RateLimitExceeded, 0.05).only(["bigquery.*"]))
        .with_rule(FaultRule::probability(
            FaultKind::Slow(Duration::from_millis(6000)),
            0.02,
        ));
    let c = cloud_with(
        faults,
        DataflowTiming {
            start: Some(Duration::from_millis(50)),
            drain: Some(Duration::from_millis(100)),
            cancel: Some(Duration::from_millis(50)),
        },
    );
    // Slow responses outlast the request timeout; genuine work (bqemulator takes 1–2 s for
    // the 200-row INSERT of the products) stays inside it.
    let env = |run: Run| {
        run.env("BQFLOW_REQUEST_TIMEOUT_MS", "5000")
            .env("BQFLOW_RETRY_DEADLINE_MS", "30000")
    };
    env(c.run()).args(&["up"]).success();
    let stats = c.fakes.stats();
    assert!(
        stats.faults.values().sum::<usize>() > 5,
        "too few faults to mean anything: {:?}",
        stats.faults
    );
    // Exactly one job per pipeline was ever launched, despite lost responses and retries.
    assert_eq!(
        c.fakes.dataflow_jobs().len(),
        2,
        "{:?}",
        c.fakes.dataflow_jobs()
    );
    c.fakes.set_faults(Faults::none());
    c.run().args(&["plan"]).code(0);
    c.fakes.set_faults(
        Faults::none()
            .with_seed(12)
            .with_rule(FaultRule::probability(FaultKind::Unavailable, 0.1))
            .with_rule(FaultRule::probability(FaultKind::ResponseLost, 0.1)),
    );
    env(c.run()).args(&["teardown", "--yes"]).success();
    c.fakes.set_faults(Faults::none());
    assert!(
        c.fakes.topic("sales-events").is_none()
            && c.fakes.subscription("sales-events-to-bq").is_none()
    );
    assert_eq!(c.active_jobs(), 0);
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(plan.contains("32 to create"), "{plan}");
    c.fakes.assert_no_violations();
}

#[test]
fn a_drain_that_does_not_finish_ends_in_a_cancel() {
    let c = cloud_with(
        Faults::none(),
        DataflowTiming {
            start: Some(Duration::from_millis(50)),
            drain: None,
            cancel: Some(Duration::from_millis(100)),
        },
    );
    c.ok(&["up"]);
    let start = Instant::now();
    let out = c
        .run()
        .args(&["teardown", "--yes", "--drain-timeout", "1s"])
        .success();
    assert!(out.stderr.contains("cancelling"), "{}", out.stderr);
    assert!(out.stdout.contains("(cancelled)"), "{}", out.stdout);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(c.active_jobs(), 0);
}

#[test]
fn bigquery_subscription_pipelines_write_without_workers() {
    let c = cloud();
    c.project
        .edit("project.yaml", "    table: sales_fact\n    via: dataflow\n    dataflow: { max_workers: 2, machine_type: n1-standard-2 }", "    table: sales_fact\n    via: bigquery-subscription");
    let out = c.ok(&["up"]);
    assert!(
        out.contains("granted service-") && out.contains("@gcp-sa-pubsub.iam.gserviceaccount.com"),
        "{out}"
    );
    let sub = c.fakes.subscription("sales-events-to-bq").unwrap();
    assert_eq!(
        sub["bigqueryConfig"]["table"],
        format!("{}.retail_dw.sales_fact", c.id)
    );
    assert_eq!(sub["bigqueryConfig"]["useTableSchema"], true);
    assert_eq!(
        c.active_jobs(),
        1,
        "only the inventory pipeline runs on Dataflow"
    );
    c.run().args(&["plan"]).code(0);
    c.fakes.assert_no_violations();
}

#[test]
fn a_grant_bqflow_may_not_make_is_diagnosed() {
    let c = cloud();
    c.project
        .edit("project.yaml", "    table: sales_fact\n    via: dataflow\n    dataflow: { max_workers: 2, machine_type: n1-standard-2 }", "    table: sales_fact\n    via: bigquery-subscription");
    c.fakes.set_faults_for(
        "bigquery",
        Faults::none().with_rule(
            FaultRule::always(FaultKind::PermissionDenied).only(["bigquery.datasets.patch"]),
        ),
    );
    let out = c.run().args(&["up"]).code(1);
    assert!(
        out.stdout.contains("bq add-iam-policy-binding")
            && out.stdout.contains("roles/bigquery.dataEditor"),
        "{}",
        out.stdout
    );
}

#[test]
fn flex_templates_launch_through_flex_templates_launch() {
    let c = cloud();
    c.project.edit(
        "project.yaml",
        "    via: dataflow\n    dataflow: { max_workers: 2, machine_type: n1-standard-2 }\n  - name: inventory-ingest",
        "    via: dataflow\n    dataflow: { max_workers: 2, flex_template: \"gs://my-templates/pubsub-to-bq.json\" }\n  - name: inventory-ingest",
    );
    c.ok(&["up"]);
    let flex = c
        .fakes
        .requests_to("dataflow.projects.locations.flexTemplates.launch");
    assert_eq!(flex.len(), 1);
    assert_eq!(
        flex[0].body["launchParameter"]["containerSpecGcsPath"],
        "gs://my-templates/pubsub-to-bq.json"
    );
    let classic = c
        .fakes
        .requests_to("dataflow.projects.locations.templates.launch");
    assert_eq!(classic.len(), 1);
    assert!(classic[0].query.contains("gcsPath=gs%3A%2F%2Fdataflow-templates-us-central1%2Flatest%2FPubSub_Subscription_to_BigQuery"), "{}", classic[0].query);
    c.fakes.assert_no_violations();
}

#[test]
fn disabled_apis_are_named_with_the_command_to_enable_them() {
    let c = cloud();
    c.fakes
        .set_service_enabled("dataflow.googleapis.com", false);
    let out = c.run().args(&["up"]).code(1);
    assert!(
        out.stderr
            .contains("gcloud services enable dataflow.googleapis.com"),
        "{}",
        out.stderr
    );
    assert!(
        c.fakes.topic("sales-events").is_none(),
        "nothing may be created before the check"
    );
}

#[test]
fn unreachable_endpoints_and_missing_credentials_fail_at_once() {
    let c = cloud();
    let start = Instant::now();
    let out = c
        .run()
        .args(&["plan"])
        .env("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
        .code(2);
    out.clean_error().stderr_has(&[
        "cannot reach the pubsub endpoint http://127.0.0.1:1/",
        "PUBSUB_EMULATOR_HOST",
    ]);
    assert!(start.elapsed() < Duration::from_secs(10));
    // No emulator variables, no credentials: the message says what to run.
    let home = tempfile::tempdir().unwrap();
    let out = Run::new(c.project.path())
        .args(&["--target", "gcp", "--project", "my-project-1", "plan"])
        .env("HOME", home.path().to_str().unwrap())
        .env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            home.path().join("missing.json").to_str().unwrap(),
        )
        .env("PATH", "/usr/bin:/bin")
        .code(1);
    out.clean_error()
        .stderr_has(&["gcloud auth application-default login"]);
    // Only bqflow speaks at the default level: its one line, no dependency's log lines.
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

/// Ids of the events stored in a fake topic (first field of each JSON message), with copies.
fn stored_ids(c: &Cloud, topic: &str) -> Vec<String> {
    c.fakes
        .published(topic)
        .iter()
        .filter_map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.data).ok()?;
            v.get("transaction_id")
                .or(v.get("event_id"))
                .and_then(|i| i.as_str())
                .map(String::from)
        })
        .collect()
}

#[test]
fn publishing_through_faults_stores_every_event_and_verify_counts_the_duplicates() {
    let c = cloud();
    c.ok(&["up"]);
    let publish = ["pubsub.projects.topics.publish"];
    c.fakes.set_faults_for(
        "pubsub",
        Faults::none()
            .with_seed(5)
            .with_rule(FaultRule::probability(FaultKind::TooManyRequests, 0.1).only(publish))
            .with_rule(FaultRule::probability(FaultKind::Unavailable, 0.1).only(publish))
            .with_rule(FaultRule::probability(FaultKind::ConnectionReset, 0.05).only(publish))
            .with_rule(FaultRule::probability(FaultKind::ResponseLost, 0.1).only(publish)),
    );
    let out = c
        .run()
        .env("BQFLOW_PUBLISH_BATCH", "100")
        .args(&[
            "generate",
            "--count",
            "6000",
            "--rate",
            "max",
            "--clock",
            "simulated",
        ])
        .success()
        .stdout;
    assert!(out.contains("acknowledged by Pub/Sub"), "{out}");
    let lost = c
        .fakes
        .stats()
        .faults
        .get("response-lost")
        .copied()
        .unwrap_or(0);
    assert!(lost > 0, "no response was lost: the test proves nothing");
    c.fakes.set_faults_for("pubsub", Faults::none());

    // Every generated id is stored at least once, on the right topic.
    for (topic, prefix, column) in [
        ("sales-events", "T42-", "transaction_id"),
        ("inventory-events", "I42-", "event_id"),
    ] {
        let ids = stored_ids(&c, topic);
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        let highest: u64 = distinct
            .iter()
            .filter_map(|i| i.strip_prefix(prefix)?.parse().ok())
            .max()
            .unwrap();
        assert_eq!(
            distinct.len() as u64,
            highest,
            "{topic}: ids missing below the highest ({column})"
        );
    }
    let stored = stored_ids(&c, "sales-events").len() + stored_ids(&c, "inventory-events").len();
    assert!(
        stored > 6000,
        "lost responses were retried, so some events are stored twice"
    );

    // The pipelines move messages into BigQuery; verify compares with what was acknowledged.
    assert!(
        c.fakes.wait_delivered(Duration::from_secs(60)),
        "the fake pipelines did not deliver"
    );
    let report = c.run().args(&["verify", "--wait", "30s"]).success().stdout;
    let duplicates_in_topics = stored - 6000;
    let table_line = |table: &str| {
        report
            .lines()
            .find(|l| l.contains(table))
            .unwrap_or_else(|| panic!("{report}"))
            .to_string()
    };
    let column = |line: &str, i: usize| -> u64 {
        line.split('┆')
            .nth(i)
            .unwrap()
            .trim()
            .trim_end_matches('│')
            .trim()
            .parse()
            .unwrap()
    };
    let (sales, inventory) = (table_line("sales_fact "), table_line("inventory_fact "));
    assert_eq!(
        column(&sales, 4) + column(&inventory, 4),
        0,
        "missing events:\n{report}"
    );
    assert_eq!(
        column(&sales, 5) + column(&inventory, 5),
        duplicates_in_topics as u64,
        "duplicates:\n{report}"
    );
    c.fakes.assert_no_violations();
}

#[test]
fn every_metric_gives_the_same_rows_locally_and_on_bigquery_from_rollups_and_from_facts() {
    let c = cloud();
    c.ok(&["up"]);
    let generate = [
        "generate",
        "--count",
        "8000",
        "--rate",
        "max",
        "--clock",
        "simulated",
    ];
    c.ok(&generate);
    // The same events into the local target of the same project folder.
    c.project.ok(&["up"]);
    c.project.ok(&generate);
    assert!(
        c.fakes.wait_delivered(Duration::from_secs(60)),
        "the fake pipelines did not deliver"
    );
    c.run().args(&["verify", "--wait", "30s"]).success();
    let names: Vec<String> = c
        .project
        .ok(&["query", "--list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert!(names.len() >= 10);
    for name in names {
        let local = c.project.ok(&["query", &name, "--format", "csv"]);
        let bigquery = c.ok(&["query", &name, "--format", "csv"]);
        assert_eq!(
            local, bigquery,
            "metric `{name}` differs between DuckDB and BigQuery"
        );
        // Through the rollups or straight from the facts: the same rows, on both targets.
        let raw = ["query", &name, "--format", "csv", "--from-facts"];
        assert_eq!(
            local,
            c.project.ok(&raw),
            "metric `{name}`: local rollups ≠ facts"
        );
        assert_eq!(
            bigquery,
            c.ok(&raw),
            "metric `{name}`: BigQuery rollups ≠ facts"
        );
        assert!(
            local.lines().count() > 1,
            "metric `{name}` is empty: {local}"
        );
    }
}

#[test]
fn gcp_status_shows_row_counts_freshness_and_job_states() {
    let c = cloud();
    c.ok(&["up"]);
    c.ok(&["generate", "--count", "2000", "--rate", "max"]);
    assert!(c.fakes.wait_delivered(Duration::from_secs(60)));
    // Ad-hoc SQL resolves unqualified names in the spec's dataset: every query names it as
    // `defaultDataset` (bqemulator applies that on jobs.insert only, so the request is checked).
    c.ok(&["query", "--sql", "SELECT 1 AS n"]);
    let last = c
        .fakes
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method_id.as_deref() == Some("bigquery.jobs.query"))
        .expect("a jobs.query request");
    assert_eq!(last.body["defaultDataset"]["datasetId"], "retail_dw");
    assert_eq!(last.body["defaultDataset"]["projectId"], c.id.as_str());
    let status = c.ok(&["status"]);
    assert!(status.contains("Dataflow RUNNING"), "{status}");
    let sales = status
        .lines()
        .find(|l| l.contains("retail_dw.sales_fact "))
        .unwrap();
    assert!(!sales.contains("┆ 0 "), "no rows counted: {sales}");
    assert!(
        sales.contains("s ") || sales.contains("m "),
        "no age of the newest event: {sales}"
    );
    // No figure reads as zero or "never" when the target cannot tell: the backlog needs Cloud
    // Monitoring (not emulated here), and streaming leaves no load time.
    let pipeline = status.lines().find(|l| l.contains("sales-ingest")).unwrap();
    assert!(
        pipeline.contains("unknown (1)")
            && pipeline.contains("unknown (2)")
            && !pipeline.contains("never"),
        "{status}"
    );
    assert!(
        status.contains("(1) Cloud Monitoring is not emulated")
            && status.contains("(2) streaming writes record no load time"),
        "{status}"
    );
    // Dry runs price a query without running it.
    let dry = c.ok(&["query", "top-products", "--dry-run"]);
    assert!(
        dry.contains("would process") && dry.contains("/TiB"),
        "{dry}"
    );
    // Every query job carried the ownership labels.
    let jobs = c.fakes.requests_to("bigquery.jobs.query");
    assert!(!jobs.is_empty());
    for j in jobs {
        assert_eq!(
            j.body["labels"]["bqflow-project"], "blackfriday",
            "{}",
            j.body
        );
        assert_eq!(j.body["useLegacySql"], false);
    }
}

#[test]
fn emulators_alone_need_no_credentials_and_no_service_usage() {
    let c = cloud();
    let home = tempfile::tempdir().unwrap();
    // As with Google's own emulators: no Service Usage or Resource Manager to ask, no login.
    let run = |args: &[&str], code: i32| {
        c.run()
            .env_remove("BQFLOW_SERVICEUSAGE_ENDPOINT")
            .env_remove("BQFLOW_RESOURCEMANAGER_ENDPOINT")
            .env("HOME", home.path().to_str().unwrap())
            .env(
                "GOOGLE_APPLICATION_CREDENTIALS",
                home.path().join("none.json").to_str().unwrap(),
            )
            .args(args)
            .code(code)
    };
    run(&["up"], 0);
    run(&["plan"], 0);
    assert!(c.fakes.requests_to("serviceusage.*").is_empty());
    run(&["teardown", "--yes"], 0);
}

#[test]
fn large_results_are_paged_and_every_query_job_is_bounded_and_labelled() {
    let c = cloud();
    let sql = "SELECT n FROM UNNEST(GENERATE_ARRAY(1, 25000)) AS n ORDER BY n";
    let out = c.ok(&["query", "--format", "csv", "--sql", sql]);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 25000, "{}", &out[..out.len().min(300)]);
    assert_eq!((rows[0], rows[24999]), ("1", "25000"));
    let pages = c.fakes.requests_to("bigquery.jobs.getQueryResults");
    assert!(pages.len() >= 2, "{} getQueryResults pages", pages.len());
    assert!(
        pages.iter().all(|p| p.query.contains("pageToken=")
            && p.query.contains("formatOptions.useInt64Timestamp=true")),
        "{:?}",
        pages.iter().map(|p| &p.query).collect::<Vec<_>>()
    );
    let jobs = c.fakes.requests_to("bigquery.jobs.query");
    let body = &jobs[0].body;
    assert_eq!(body["useLegacySql"], false);
    assert_eq!(body["maximumBytesBilled"], "10000000000");
    assert_eq!(body["formatOptions"]["useInt64Timestamp"], true);
    assert_eq!(body["labels"]["managed-by"], "bqflow");
    assert_eq!(body["maxResults"], 10000);

    // --limit bounds what is fetched, not only what is shown.
    c.fakes.clear_log();
    let out = c.ok(&["query", "--format", "csv", "--limit", "5", "--sql", sql]);
    assert_eq!(out.lines().count(), 6, "{out}");
    assert_eq!(
        c.fakes.requests_to("bigquery.jobs.query")[0].body["maxResults"],
        5
    );
    assert!(
        c.fakes
            .requests_to("bigquery.jobs.getQueryResults")
            .is_empty()
    );
    c.fakes.assert_no_violations();
}

#[test]
fn ctrl_c_drains_in_flight_publishes_and_verify_finds_every_acknowledged_event() {
    let c = cloud();
    c.ok(&["up"]);
    // Slow publishes keep requests in flight when the interrupt arrives.
    c.fakes.set_faults_for(
        "pubsub",
        Faults::none().with_rule(
            FaultRule::probability(FaultKind::Slow(Duration::from_millis(300)), 0.5)
                .only(["pubsub.projects.topics.publish"]),
        ),
    );
    let generate = c
        .run()
        .args(&["generate", "--rate", "3000", "--seed", "7"])
        .spawn();
    // Interrupt once publishes are under way (some of them slow, so in flight).
    wait_until("publish requests", Duration::from_secs(60), || {
        c.fakes.requests_to("pubsub.projects.topics.publish").len() >= 4
    });
    let out = generate.interrupt();
    let stdout = out.stdout;
    assert_eq!(out.code, 130, "{stdout}\n{}", out.stderr);
    let acked = |topic: &str| -> usize {
        stdout
            .split(&format!("{topic} "))
            .nth(1)
            .and_then(|s| s.split([',', ' ']).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no acknowledged count for {topic} in {stdout}"))
    };
    let (sales, inventory) = (acked("sales-events"), acked("inventory-events"));
    assert!(sales > 100, "{stdout}");
    // Everything acknowledged is stored, and nothing was stored that was not acknowledged
    // (no response was lost here).
    assert_eq!(stored_ids(&c, "sales-events").len(), sales, "{stdout}");
    assert_eq!(
        stored_ids(&c, "inventory-events").len(),
        inventory,
        "{stdout}"
    );
    c.fakes.set_faults_for("pubsub", Faults::none());
    assert!(c.fakes.wait_delivered(Duration::from_secs(60)));
    let report = c
        .run()
        .args(&["verify", "--seed", "7", "--wait", "30s"])
        .success()
        .stdout;
    assert!(report.contains(&format!("┆ {sales} ")), "{report}");
}

/// A BigQuery subscription with a dead-letter topic: the spec's policy, plus the grants
/// Pub/Sub's service agent needs to forward (without them Pub/Sub redelivers forever).
fn with_dead_letters(c: &Cloud) {
    c.project
        .edit("project.yaml", "    table: sales_fact\n    via: dataflow\n    dataflow: { max_workers: 2, machine_type: n1-standard-2 }", "    table: sales_fact\n    via: bigquery-subscription")
        .edit(
            "project.yaml",
            "  - name: inventory-events\n    message_retention: 1d\n",
            "  - name: inventory-events\n    message_retention: 1d\n  - name: sales-dead-letters\n",
        )
        .edit(
            "project.yaml",
            "    topic: sales-events\n    ack_deadline: 60s\n",
            "    topic: sales-events\n    ack_deadline: 60s\n    dead_letter: { topic: sales-dead-letters, max_delivery_attempts: 5 }\n",
        );
}

#[test]
fn dead_letter_topics_get_the_service_agents_grants_and_receive_malformed_events() {
    let c = cloud();
    with_dead_letters(&c);
    c.run().args(&["plan"]).code(3);
    c.ok(&["up"]);
    let agent = "serviceAccount:service-";
    let policy = |path: &str| {
        c.fakes
            .requests_to("pubsub.projects.*.setIamPolicy")
            .into_iter()
            .find(|r| r.path.contains(path))
            .unwrap_or_else(|| panic!("no setIamPolicy on {path}"))
            .body
    };
    let topic = policy("topics/sales-dead-letters");
    assert_eq!(
        topic["policy"]["bindings"][0]["role"],
        "roles/pubsub.publisher"
    );
    assert!(
        topic["policy"]["bindings"][0]["members"][0]
            .as_str()
            .unwrap()
            .starts_with(agent)
    );
    let sub = policy("subscriptions/sales-events-to-bq");
    assert_eq!(
        sub["policy"]["bindings"][0]["role"],
        "roles/pubsub.subscriber"
    );
    c.fakes.clear_log();
    c.run().args(&["plan"]).code(0);
    c.ok(&["up"]);
    assert_eq!(c.writes(), Vec::<String>::new(), "the second up wrote");

    let out = c.ok(&[
        "generate",
        "--count",
        "3000",
        "--rate",
        "max",
        "--clock",
        "simulated",
        "--malformed",
        "0.05",
    ]);
    assert!(out.contains("malformed"), "{out}");
    assert!(c.fakes.wait_delivered(Duration::from_secs(60)));
    let stats = c.fakes.delivery_stats();
    let sales = &stats[&format!("{}.retail_dw.sales_fact", c.id)];
    assert!(sales.dead_lettered > 0, "{sales:?}");
    assert_eq!(sales.undelivered, 0, "{sales:?}");
    assert_eq!(
        c.fakes.published("sales-dead-letters").len(),
        sales.dead_lettered,
        "{sales:?}"
    );
    c.fakes.assert_no_violations();
}

#[test]
fn a_dead_letter_grant_bqflow_may_not_make_names_the_command() {
    let c = cloud();
    with_dead_letters(&c);
    c.fakes.set_faults_for(
        "pubsub",
        Faults::none().with_rule(
            FaultRule::always(FaultKind::PermissionDenied)
                .only(["pubsub.projects.topics.setIamPolicy"]),
        ),
    );
    let out = c.run().args(&["up"]).code(1);
    assert!(
        out.stdout
            .contains("gcloud pubsub topics add-iam-policy-binding sales-dead-letters")
            && out.stdout.contains("--role=roles/pubsub.publisher"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_emulated_pubsub_without_iam_needs_no_dead_letter_grants() {
    let c = cloud();
    with_dead_letters(&c);
    // Google's Pub/Sub emulator answers IAM methods with UNIMPLEMENTED.
    c.fakes.set_faults_for(
        "pubsub",
        Faults::none().with_rule(FaultRule::always(FaultKind::Unimplemented).only([
            "pubsub.projects.*.getIamPolicy",
            "pubsub.projects.*.setIamPolicy",
        ])),
    );
    c.ok(&["up"]);
    c.run().args(&["plan"]).code(0);
    let sub = c.fakes.subscription("sales-events-to-bq").unwrap();
    assert_eq!(
        sub["deadLetterPolicy"]["deadLetterTopic"],
        format!("projects/{}/topics/sales-dead-letters", c.id)
    );
}

#[test]
fn the_pubsub_emulator_alone_needs_no_service_agent_and_no_grants() {
    let c = cloud();
    c.project
        .edit(
            "project.yaml",
            "  - name: inventory-events\n    message_retention: 1d\n",
            "  - name: inventory-events\n    message_retention: 1d\n  - name: sales-dead-letters\n",
        )
        .edit(
            "project.yaml",
            "    topic: sales-events\n    ack_deadline: 60s\n",
            "    topic: sales-events\n    ack_deadline: 60s\n    dead_letter: { topic: sales-dead-letters }\n",
        );
    // Emulated Pub/Sub, and no Resource Manager to look the service agent up in: Google's
    // emulator enforces no IAM, so bqflow asks Google for nothing.
    let run = || {
        c.run()
            .env_remove("BQFLOW_RESOURCEMANAGER_ENDPOINT")
            .env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    };
    run().args(&["up"]).success();
    run().args(&["plan"]).code(0);
    assert!(c.fakes.requests_to("pubsub.projects.*IamPolicy").is_empty());
    assert!(c.fakes.requests_to("cloudresourcemanager.*").is_empty());
    assert!(c.fakes.subscription("sales-events-to-bq").unwrap()["deadLetterPolicy"].is_object());
}

/// A dashboard on BigQuery: every panel renders from bqemulator's answers, the header shows the
/// bytes billed, and a refresh whose dry runs exceed the budget is refused without running.
#[test]
fn dashboard_on_bigquery_shows_bytes_billed_and_refuses_a_refresh_over_budget() {
    // bqemulator bills nothing; the proxy reports 50 MB per query, as BigQuery would.
    let c = cloud_configured(|config| config.bigquery_bytes_per_query = Some(50_000_000));
    c.ok(&["up"]);
    c.ok(&[
        "generate",
        "--count",
        "4000",
        "--rate",
        "max",
        "--clock",
        "simulated",
    ]);
    assert!(c.fakes.wait_delivered(Duration::from_secs(60)));
    c.run().args(&["verify", "--wait", "30s"]).success();

    let out = c.ok(&["dashboard", "--export", "report.html"]);
    assert!(out.contains("13 panels"), "{out}");
    let page = c.project.read("report.html");
    assert!(
        !page.contains(" failed\" id="),
        "a panel failed on BigQuery"
    );
    assert!(!page.contains("no rows yet"), "a panel is empty");
    assert_eq!(page.matches("<svg").count(), 7);
    assert!(page.contains(&format!("<b>gcp · {}</b>", c.id)));
    assert!(page.contains("newest event <b>"), "{}", status_of(&page));
    // 11 distinct panel queries and the freshness query, 50 MB each.
    assert!(
        page.contains("billed <b>600.0 MB</b>"),
        "{}",
        status_of(&page)
    );
    assert!(
        page.contains("estimate 600.0 MB of 5.00 GB budget"),
        "{}",
        status_of(&page)
    );

    // Over the budget: dry runs only, and the refresh is refused.
    c.project.edit(
        "project.yaml",
        "max_bytes_per_refresh: 5000000000",
        "max_bytes_per_refresh: 100000000",
    );
    let queries_before = query_jobs(&c);
    let refused = c
        .run()
        .args(&["dashboard", "--export", "over.html"])
        .code(1);
    assert!(
        refused.stderr.contains("refresh refused")
            && refused
                .stderr
                .contains("600.0 MB (dry run), over the dashboard's budget of 100.0 MB"),
        "{}",
        refused.stderr
    );
    assert!(!c.project.path().join("over.html").exists());
    let ran: Vec<bool> = query_jobs(&c)[queries_before.len()..].to_vec();
    assert!(
        !ran.is_empty() && ran.iter().all(|dry| *dry),
        "a query ran over budget: {ran:?}"
    );
    c.fakes.assert_no_violations();
}

/// Per `jobs.query` request so far: whether it was a dry run.
fn query_jobs(c: &Cloud) -> Vec<bool> {
    c.fakes
        .requests()
        .into_iter()
        .filter(|r| r.method_id.as_deref() == Some("bigquery.jobs.query"))
        .map(|r| r.body["dryRun"] == true)
        .collect()
}

fn status_of(page: &str) -> &str {
    let start = page.find("<div id=\"status\"").unwrap_or(0);
    &page[start..(start + 1500).min(page.len())]
}

/// `plan --explain` gives each step as the gcloud / bq command that does it by hand, in the
/// order `up` takes; once applied there is nothing left to explain.
#[test]
fn plan_explain_gives_the_gcloud_and_bq_command_of_each_step() {
    let c = cloud();
    let plan = c.run().args(&["plan", "--explain"]).code(3).stdout;
    let id = &c.id;
    for expected in [
        format!("gcloud pubsub topics create sales-events --project={id} --labels="),
        "--message-retention-duration=86400s".to_string(),
        format!("gcloud pubsub subscriptions create sales-events-to-bq --project={id} --topic=sales-events"),
        "--min-retry-delay=10s --max-retry-delay=600s".to_string(),
        "bq --location=US mk --dataset".to_string(),
        "cat > sales_fact.schema.json <<'EOF'".to_string(),
        "\"precision\": \"18\"".to_string(),
        "--time_partitioning_field=timestamp --time_partitioning_type=DAY --clustering_fields=store_id,product_id --label bqflow-deployment:".to_string(),
        format!("CREATE MATERIALIZED VIEW `{id}.retail_dw.sales_by_store_product` OPTIONS (enable_refresh = true, refresh_interval_minutes = 5) AS"),
        "bq mk --use_legacy_sql=false --view".to_string(),
        "gcloud dataflow jobs run blackfriday-sales-ingest-".to_string(),
        "--max-workers=2 --worker-machine-type=n1-standard-2".to_string(),
        format!("outputTableSpec={id}:retail_dw.sales_fact"),
    ] {
        assert!(plan.contains(&expected), "no `{expected}` in:\n{plan}");
    }
    // Dependencies first: the dataset before its tables, the tables before the rollups.
    let at = |s: &str| plan.find(s).unwrap_or_else(|| panic!("no {s}"));
    assert!(at("# create dataset retail_dw") < at("# create table retail_dw.sales_fact"));
    assert!(
        at("# create table retail_dw.sales_fact")
            < at("# create materialized view retail_dw.sales_by_store_product")
    );
    c.ok(&["up"]);
    let after = c.run().args(&["plan", "--explain"]).code(0).stdout;
    assert!(!after.contains("By hand"), "{after}");
}

/// A materialized view's refresh settings are compared and patched in place; the request
/// bodies match BigQuery's discovery document (the proxy checks every one).
#[test]
fn a_changed_refresh_interval_is_planned_and_applied() {
    let c = cloud();
    c.ok(&["up"]);
    c.project.edit(
        "project.yaml",
        "  - name: sales_by_store_product\n    description: \"Sales per store and product\"\n    refresh_interval: 5m",
        "  - name: sales_by_store_product\n    description: \"Sales per store and product\"\n    refresh_interval: 15m",
    );
    let plan = c.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("~ update        materialized view retail_dw.sales_by_store_product")
            && plan.contains("refresh_interval: 5m → 15m"),
        "{plan}"
    );
    c.fakes.clear_log();
    c.ok(&["up"]);
    let writes = c.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].starts_with("PATCH bigquery")
            && writes[0].ends_with("/tables/sales_by_store_product"),
        "{writes:?}"
    );
    c.run().args(&["plan"]).code(0);
    // A changed query cannot be patched: the view is dropped and made again from its table.
    c.project.edit(
        "templates/materialized_views/sales_by_store_product.sql",
        "MAX(s.timestamp) AS newest_sale",
        "MAX(s.timestamp) AS newest_sale, MIN(s.timestamp) AS oldest_sale",
    );
    let plan = c.run().args(&["plan", "--explain"]).code(3).stdout;
    assert!(
        plan.contains("-/+ replace       materialized view retail_dw.sales_by_store_product")
            && plan.contains("bq rm -f --table"),
        "{plan}"
    );
    c.fakes.clear_log();
    c.ok(&["up"]);
    let writes = c.writes();
    assert!(
        writes[0].starts_with("DELETE bigquery")
            && writes[0].ends_with("/tables/sales_by_store_product"),
        "{writes:?}"
    );
    c.run().args(&["plan"]).code(0);
    c.ok(&[
        "query",
        "--sql",
        "SELECT oldest_sale FROM {{ ref(\"sales_by_store_product\") }}",
    ]);
    c.fakes.assert_no_violations();
}

/// On BigQuery too, every metric read through the materialized views equals the same metric
/// computed from the facts — after several runs, a generator killed with SIGKILL mid-publish
/// (at-least-once: a replay may store some events twice; rollups and facts see the same rows)
/// and a replay.
#[test]
fn rollups_equal_the_facts_on_bigquery_after_a_kill_and_a_replay() {
    let c = cloud();
    c.ok(&["up"]);
    c.ok(&["generate", "--count", "3000", "--rate", "max"]);
    let crashing = c.run().args(&["generate", "--rate", "5000"]).spawn();
    wait_until("publish requests", Duration::from_secs(60), || {
        c.fakes.requests_to("pubsub.projects.topics.publish").len() >= 8
    });
    crashing.kill();
    c.ok(&["generate", "--count", "3000", "--rate", "max"]);
    assert!(
        c.fakes.wait_delivered(Duration::from_secs(60)),
        "the fake pipelines did not deliver"
    );
    let names: Vec<String> = c
        .ok(&["query", "--list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    for name in names {
        let rollups = c.ok(&["query", &name, "--format", "csv"]);
        let facts = c.ok(&["query", &name, "--format", "csv", "--from-facts"]);
        assert_eq!(rollups, facts, "metric `{name}` differs from the facts");
        assert!(rollups.lines().count() > 1, "metric `{name}` is empty");
    }
    c.fakes.assert_no_violations();
}
