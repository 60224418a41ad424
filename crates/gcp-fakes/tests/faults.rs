//! Fault injection: exact schedules, resets, lost responses, slowness, latency and rounds.

mod common;

use std::time::{Duration, Instant};

use common::Client;
use gcp_fakes::{Config, Fakes, FaultKind, FaultRule, Faults, Service};
use serde_json::json;

fn start(faults: Faults) -> (Fakes, Client) {
    let fakes = Fakes::start(Config {
        faults,
        ..Config::new("p")
    })
    .unwrap();
    // No connection reuse, so a reset cannot be mistaken for a stale pooled connection.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let client = Client::with_http(&fakes.pubsub_url(), Service::PubSub, http);
    (fakes, client)
}

#[tokio::test]
async fn a_schedule_produces_exactly_the_configured_faults() {
    let faults = Faults::none()
        .with_rule(FaultRule::nth(FaultKind::Unavailable, [1, 3]).only(["*.topics.create"]))
        .with_rule(FaultRule::nth(FaultKind::TooManyRequests, [2]).only(["*.get"]))
        .with_rule(
            FaultRule::nth(FaultKind::RateLimitExceeded, [1]).only(["pubsub.projects.topics.list"]),
        );
    let (fakes, ps) = start(faults);
    let mut creates = Vec::new();
    for t in ["topic-a", "topic-b", "topic-c", "topic-d"] {
        creates.push(
            ps.call(
                "PUT",
                &format!("/v1/projects/p/topics/{t}"),
                Some(&json!({})),
            )
            .await
            .status,
        );
    }
    assert_eq!(creates, [503, 200, 503, 200]);
    let mut gets = Vec::new();
    for _ in 0..3 {
        gets.push(
            ps.call("GET", "/v1/projects/p/topics/topic-b", None)
                .await
                .status,
        );
    }
    assert_eq!(gets, [200, 429, 200]);
    let r = ps.call("GET", "/v1/projects/p/topics", None).await;
    assert_eq!(
        (r.status, r.body["error"]["errors"][0]["reason"].as_str()),
        (403, Some("rateLimitExceeded"))
    );
    let r503 = ps.call("GET", "/v1/projects/p/topics", None).await;
    assert_eq!(r503.status, 200);

    // Faulted creates were not applied.
    assert!(fakes.topic("topic-a").is_none() && fakes.topic("topic-b").is_some());
    let stats = fakes.stats();
    let faults: Vec<(&str, usize)> = stats.faults.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(faults, [("403-rate-limit", 1), ("429", 1), ("503", 2)]);
    assert_eq!(stats.by_method["pubsub.projects.topics.create"], 4);
    let faulted: Vec<Option<FaultKind>> = fakes
        .requests_to("*.create")
        .iter()
        .map(|r| r.fault)
        .collect();
    assert_eq!(
        faulted,
        [
            Some(FaultKind::Unavailable),
            None,
            Some(FaultKind::Unavailable),
            None
        ]
    );
    fakes.assert_no_violations();
}

#[tokio::test]
async fn a_reset_applies_nothing_and_a_lost_response_applies_the_request() {
    let faults = Faults::none()
        .with_rule(FaultRule::nth(FaultKind::ConnectionReset, [1]).only(["*.create"]))
        .with_rule(FaultRule::nth(FaultKind::ResponseLost, [2]).only(["*.create"]));
    let (fakes, ps) = start(faults);
    let err = ps
        .try_call("PUT", "/v1/projects/p/topics/reset", Some(&json!({})))
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(
        ps.call("GET", "/v1/projects/p/topics/reset", None)
            .await
            .status,
        404
    );

    let err = ps
        .try_call("PUT", "/v1/projects/p/topics/lost", Some(&json!({})))
        .await;
    assert!(err.is_err());
    assert_eq!(
        ps.call("GET", "/v1/projects/p/topics/lost", None)
            .await
            .status,
        200
    );
    // The retry a client makes sees the 409 that tells it its first attempt worked.
    assert_eq!(
        ps.call("PUT", "/v1/projects/p/topics/lost", Some(&json!({})))
            .await
            .status,
        409
    );

    let statuses: Vec<Option<u16>> = fakes
        .requests_to("*.create")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [None, None, Some(409)]);
    assert_eq!(fakes.stats().faults.values().sum::<usize>(), 2);
}

#[tokio::test]
async fn a_slow_response_outlasts_the_client_timeout_but_is_applied() {
    let faults = Faults::none()
        .with_rule(FaultRule::always(FaultKind::Slow(Duration::from_secs(2))).only(["*.create"]));
    let fakes = Fakes::start(Config {
        faults,
        ..Config::new("p")
    })
    .unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let ps = Client::with_http(&fakes.pubsub_url(), Service::PubSub, http);
    let err = ps
        .try_call("PUT", "/v1/projects/p/topics/slow", Some(&json!({})))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(fakes.topic("slow").is_some());
}

#[tokio::test]
async fn latency_concurrency_and_rounds() {
    let latency = Duration::from_millis(100);
    let (fakes, ps) = start(Faults::none().with_latency(latency));
    let t0 = Instant::now();
    ps.call("PUT", "/v1/projects/p/topics/first", Some(&json!({})))
        .await;
    let parallel = (0..5).map(|i| {
        let ps = &ps;
        async move {
            ps.call(
                "PUT",
                &format!("/v1/projects/p/topics/par-{i}"),
                Some(&json!({})),
            )
            .await
            .status
        }
    });
    let statuses = futures_util::future::join_all(parallel).await;
    assert!(statuses.iter().all(|s| *s == 200));
    ps.call("GET", "/v1/projects/p/topics", None).await;
    let elapsed = t0.elapsed();
    let stats = fakes.stats();
    assert_eq!(stats.rounds, 3, "{:?}", fakes.spans());
    assert_eq!(stats.max_in_flight, 5);
    assert!(
        elapsed >= latency * 3 && elapsed < latency * 6,
        "{elapsed:?}"
    );
    assert_eq!(fakes.spans().len(), 7);
}

#[tokio::test]
async fn probabilities_are_deterministic_per_seed() {
    let run = |seed: u64| async move {
        let faults = Faults::none()
            .with_seed(seed)
            .with_rule(FaultRule::probability(FaultKind::Unavailable, 0.2).only(["*.publish"]));
        let (fakes, ps) = start(faults);
        ps.call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
            .await;
        let mut statuses = Vec::new();
        for _ in 0..200 {
            let body = json!({"messages": [{"data": "eA=="}]});
            statuses.push(
                ps.call("POST", "/v1/projects/p/topics/tee:publish", Some(&body))
                    .await
                    .status,
            );
        }
        let published = fakes.published("tee").len();
        (statuses, published)
    };
    let (a, published) = run(11).await;
    let (b, _) = run(11).await;
    let (c, _) = run(12).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let failed = a.iter().filter(|s| **s == 503).count();
    assert!((20..=60).contains(&failed), "{failed}");
    assert_eq!(published, 200 - failed);
}

#[tokio::test]
async fn faults_can_target_one_server_and_change_at_runtime() {
    let (fakes, ps) = start(Faults::none());
    assert!(fakes.set_faults_for(
        "dataflow",
        Faults::none().with_rule(FaultRule::always(FaultKind::Internal))
    ));
    assert!(!fakes.set_faults_for("nope", Faults::none()));
    assert_eq!(
        ps.call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
            .await
            .status,
        200
    );
    let df = Client::new(&fakes.dataflow_url(), Service::Dataflow);
    let r = df
        .call("GET", "/v1b3/projects/p/locations/r/jobs", None)
        .await;
    assert_eq!((r.status, r.error_status()), (500, "INTERNAL"));
    fakes.set_faults(Faults::none());
    assert_eq!(
        df.call("GET", "/v1b3/projects/p/locations/r/jobs", None)
            .await
            .status,
        200
    );
}

#[test]
fn a_reset_is_a_tcp_rst() {
    use std::io::{Read, Write};
    let faults = Faults::none().with_rule(FaultRule::always(FaultKind::ConnectionReset));
    let fakes = Fakes::start(Config {
        faults,
        ..Config::new("p")
    })
    .unwrap();
    let addr = fakes.pubsub_host();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /v1/projects/p/topics/tee HTTP/1.1\r\nhost: {addr}\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let err = stream.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}
