//! Valid and invalid requests for each service's document.

use serde_json::{Value, json};

use super::{Rejection, Service};

fn check(
    s: Service,
    method: &str,
    path: &str,
    query: &str,
    body: Value,
) -> Result<String, Rejection> {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    s.discovery()
        .validate(method, path, query, &bytes)
        .map(|m| m.id)
}

fn ok(s: Service, method: &str, path: &str, query: &str, body: Value) -> String {
    check(s, method, path, query, body).unwrap_or_else(|r| panic!("{method} {path}: {r:?}"))
}

/// Asserts rejection and that some problem mentions `needle`.
fn bad(s: Service, method: &str, path: &str, query: &str, body: Value, needle: &str) {
    match check(s, method, path, query, body) {
        Ok(id) => panic!("{method} {path} was accepted as {id}"),
        Err(r) => assert!(
            r.problems.iter().any(|p| p.contains(needle)),
            "no problem mentions {needle:?}: {:?}",
            r.problems
        ),
    }
}

#[test]
fn every_document_parses_and_has_methods() {
    for s in Service::ALL {
        assert!(s.discovery().method_ids().count() > 5, "{s:?}");
    }
}

#[test]
fn pubsub_routes_with_reserved_expansion_and_verbs() {
    let ps = Service::PubSub;
    assert_eq!(
        ok(
            ps,
            "PUT",
            "/v1/projects/p/topics/t",
            "",
            json!({"labels": {"app": "bqflow"}})
        ),
        "pubsub.projects.topics.create"
    );
    let m = ps
        .discovery()
        .validate("GET", "/v1/projects/p/topics/t", "", b"")
        .unwrap();
    assert_eq!(m.id, "pubsub.projects.topics.get");
    assert_eq!(m.param("topic"), "projects/p/topics/t");
    assert_eq!(
        ok(
            ps,
            "POST",
            "/v1/projects/p/topics/t:publish",
            "",
            json!({"messages": [{"data": "aGk=", "attributes": {"k": "v"}}]})
        ),
        "pubsub.projects.topics.publish"
    );
    assert_eq!(
        ok(
            ps,
            "POST",
            "/v1/projects/p/subscriptions/s:acknowledge",
            "",
            json!({"ackIds": ["a"]})
        ),
        "pubsub.projects.subscriptions.acknowledge"
    );
    assert_eq!(
        ok(
            ps,
            "GET",
            "/v1/projects/p/topics",
            "pageSize=10&pageToken=x&prettyPrint=false",
            Value::Null
        ),
        "pubsub.projects.topics.list"
    );
    assert_eq!(
        ok(
            ps,
            "PUT",
            "/v1/projects/p/subscriptions/s",
            "",
            json!({
                "topic": "projects/p/topics/t", "ackDeadlineSeconds": 60, "expirationPolicy": {},
                "messageRetentionDuration": "600s",
                "bigqueryConfig": {"table": "p.d.t", "useTableSchema": true, "writeMetadata": false}
            })
        ),
        "pubsub.projects.subscriptions.create"
    );
}

#[test]
fn pubsub_rejects_shape_errors() {
    let ps = Service::PubSub;
    bad(
        ps,
        "PUT",
        "/v1/projects/p/topics/t",
        "",
        json!({"lables": {}}),
        "unknown field \"lables\"",
    );
    bad(
        ps,
        "PUT",
        "/v1/projects/p/subscriptions/s",
        "",
        json!({"topic": "t", "ackDeadlineSeconds": "60"}),
        "expected a JSON number",
    );
    bad(
        ps,
        "PUT",
        "/v1/projects/p/subscriptions/s",
        "",
        json!({"topic": "t", "messageRetentionDuration": 600}),
        "durations are strings",
    );
    bad(
        ps,
        "PUT",
        "/v1/projects/p/subscriptions/s",
        "",
        json!({"topic": "t", "expirationPolicy": {"ttl": "1d"}}),
        "google-duration",
    );
    bad(
        ps,
        "PUT",
        "/v1/projects/p/subscriptions/s",
        "",
        json!({"topic": "t", "bigqueryConfig": {"table": "x", "state": "FINE"}}),
        "not one of",
    );
    bad(
        ps,
        "POST",
        "/v1/projects/p/topics/t:publish",
        "",
        json!({"messages": [{"data": "not base64!"}]}),
        "messages[0].data",
    );
    bad(
        ps,
        "POST",
        "/v1/projects/p/topics/t:publish",
        "",
        json!({"messages": {"data": "aGk="}}),
        "expected an array",
    );
    bad(
        ps,
        "GET",
        "/v1/projects/p/topics",
        "pageSize=ten",
        Value::Null,
        "pageSize",
    );
    bad(
        ps,
        "GET",
        "/v1/projects/p/topics",
        "page_size=10",
        Value::Null,
        "unknown query parameter",
    );
    bad(
        ps,
        "GET",
        "/v1/projects/p/topics",
        "pageSize=1&pageSize=2",
        Value::Null,
        "given 2 times",
    );
    bad(
        ps,
        "POST",
        "/v1/projects/p/topics/t",
        "",
        json!({}),
        "no POST method",
    );
    bad(
        ps,
        "PUT",
        "/v1/projects/p/topics/t:publish",
        "",
        json!({}),
        "no PUT method",
    );
    bad(
        ps,
        "GET",
        "/v2/projects/p/topics/t",
        "",
        Value::Null,
        "no method of this API",
    );
    bad(
        ps,
        "DELETE",
        "/v1/projects/p/topics/t",
        "",
        json!({"x": 1}),
        "takes no request body",
    );
    let garbage = ps
        .discovery()
        .validate("PUT", "/v1/projects/p/topics/t", "", b"{nope");
    assert!(garbage.unwrap_err().problems[0].contains("not valid JSON"));
}

#[test]
fn dataflow_launch_and_update() {
    let df = Service::Dataflow;
    let m = df
        .discovery()
        .validate(
            "POST",
            "/v1b3/projects/p/locations/us-central1/templates:launch",
            "gcsPath=gs%3A%2F%2Fdataflow-templates%2Flatest%2FX&validateOnly=false",
            br#"{"jobName": "j", "parameters": {"a": "b"}, "environment": {"tempLocation": "gs://b/t", "maxWorkers": 2, "additionalUserLabels": {"app": "bqflow"}, "streamingMode": "STREAMING_MODE_AT_LEAST_ONCE"}}"#,
        )
        .unwrap();
    assert_eq!(m.id, "dataflow.projects.locations.templates.launch");
    assert_eq!(
        m.query_value("gcsPath"),
        Some("gs://dataflow-templates/latest/X")
    );
    assert_eq!(
        (m.param("projectId"), m.param("location")),
        ("p", "us-central1")
    );
    assert_eq!(
        ok(
            df,
            "POST",
            "/v1b3/projects/p/locations/r/flexTemplates:launch",
            "",
            json!({"launchParameter": {"jobName": "j", "containerSpecGcsPath": "gs://x"}})
        ),
        "dataflow.projects.locations.flexTemplates.launch"
    );
    assert_eq!(
        ok(
            df,
            "GET",
            "/v1b3/projects/p/locations/r/jobs",
            "filter=ACTIVE&name=j",
            Value::Null
        ),
        "dataflow.projects.locations.jobs.list"
    );
    assert_eq!(
        ok(
            df,
            "PUT",
            "/v1b3/projects/p/locations/r/jobs/2026-01-01_00_00_00-1",
            "",
            json!({"requestedState": "JOB_STATE_DRAINED"})
        ),
        "dataflow.projects.locations.jobs.update"
    );
    // The brief's example job id with underscores and a dash routes as one segment.
    assert_eq!(
        ok(
            df,
            "GET",
            "/v1b3/projects/p/locations/r/jobs/2026-11-25_12_00_00-1234567890",
            "view=JOB_VIEW_ALL",
            Value::Null
        ),
        "dataflow.projects.locations.jobs.get"
    );
}

#[test]
fn dataflow_rejects_shape_errors() {
    let df = Service::Dataflow;
    let launch = "/v1b3/projects/p/locations/r/templates:launch";
    bad(
        df,
        "POST",
        launch,
        "",
        json!({"jobName": "j", "gcsPath": "gs://x"}),
        "unknown field \"gcsPath\"",
    );
    bad(
        df,
        "POST",
        launch,
        "",
        json!({"jobName": "j", "environment": {"maxWorkers": "2"}}),
        "expected a JSON number",
    );
    bad(
        df,
        "POST",
        launch,
        "",
        json!({"environment": {"ipConfiguration": "PUBLIC"}}),
        "not one of",
    );
    bad(
        df,
        "POST",
        launch,
        "",
        json!({"parameters": {"a": 1}}),
        "expected a string",
    );
    bad(
        df,
        "GET",
        "/v1b3/projects/p/locations/r/jobs",
        "filter=RUNNING",
        Value::Null,
        "not one of",
    );
    bad(
        df,
        "PUT",
        "/v1b3/projects/p/locations/r/jobs/1",
        "",
        json!({"requestedState": "DRAINED"}),
        "not one of",
    );
}

#[test]
fn bigquery_paths_carry_the_service_path() {
    let bq = Service::BigQuery;
    assert_eq!(
        ok(
            bq,
            "POST",
            "/bigquery/v2/projects/p/datasets",
            "",
            json!({"datasetReference": {"projectId": "p", "datasetId": "d"}, "location": "US", "labels": {"a": "b"}})
        ),
        "bigquery.datasets.insert"
    );
    assert_eq!(
        ok(
            bq,
            "POST",
            "/bigquery/v2/projects/p/queries",
            "",
            json!({"query": "SELECT 1", "useLegacySql": false, "maximumBytesBilled": "1000", "timeoutMs": 1000, "formatOptions": {"useInt64Timestamp": true}})
        ),
        "bigquery.jobs.query"
    );
    assert_eq!(
        ok(
            bq,
            "GET",
            "/bigquery/v2/projects/p/queries/job_1",
            "location=US&maxResults=10&formatOptions.useInt64Timestamp=true",
            Value::Null
        ),
        "bigquery.jobs.getQueryResults"
    );
    assert_eq!(
        ok(
            bq,
            "POST",
            "/bigquery/v2/projects/p/datasets/d/tables/t/insertAll",
            "",
            json!({"rows": [{"insertId": "1", "json": {"a": 1, "b": [1, "x"]}}]})
        ),
        "bigquery.tabledata.insertAll"
    );
    bad(
        bq,
        "POST",
        "/bigquery/v2/projects/p/queries",
        "",
        json!({"query": "SELECT 1", "maximumBytesBilled": 1000}),
        "64-bit integers are JSON strings",
    );
    bad(
        bq,
        "POST",
        "/bigquery/v2/projects/p/datasets/d/tables",
        "",
        json!({"schema": {"fields": [{"name": "a", "typ": "STRING"}]}}),
        "schema.fields[0]",
    );
    bad(
        bq,
        "POST",
        "/projects/p/datasets",
        "",
        json!({}),
        "no method of this API",
    );
}

#[test]
fn storage_routes_raw_segments_uploads_and_required_query() {
    let gcs = Service::Storage;
    assert_eq!(
        ok(
            gcs,
            "POST",
            "/storage/v1/b",
            "project=p",
            json!({"name": "b", "labels": {"a": "b"}, "lifecycle": {"rule": [{"action": {"type": "Delete"}, "condition": {"age": 7}}]}})
        ),
        "storage.buckets.insert"
    );
    bad(
        gcs,
        "POST",
        "/storage/v1/b",
        "",
        json!({"name": "b"}),
        "missing required query parameter \"project\"",
    );
    // `name` is required on insert by annotation.
    bad(
        gcs,
        "POST",
        "/storage/v1/b",
        "project=p",
        json!({"location": "US"}),
        "field \"name\" is required",
    );
    let m = gcs
        .discovery()
        .validate("DELETE", "/storage/v1/b/b/o/dir%2Ffile.txt", "", b"")
        .unwrap();
    assert_eq!(
        (m.id.as_str(), m.param("object")),
        ("storage.objects.delete", "dir/file.txt")
    );
    let up = gcs
        .discovery()
        .validate(
            "POST",
            "/upload/storage/v1/b/b/o",
            "uploadType=media&name=x",
            b"raw bytes",
        )
        .unwrap();
    assert_eq!((up.id.as_str(), up.media), ("storage.objects.insert", true));
    bad(
        gcs,
        "GET",
        "/storage/v1/b/b/o",
        "maxResults=-1",
        Value::Null,
        "maxResults",
    );
}

#[test]
fn service_usage_and_resource_manager() {
    let su = Service::ServiceUsage;
    let m = su
        .discovery()
        .validate(
            "GET",
            "/v1/projects/p/services:batchGet",
            "names=projects/p/services/a&names=projects/p/services/b",
            b"",
        )
        .unwrap();
    assert_eq!(m.id, "serviceusage.services.batchGet");
    assert_eq!(m.param("parent"), "projects/p");
    assert_eq!(m.query_values("names").len(), 2);
    assert_eq!(
        ok(
            su,
            "GET",
            "/v1/projects/p/services/pubsub.googleapis.com",
            "",
            Value::Null
        ),
        "serviceusage.services.get"
    );
    bad(
        su,
        "POST",
        "/v1/projects/p/services:batchEnable",
        "",
        json!({"serviceIds": "pubsub"}),
        "expected an array",
    );

    let crm = Service::ResourceManager;
    let m = crm
        .discovery()
        .validate("GET", "/v1/projects/my-proj", "", b"")
        .unwrap();
    assert_eq!(
        (m.id.as_str(), m.param("projectId")),
        ("cloudresourcemanager.projects.get", "my-proj")
    );
    bad(
        crm,
        "GET",
        "/v1/projects/my-proj",
        "view=FULL",
        Value::Null,
        "unknown query parameter",
    );
}

#[test]
fn problems_are_capped() {
    let many: Vec<Value> = (0..500).map(|_| json!({"data": 1})).collect();
    let err = check(
        Service::PubSub,
        "POST",
        "/v1/projects/p/topics/t:publish",
        "",
        json!({"messages": many}),
    )
    .unwrap_err();
    assert!(err.problems.len() <= 40);
}

#[test]
fn null_means_unset_and_responses_can_be_checked() {
    ok(
        Service::PubSub,
        "PUT",
        "/v1/projects/p/topics/t",
        "",
        json!({"labels": null}),
    );
    let d = Service::PubSub.discovery();
    assert!(
        d.validate_response(
            "pubsub.projects.topics.publish",
            &json!({"messageIds": ["1"]})
        )
        .is_empty()
    );
    assert!(
        !d.validate_response("pubsub.projects.topics.publish", &json!({"ids": ["1"]}))
            .is_empty()
    );
}
