//! Fake Dataflow over HTTP: launches, the name clash, drain/cancel transitions.

mod common;

use std::time::Duration;

use common::Client;
use gcp_fakes::{Config, DataflowTiming, Fakes, Service};
use serde_json::{Value, json};

const BASE: &str = "/v1b3/projects/p/locations/us-central1";
const GCS: &str =
    "gcsPath=gs%3A%2F%2Fdataflow-templates-us-central1%2Flatest%2FPubSub_Subscription_to_BigQuery";

fn start(timing: DataflowTiming) -> (Fakes, Client) {
    let fakes = Fakes::start(Config {
        dataflow: timing,
        ..Config::new("p")
    })
    .unwrap();
    let client = Client::new(&fakes.dataflow_url(), Service::Dataflow);
    (fakes, client)
}

fn launch_body(name: &str) -> Value {
    json!({
        "jobName": name,
        "parameters": {"inputSubscription": "projects/p/subscriptions/events-df", "outputTableSpec": "p:ds.events"},
        "environment": {"tempLocation": "gs://bqflow-p-tmp/temp", "maxWorkers": 2,
                        "additionalUserLabels": {"app": "bqflow", "managed-by": "bqflow"}},
    })
}

async fn launch(df: &Client, name: &str) -> common::Response {
    df.call(
        "POST",
        &format!("{BASE}/templates:launch?{GCS}"),
        Some(&launch_body(name)),
    )
    .await
}

async fn state(df: &Client, id: &str) -> String {
    let r = df.call("GET", &format!("{BASE}/jobs/{id}"), None).await;
    r.body["currentState"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn classic_launch_validation_and_the_name_clash() {
    let (fakes, df) = start(DataflowTiming::default());
    let r = df
        .call(
            "POST",
            &format!("{BASE}/templates:launch"),
            Some(&launch_body("ingest")),
        )
        .await;
    assert_eq!((r.status, r.error_status()), (400, "INVALID_ARGUMENT"));
    assert!(r.error_message().contains("gcsPath"));
    assert_eq!(launch(&df, "Ingest").await.status, 400);
    assert_eq!(launch(&df, "ingest-").await.status, 400);
    let mut no_gs = launch_body("ingest");
    no_gs["environment"]["tempLocation"] = "/tmp/x".into();
    let r = df
        .call(
            "POST",
            &format!("{BASE}/templates:launch?{GCS}"),
            Some(&no_gs),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = launch(&df, "ingest").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let job = &r.body["job"];
    let id = job["id"].as_str().unwrap();
    let (date, number) = id
        .split_once('-')
        .map(|(d, _)| (d, id.rsplit('-').next().unwrap()))
        .unwrap();
    assert_eq!(date.len(), 4, "{id}");
    assert_eq!(number.len(), 19, "{id}");
    assert_eq!(job["name"], "ingest");
    assert_eq!(job["projectId"], "p");
    assert_eq!(job["location"], "us-central1");
    assert_eq!(job["type"], "JOB_TYPE_STREAMING");
    assert_eq!(job["currentState"], "JOB_STATE_PENDING");
    assert_eq!(job["labels"]["managed-by"], "bqflow");

    let r = launch(&df, "ingest").await;
    assert_eq!((r.status, r.error_status()), (409, "ALREADY_EXISTS"));
    assert_eq!(
        r.error_message(),
        "There is already an active job named ingest. If you want to submit a second job, try again by setting a different name."
    );
    let r = df
        .call(
            "GET",
            &format!("{BASE}/jobs?filter=ACTIVE&name=ingest"),
            None,
        )
        .await;
    assert_eq!(r.body["jobs"][0]["id"], id);
    // Another region is another namespace.
    let other = "/v1b3/projects/p/locations/europe-west1/templates:launch";
    assert_eq!(
        df.call(
            "POST",
            &format!("{other}?{GCS}"),
            Some(&launch_body("ingest"))
        )
        .await
        .status,
        200
    );

    let all = df
        .call(
            "GET",
            &format!("{BASE}/jobs?view=JOB_VIEW_ALL&filter=ALL"),
            None,
        )
        .await;
    assert_eq!(all.body["jobs"].as_array().unwrap().len(), 1);
    let full = df
        .call("GET", &format!("{BASE}/jobs/{id}?view=JOB_VIEW_ALL"), None)
        .await;
    assert_eq!(
        full.body["environment"]["sdkPipelineOptions"]["options"]["outputTableSpec"],
        "p:ds.events"
    );
    assert_eq!(
        df.call("GET", &format!("{BASE}/jobs/nope"), None)
            .await
            .status,
        404
    );
    fakes.assert_no_violations();
}

#[tokio::test]
async fn flex_launch() {
    let (fakes, df) = start(DataflowTiming::default());
    let body = json!({"launchParameter": {
        "jobName": "flex-ingest",
        "containerSpecGcsPath": "gs://dataflow-templates-us-central1/latest/flex/PubSub_to_BigQuery_Flex",
        "parameters": {"inputSubscription": "projects/p/subscriptions/s", "outputTableSpec": "p:ds.t"},
        "environment": {"tempLocation": "gs://b/temp", "additionalUserLabels": {"app": "bqflow"}}}});
    let r = df
        .call("POST", &format!("{BASE}/flexTemplates:launch"), Some(&body))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["job"]["labels"]["app"], "bqflow");
    let r = df
        .call("POST", &format!("{BASE}/flexTemplates:launch"), Some(&body))
        .await;
    assert_eq!(r.status, 409);
    let no_spec = json!({"launchParameter": {"jobName": "x"}});
    assert_eq!(
        df.call(
            "POST",
            &format!("{BASE}/flexTemplates:launch"),
            Some(&no_spec)
        )
        .await
        .status,
        400
    );
    fakes.assert_no_violations();
}

#[tokio::test]
async fn drain_and_cancel_move_through_states_on_the_clock() {
    let timing = DataflowTiming {
        start: Some(Duration::from_millis(50)),
        drain: Some(Duration::from_millis(150)),
        cancel: Some(Duration::from_millis(50)),
    };
    let (fakes, df) = start(timing);
    let id = launch(&df, "ingest").await.body["job"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(state(&df, &id).await, "JOB_STATE_PENDING");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(state(&df, &id).await, "JOB_STATE_RUNNING");

    // State and mask together are refused.
    let drain = json!({"requestedState": "JOB_STATE_DRAINED"});
    let r = df
        .call(
            "PUT",
            &format!("{BASE}/jobs/{id}?updateMask=labels"),
            Some(&drain),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = df
        .call("PUT", &format!("{BASE}/jobs/{id}"), Some(&drain))
        .await;
    assert_eq!(
        (r.status, r.body["currentState"].as_str()),
        (200, Some("JOB_STATE_DRAINING"))
    );
    assert_eq!(r.body["requestedState"], "JOB_STATE_DRAINED");
    // Still active while draining: the name is taken.
    assert_eq!(launch(&df, "ingest").await.status, 409);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state(&df, &id).await, "JOB_STATE_DRAINED");
    let r = df
        .call(
            "GET",
            &format!("{BASE}/jobs?filter=ACTIVE&name=ingest"),
            None,
        )
        .await;
    assert_eq!(r.body, json!({}));
    let r = df
        .call("GET", &format!("{BASE}/jobs?filter=TERMINATED"), None)
        .await;
    assert_eq!(r.body["jobs"][0]["currentState"], "JOB_STATE_DRAINED");

    // Terminal jobs cannot be changed.
    let r = df
        .call(
            "PUT",
            &format!("{BASE}/jobs/{id}"),
            Some(&json!({"requestedState": "JOB_STATE_CANCELLED"})),
        )
        .await;
    assert_eq!((r.status, r.error_status()), (400, "FAILED_PRECONDITION"));

    // The name is free again; cancel the new job.
    let id2 = launch(&df, "ingest").await.body["job"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cancel = json!({"requestedState": "JOB_STATE_CANCELLED"});
    let r = df
        .call("PUT", &format!("{BASE}/jobs/{id2}"), Some(&cancel))
        .await;
    assert_eq!(r.body["currentState"], "JOB_STATE_CANCELLING");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(state(&df, &id2).await, "JOB_STATE_CANCELLED");
    let all = df
        .call("GET", &format!("{BASE}/jobs?filter=ALL&pageSize=1"), None)
        .await;
    assert_eq!(all.body["jobs"].as_array().unwrap().len(), 1);
    assert!(all.body["nextPageToken"].is_string());
    assert_eq!(fakes.dataflow_jobs().len(), 2);
    fakes.assert_no_violations();
}

#[tokio::test]
async fn a_drain_that_never_finishes_can_be_cancelled() {
    let timing = DataflowTiming {
        drain: None,
        ..DataflowTiming::instant()
    };
    let (fakes, df) = start(timing);
    let id = launch(&df, "stuck").await.body["job"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(state(&df, &id).await, "JOB_STATE_RUNNING");
    df.call(
        "PUT",
        &format!("{BASE}/jobs/{id}"),
        Some(&json!({"requestedState": "JOB_STATE_DRAINED"})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(state(&df, &id).await, "JOB_STATE_DRAINING");
    let r = df
        .call(
            "PUT",
            &format!("{BASE}/jobs/{id}"),
            Some(&json!({"requestedState": "JOB_STATE_CANCELLED"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(state(&df, &id).await, "JOB_STATE_CANCELLED");
    // The timing can also be changed on a running fake.
    fakes.set_dataflow_timing(DataflowTiming::default());
    fakes.assert_no_violations();
}

#[tokio::test]
async fn labels_update_with_a_mask() {
    let (fakes, df) = start(DataflowTiming::instant());
    let id = launch(&df, "ingest").await.body["job"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = df
        .call(
            "PUT",
            &format!("{BASE}/jobs/{id}?updateMask=labels"),
            Some(&json!({"labels": {"app": "v2"}})),
        )
        .await;
    assert_eq!(r.body["labels"], json!({"app": "v2"}));
    let r = df
        .call("PUT", &format!("{BASE}/jobs/{id}"), Some(&json!({})))
        .await;
    assert_eq!(r.status, 400);
    fakes.assert_no_violations();
}

#[tokio::test]
async fn lists_are_summaries_and_labels_need_a_described_get() {
    let (fakes, df) = start(DataflowTiming::instant());
    let id = launch(&df, "ingest").await.body["job"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = df
        .call("GET", &format!("{BASE}/jobs?filter=ACTIVE"), None)
        .await;
    let summary = &listed.body["jobs"][0];
    assert_eq!(summary["id"], id.as_str());
    assert!(summary.get("labels").is_none(), "{summary}");
    let plain = df.call("GET", &format!("{BASE}/jobs/{id}"), None).await;
    assert!(plain.body.get("labels").is_none(), "{:?}", plain.body);
    let described = df
        .call(
            "GET",
            &format!("{BASE}/jobs/{id}?view=JOB_VIEW_DESCRIPTION"),
            None,
        )
        .await;
    assert_eq!(described.body["labels"]["managed-by"], "bqflow");
    assert!(described.body.get("environment").is_none());
    let all = df
        .call("GET", &format!("{BASE}/jobs/{id}?view=JOB_VIEW_ALL"), None)
        .await;
    assert_eq!(all.body["labels"]["managed-by"], "bqflow");
    assert!(all.body["environment"]["sdkPipelineOptions"].is_object());
    fakes.assert_no_violations();
}
