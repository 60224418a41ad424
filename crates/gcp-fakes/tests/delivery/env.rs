//! The world the delivery tests run in: bqemulator (started through `scripts/emulators`
//! unless `BIGQUERY_EMULATOR_HOST` is set), fakes with a BigQuery proxy to it, one fresh
//! project per test, and small helpers to publish, launch and query.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use gcp_fakes::{Config, DataflowTiming, Fakes, Service, Upstream};
use serde_json::{Value, json};

use crate::common::Client;

/// bqemulator's root URL. Fails the test, never skips it, when the emulator cannot start.
fn bigquery_emulator() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("BIGQUERY_EMULATOR_HOST") {
            return if url.contains("://") {
                url
            } else {
                format!("http://{url}")
            };
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/emulators");
        let out = Command::new(script)
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| {
                panic!("the delivery tests need bqemulator: cannot run {script}: {e}")
            });
        assert!(
            out.status.success(),
            "the delivery tests need bqemulator: `{script} start` failed (see its output above)"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("export BIGQUERY_EMULATOR_HOST="))
            .unwrap_or_else(|| panic!("`{script} start` printed no BIGQUERY_EMULATOR_HOST"))
            .to_string()
    })
}

pub struct World {
    pub fakes: Fakes,
    pub project: String,
    pub ps: Client,
    pub df: Client,
    /// Straight to bqemulator (not recorded by the fakes).
    pub bq: String,
    http: reqwest::Client,
}

pub fn world(timing: DataflowTiming, keep_messages: bool) -> World {
    static N: AtomicUsize = AtomicUsize::new(0);
    let project = format!(
        "dlv-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let bq = bigquery_emulator().to_string();
    let fakes = Fakes::start(Config {
        dataflow: timing,
        keep_messages,
        upstreams: vec![Upstream::new("bigquery", &bq, Service::BigQuery)],
        ..Config::new(&project)
    })
    .expect("start the fakes");
    World {
        ps: Client::new(&fakes.pubsub_url(), Service::PubSub),
        df: Client::new(&fakes.dataflow_url(), Service::Dataflow),
        fakes,
        project,
        bq,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

pub fn data(bytes: &[u8]) -> Value {
    json!({"data": base64::engine::general_purpose::STANDARD.encode(bytes)})
}

impl World {
    /// A BigQuery call to `base` (the emulator, or the proxy); panics unless 200.
    pub async fn bigquery(&self, base: &str, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{base}/bigquery/v2/projects/{}{path}", self.project);
        let mut req = self.http.request(method.parse().unwrap(), &url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {url}: {body}");
        body
    }

    /// Creates dataset `ds` (straight on the emulator) and a table in it through the proxy,
    /// as a client would, so the fakes see the declared NUMERIC scale.
    pub async fn table(&self, table: &str, fields: Value) {
        let ds = json!({"datasetReference": {"projectId": self.project, "datasetId": "ds"}});
        let url = format!("{}/bigquery/v2/projects/{}/datasets", self.bq, self.project);
        // Several tables per test: the dataset may exist already.
        let _ = self.http.post(url).json(&ds).send().await.unwrap();
        let body = json!({
            "tableReference": {"projectId": self.project, "datasetId": "ds", "tableId": table},
            "schema": {"fields": fields},
        });
        let proxy = self.fakes.proxy_url("bigquery");
        self.bigquery(&proxy, "POST", "/datasets/ds/tables", body)
            .await;
    }

    /// Rows of a query on the emulator, each as its cells' values.
    pub async fn query(&self, sql: &str) -> Vec<Vec<Value>> {
        let body = json!({"query": sql, "useLegacySql": false});
        let r = self.bigquery(&self.bq, "POST", "/queries", body).await;
        r["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|row| {
                        let cells = row["f"].as_array().unwrap();
                        cells.iter().map(|c| c["v"].clone()).collect()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn count(&self, table: &str) -> usize {
        let sql = format!("SELECT COUNT(*) FROM `{}.ds.{table}`", self.project);
        let rows = self.query(&sql).await;
        rows[0][0].as_str().unwrap().parse().unwrap()
    }

    pub async fn topic(&self, topic: &str) {
        let path = format!("/v1/projects/{}/topics/{topic}", self.project);
        let r = self.ps.call("PUT", &path, Some(&json!({}))).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    pub async fn subscription(&self, sub: &str, body: Value) {
        let path = format!("/v1/projects/{}/subscriptions/{sub}", self.project);
        let r = self.ps.call("PUT", &path, Some(&body)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    pub fn topic_name(&self, topic: &str) -> String {
        format!("projects/{}/topics/{topic}", self.project)
    }

    pub async fn publish(&self, topic: &str, messages: Vec<Value>) {
        let path = format!("/v1/projects/{}/topics/{topic}:publish", self.project);
        for chunk in messages.chunks(1000) {
            let r = self
                .ps
                .call("POST", &path, Some(&json!({"messages": chunk})))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
    }

    /// Launches `PubSub_Subscription_to_BigQuery` from `sub` into `ds.table`; the job id.
    pub async fn launch(&self, sub: &str, table: &str, dead_letter: Option<&str>) -> String {
        let p = &self.project;
        let mut parameters = json!({
            "inputSubscription": format!("projects/{p}/subscriptions/{sub}"),
            "outputTableSpec": format!("{p}:ds.{table}"),
        });
        if let Some(dl) = dead_letter {
            parameters["outputDeadletterTable"] = format!("{p}:ds.{dl}").into();
        }
        let body = json!({
            "jobName": format!("ingest-{table}").replace('_', "-"),
            "parameters": parameters,
            "environment": {"tempLocation": "gs://bqflow-tmp/temp"},
        });
        let path = format!(
            "/v1b3/projects/{p}/locations/us-central1/templates:launch?gcsPath=gs%3A%2F%2Fdataflow-templates-us-central1%2Flatest%2FPubSub_Subscription_to_BigQuery"
        );
        let r = self.df.call("POST", &path, Some(&body)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["job"]["id"].as_str().unwrap().to_string()
    }

    fn job_path(&self, id: &str) -> String {
        format!(
            "/v1b3/projects/{}/locations/us-central1/jobs/{id}",
            self.project
        )
    }

    pub async fn request_state(&self, id: &str, state: &str) {
        let body = json!({"requestedState": state});
        let r = self.df.call("PUT", &self.job_path(id), Some(&body)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    pub async fn state(&self, id: &str) -> String {
        let r = self.df.call("GET", &self.job_path(id), None).await;
        r.body["currentState"].as_str().unwrap().to_string()
    }

    /// Waits for the job to reach a state (10 s at most).
    pub async fn until_state(&self, id: &str, state: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let now = self.state(id).await;
            if now == state {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} is {now}, not {state}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
