//! The gcp target against real peers: bqemulator (BigQuery) and gcp-storage-emulator (Cloud
//! Storage) from PyPI, reached through validating proxies, and the in-repo fakes of Pub/Sub,
//! Dataflow, Service Usage and Resource Manager, which check every request against Google's
//! discovery documents. Faults are injected between bqflow and all of them.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gcp_fakes::{Config, DataflowTiming, Fakes, FaultKind, FaultRule, Faults, Service, Upstream};

use crate::support::{Project, Run, bin};

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
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = format!(
        "bqt-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (bq, gcs) = emulators();
    let fakes = Fakes::start(Config {
        faults,
        dataflow: timing,
        upstreams: vec![
            Upstream::new("bigquery", bq, Service::BigQuery),
            Upstream::new("storage", gcs, Service::Storage),
        ],
        ..Config::new(&id)
    })
    .expect("start the fakes");
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
        plan.contains("0 to create, 0 to update, 27 unchanged"),
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
        "COUNT(*) AS sales,",
        "COUNT(*) AS sales_count,",
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

/// Creates a topic the way a colleague would in the console: no labels.
fn create_unlabelled_topic(c: &Cloud, topic: &str) {
    let url = format!(
        "{}/v1/projects/{}/topics/{topic}",
        c.fakes.pubsub_url(),
        c.id
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .put(url)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success());
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
        plan.contains("26 to create") && plan.contains("1 not owned"),
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
    let mut child = Command::new(bin())
        .current_dir(c.project.path())
        .args(["--target", "gcp", "up"])
        .envs(c.fakes.env())
        .env("GOOGLE_CLOUD_PROJECT", &c.id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
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
            FaultKind::Slow(Duration::from_millis(1500)),
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
    let env = |run: Run| {
        run.env("BQFLOW_REQUEST_TIMEOUT_MS", "1000")
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
    assert!(plan.contains("27 to create"), "{plan}");
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
fn every_metric_gives_the_same_rows_locally_and_on_bigquery() {
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
