//! The validating proxy: valid requests reach the upstream unchanged, invalid ones never do,
//! and faults apply in front of the upstream.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use common::Client;
use gcp_fakes::{Config, Fakes, FaultKind, FaultRule, Faults, Service, Upstream};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

/// An upstream that answers every request with what it received, and counts them.
async fn echo_upstream() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let echo = json!({
                                "method": parts.method.as_str(),
                                "pathAndQuery": parts.uri.path_and_query().unwrap().as_str(),
                                "body": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
                                "x-test": parts.headers.get("x-test").map(|v| v.to_str().unwrap()),
                            });
                            log.lock().unwrap().push(echo.clone());
                            let mut resp = http::Response::new(Full::new(bytes::Bytes::from(
                                echo.to_string(),
                            )));
                            *resp.status_mut() = http::StatusCode::CREATED;
                            resp.headers_mut()
                                .insert("x-upstream", "echo".parse().unwrap());
                            Ok::<_, Infallible>(resp)
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn valid_requests_are_forwarded_unchanged_and_invalid_ones_stop_here() {
    let (upstream, seen) = echo_upstream().await;
    let fakes = Fakes::start(Config {
        upstreams: vec![Upstream::new("bigquery", &upstream, Service::BigQuery)],
        ..Config::new("p")
    })
    .unwrap();
    let url = fakes.proxy_url("bigquery");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let query =
        json!({"query": "SELECT 1", "useLegacySql": false, "maximumBytesBilled": "1000000"});
    let resp = http
        .post(format!(
            "{url}/bigquery/v2/projects/p/queries?prettyPrint=false"
        ))
        .header("x-test", "kept")
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.headers()["x-upstream"], "echo");
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["pathAndQuery"],
        "/bigquery/v2/projects/p/queries?prettyPrint=false"
    );
    assert_eq!(echo["body"], query);
    assert_eq!(echo["x-test"], "kept");

    // maximumBytesBilled as a number: stopped by the proxy, never forwarded.
    let bad = json!({"query": "SELECT 1", "maximumBytesBilled": 1000000});
    let resp = http
        .post(format!("{url}/bigquery/v2/projects/p/queries"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let v = fakes.violations();
    assert_eq!((v.len(), v[0].server.as_str()), (1, "bigquery"));
    assert_eq!(v[0].method_id.as_deref(), Some("bigquery.jobs.query"));
    assert_eq!(
        fakes
            .env()
            .iter()
            .find(|(k, _)| k == "BIGQUERY_EMULATOR_HOST")
            .map(|(_, v)| v.as_str()),
        Some(url.as_str())
    );
}

#[tokio::test]
async fn faults_apply_in_front_of_the_upstream() {
    // The upstream is another fake: a real Pub/Sub behind the proxy.
    let behind = Fakes::start(Config::new("p")).unwrap();
    let fakes = Fakes::start(Config {
        upstreams: vec![Upstream::new(
            "pubsub-proxy",
            &behind.pubsub_url(),
            Service::PubSub,
        )],
        faults: Faults::none()
            .with_rule(FaultRule::nth(FaultKind::Unavailable, [1]).only(["*.create"])),
        ..Config::new("p")
    })
    .unwrap();
    let ps = Client::new(&fakes.proxy_url("pubsub-proxy"), Service::PubSub);
    assert_eq!(
        ps.call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
            .await
            .status,
        503
    );
    assert!(behind.topic("tee").is_none());
    assert_eq!(
        ps.call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
            .await
            .status,
        200
    );
    let r = ps
        .call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
        .await;
    assert_eq!((r.status, r.error_status()), (409, "ALREADY_EXISTS"));
    assert!(behind.topic("tee").is_some());
    fakes.assert_no_violations();
    behind.assert_no_violations();
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let fakes = Fakes::start(Config {
        upstreams: vec![Upstream::new(
            "storage",
            "http://127.0.0.1:9",
            Service::Storage,
        )],
        ..Config::new("p")
    })
    .unwrap();
    let gcs = Client::new(&fakes.proxy_url("storage"), Service::Storage);
    let r = gcs.call("GET", "/storage/v1/b/some-bucket", None).await;
    assert_eq!((r.status, r.error_status()), (502, "UNAVAILABLE"));
}

#[tokio::test]
async fn a_bucket_insert_keeps_its_labels_even_when_the_upstream_drops_them() {
    // gcp-storage-emulator keeps only the name of an inserted bucket; Cloud Storage applies
    // labels and lifecycle with the create. The proxy completes the insert with a PATCH.
    let (upstream, seen) = echo_upstream().await;
    let fakes = Fakes::start(Config {
        upstreams: vec![Upstream::new("storage", &upstream, Service::Storage)],
        ..Config::new("p")
    })
    .unwrap();
    let gcs = Client::new(&fakes.proxy_url("storage"), Service::Storage);
    let bucket = json!({
        "name": "p-tmp",
        "labels": {"managed-by": "bqflow"},
        "lifecycle": {"rule": [{"action": {"type": "Delete"}, "condition": {"age": 7}}]},
    });
    let r = gcs
        .call("POST", "/storage/v1/b?project=p", Some(&bucket))
        .await;
    assert_eq!(r.status, 201);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0]["method"].as_str(), seen[0]["pathAndQuery"].as_str()),
        (Some("POST"), Some("/storage/v1/b?project=p"))
    );
    assert_eq!(
        (seen[1]["method"].as_str(), seen[1]["pathAndQuery"].as_str()),
        (Some("PATCH"), Some("/storage/v1/b/p-tmp"))
    );
    assert_eq!(seen[1]["body"]["labels"], bucket["labels"]);
    assert_eq!(seen[1]["body"]["lifecycle"], bucket["lifecycle"]);
    assert!(seen[1]["body"].get("name").is_none());
    // What the client sees is the completed bucket (here: the echo of the PATCH).
    assert_eq!(r.body["method"], "PATCH");
    fakes.assert_no_violations();
}
