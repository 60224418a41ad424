//! The fakes moving data into bqemulator: a Dataflow template job delivering and
//! dead-lettering, BigQuery subscriptions, drain waiting for the backlog, cancel stopping.

#[path = "../common/mod.rs"]
mod common;
mod env;

use std::time::Duration;

use env::{data, world};
use gcp_fakes::{DataflowTiming, DeliveryStats, FaultKind, FaultRule, Faults};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn sales_fields() -> Value {
    json!([
        {"name": "transaction_id", "type": "STRING", "mode": "REQUIRED"},
        {"name": "timestamp", "type": "TIMESTAMP", "mode": "REQUIRED"},
        {"name": "quantity", "type": "INTEGER"},
        {"name": "unit_price", "type": "NUMERIC", "precision": "18", "scale": "2"},
    ])
}

fn sale(i: usize) -> Value {
    let event = json!({
        "transaction_id": format!("T{i}"),
        "timestamp": "2026-11-27T15:04:05.123456Z",
        "quantity": (i % 5) + 1,
        "unit_price": "19.99",
    });
    data(event.to_string().as_bytes())
}

#[tokio::test]
async fn a_job_delivers_valid_rows_and_dead_letters_each_malformed_kind() {
    let w = world(DataflowTiming::default(), true);
    w.table("sales", sales_fields()).await;
    w.topic("events").await;
    w.subscription("events-df", json!({"topic": w.topic_name("events")}))
        .await;
    // Faults meant for the client do not touch deliveries.
    w.fakes.set_faults_for(
        "bigquery",
        Faults::none().with_rule(FaultRule::always(FaultKind::Unavailable)),
    );
    w.fakes.clear_log();
    // The dead-letter table does not exist yet: the job creates it, as the template does.
    let job = w.launch("events-df", "sales", Some("sales_dl")).await;

    // Published while the job is still PENDING: delivered once it runs.
    let malformed: [(&[u8], &str); 7] = [
        (
            br#"{"transaction_id":"T900","timestamp":"2026-"#,
            "invalid JSON",
        ),
        (b"\xff\xfe\x00garbage\n\x80", "invalid JSON"),
        (
            br#"{"timestamp":"2026-11-27T15:04:05Z","quantity":1}"#,
            "missing required field: transaction_id",
        ),
        (
            br#"{"transaction_id":"T901","timestamp":"2026-11-27T15:04:05Z","quantity":"two"}"#,
            "field quantity",
        ),
        (
            br#"{"transaction_id":"T902","timestamp":"2026-13-45T99:00:00Z"}"#,
            "field timestamp",
        ),
        (
            br#"{"transaction_id":"T903","timestamp":"2026-11-27T15:04:05Z","coupon":"BF1"}"#,
            "no such field: coupon",
        ),
        // NUMERIC(18, 2), declared when the table was created (bqemulator does not echo it).
        (
            br#"{"transaction_id":"T904","timestamp":"2026-11-27T15:04:05Z","unit_price":"1.234"}"#,
            "field unit_price",
        ),
    ];
    let mut messages: Vec<Value> = (0..30).map(sale).collect();
    messages.extend(malformed.iter().map(|(m, _)| data(m)));
    w.publish("events", messages).await;

    assert!(
        w.fakes.wait_delivered(WAIT),
        "{:?}",
        w.fakes.delivery_stats()
    );
    let key = format!("{}.ds.sales", w.project);
    let stats = w.fakes.delivery_stats()[&key].clone();
    assert_eq!(
        (stats.delivered, stats.dead_lettered, stats.failed),
        (30, 7, 0),
        "{stats:?}"
    );
    assert_eq!(w.fakes.delivered(&format!("{}:ds.sales", w.project)), 30);
    assert_eq!(w.fakes.dead_lettered("ds.sales"), 7);
    assert_eq!(w.count("sales").await, 30);
    let rows = w
        .query(&format!(
            "SELECT SUM(quantity), MIN(unit_price) FROM `{}.ds.sales`",
            w.project
        ))
        .await;
    assert_eq!(rows[0][0], "90");
    assert!(
        rows[0][1].as_str().unwrap().starts_with("19.99"),
        "{rows:?}"
    );

    let dead = w
        .query(&format!(
            "SELECT payloadString, payloadBytes, errorMessage, ARRAY_LENGTH(attributes), timestamp IS NOT NULL FROM `{}.ds.sales_dl`",
            w.project
        ))
        .await;
    assert_eq!(dead.len(), 7);
    use base64::Engine;
    for (payload, reason) in malformed {
        let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
        let row = dead
            .iter()
            .find(|r| r[1] == encoded.as_str())
            .unwrap_or_else(|| panic!("{payload:?} not dead-lettered: {dead:?}"));
        assert_eq!(row[0], String::from_utf8_lossy(payload).as_ref());
        let message = row[2].as_str().unwrap();
        assert!(message.contains(reason), "{message} lacks {reason}");
        assert_eq!((&row[3], &row[4]), (&json!("0"), &json!("true")));
    }

    // Deliveries were not the client's requests.
    let seen: Vec<_> = w
        .fakes
        .requests()
        .into_iter()
        .filter(|r| r.server == "bigquery")
        .collect();
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(w.state(&job).await, "JOB_STATE_RUNNING");
    w.fakes.assert_no_violations();
}

#[tokio::test]
async fn bigquery_subscriptions_deliver_and_dead_letter_to_their_topic() {
    // Messages kept, so the pull subscription on the dead-letter topic queues them.
    let w = world(DataflowTiming::default(), true);
    let mut fields = sales_fields();
    for (name, ty) in [
        ("subscription_name", "STRING"),
        ("message_id", "STRING"),
        ("publish_time", "TIMESTAMP"),
        ("attributes", "STRING"),
    ] {
        fields
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "type": ty}));
    }
    w.table("with_meta", fields).await;
    w.table("strict", sales_fields()).await;
    for t in ["events", "events-dl"] {
        w.topic(t).await;
    }
    // A pull subscription on the dead-letter topic, to read what was forwarded.
    w.subscription("dl-pull", json!({"topic": w.topic_name("events-dl")}))
        .await;
    let p = &w.project;
    w.subscription(
        "to-bq",
        json!({
            "topic": w.topic_name("events"),
            "bigqueryConfig": {"table": format!("{p}.ds.with_meta"), "useTableSchema": true,
                               "dropUnknownFields": true, "writeMetadata": true},
            "deadLetterPolicy": {"deadLetterTopic": w.topic_name("events-dl"), "maxDeliveryAttempts": 5},
        }),
    )
    .await;
    w.subscription(
        "to-bq-strict",
        json!({
            "topic": w.topic_name("events"),
            "bigqueryConfig": {"table": format!("{p}.ds.strict"), "useTableSchema": true},
        }),
    )
    .await;

    // Pub/Sub's service agent may move messages of to-bq to the dead-letter topic.
    let agent = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com";
    for (path, role) in [
        (
            format!("/v1/projects/{p}/topics/events-dl:setIamPolicy"),
            "roles/pubsub.publisher",
        ),
        (
            format!("/v1/projects/{p}/subscriptions/to-bq:setIamPolicy"),
            "roles/pubsub.subscriber",
        ),
    ] {
        let policy = json!({"policy": {"bindings": [{"role": role, "members": [agent]}]}});
        assert_eq!(w.ps.call("POST", &path, Some(&policy)).await.status, 200);
    }

    let mut messages: Vec<Value> = (0..10).map(sale).collect();
    // Dropped key with dropUnknownFields; refused by the strict subscription.
    messages.push(data(
        br#"{"transaction_id":"T50","timestamp":"2026-11-27 15:04:05","coupon":"X"}"#,
    ));
    let mut wrong =
        data(br#"{"transaction_id":"T51","timestamp":"2026-11-27T15:04:05Z","quantity":"two"}"#);
    wrong["attributes"] = json!({"event_type": "sale"});
    messages.push(wrong);
    w.publish("events", messages).await;

    assert!(
        w.fakes.wait_delivered(WAIT),
        "{:?}",
        w.fakes.delivery_stats()
    );
    let stats = w.fakes.delivery_stats();
    let with_meta = &stats[&format!("{p}.ds.with_meta")];
    assert_eq!(
        (
            with_meta.delivered,
            with_meta.dead_lettered,
            with_meta.undelivered
        ),
        (11, 1, 0),
        "{with_meta:?}"
    );
    let strict = &stats[&format!("{p}.ds.strict")];
    assert_eq!(
        (strict.delivered, strict.dead_lettered, strict.undelivered),
        (10, 0, 2),
        "{strict:?}"
    );
    assert_eq!(w.count("with_meta").await, 11);
    assert_eq!(w.count("strict").await, 10);
    let meta = w
        .query(&format!(
            "SELECT subscription_name, message_id, publish_time IS NOT NULL FROM `{p}.ds.with_meta` WHERE transaction_id = 'T50'"
        ))
        .await;
    assert_eq!(
        meta[0][0],
        format!("projects/{p}/subscriptions/to-bq").as_str()
    );
    assert!(meta[0][1].as_str().is_some_and(|id| !id.is_empty()));

    // The wrong-typed message went to the dead-letter topic, with Pub/Sub's attributes.
    let path = format!("/v1/projects/{p}/subscriptions/dl-pull:pull");
    let r =
        w.ps.call("POST", &path, Some(&json!({"maxMessages": 10})))
            .await;
    let received = r.body["receivedMessages"].as_array().unwrap();
    assert_eq!(received.len(), 1, "{:?}", r.body);
    let attributes = &received[0]["message"]["attributes"];
    assert_eq!(attributes["event_type"], "sale");
    assert_eq!(
        attributes["CloudPubSubDeadLetterSourceSubscription"],
        "to-bq"
    );
    w.fakes.assert_no_violations();
}

#[tokio::test]
async fn a_drain_delivers_the_backlog_before_it_ends() {
    // Drain "takes no time", but must still wait for the backlog; messages are not kept,
    // so only the job's input queues them.
    let w = world(DataflowTiming::instant(), false);
    w.table("sales", sales_fields()).await;
    w.topic("events").await;
    w.subscription("events-df", json!({"topic": w.topic_name("events")}))
        .await;
    let job = w.launch("events-df", "sales", None).await;
    w.until_state(&job, "JOB_STATE_RUNNING").await;
    const N: usize = 3000;
    w.publish("events", (0..N).map(sale).collect()).await;
    w.request_state(&job, "JOB_STATE_DRAINED").await;
    // Published after the drain request: left in the subscription.
    w.publish("events", (N..N + 10).map(sale).collect()).await;

    let deadline = std::time::Instant::now() + WAIT;
    let mut saw_draining = false;
    loop {
        let state = w.state(&job).await;
        if state == "JOB_STATE_DRAINED" {
            break;
        }
        assert_eq!(state, "JOB_STATE_DRAINING");
        saw_draining = true;
        assert!(std::time::Instant::now() < deadline, "drain never ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Everything from before the request, at the moment the job reports DRAINED.
    assert_eq!(w.fakes.delivered("ds.sales"), N);
    assert!(saw_draining, "a drain of {N} messages ended at once");
    assert!(w.fakes.wait_delivered(WAIT));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.fakes.delivered("ds.sales"), N);
    assert_eq!(w.count("sales").await, N);
}

#[tokio::test]
async fn a_cancelled_job_stops_delivering() {
    let w = world(DataflowTiming::instant(), true);
    w.table("sales", sales_fields()).await;
    w.topic("events").await;
    w.subscription("events-df", json!({"topic": w.topic_name("events")}))
        .await;
    let job = w.launch("events-df", "sales", None).await;
    w.publish("events", (0..5).map(sale).collect()).await;
    assert!(w.fakes.wait_delivered(WAIT));
    assert_eq!(w.fakes.delivered("ds.sales"), 5);

    w.request_state(&job, "JOB_STATE_CANCELLED").await;
    w.publish("events", (5..10).map(sale).collect()).await;
    // Nothing left for a consumer to take: the cancelled job is none.
    assert!(w.fakes.wait_delivered(Duration::from_millis(100)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(w.state(&job).await, "JOB_STATE_CANCELLED");
    assert_eq!(
        w.fakes.delivery_stats()[&format!("{}.ds.sales", w.project)],
        DeliveryStats {
            delivered: 5,
            ..DeliveryStats::default()
        }
    );
    assert_eq!(w.count("sales").await, 5);
    // The later messages wait in the subscription, as they would on Pub/Sub.
    let path = format!("/v1/projects/{}/subscriptions/events-df:pull", w.project);
    let r =
        w.ps.call("POST", &path, Some(&json!({"maxMessages": 100})))
            .await;
    assert_eq!(r.body["receivedMessages"].as_array().map_or(0, Vec::len), 5);
}

#[tokio::test]
async fn a_missing_table_fails_the_messages_instead_of_retrying_forever() {
    let w = world(DataflowTiming::instant(), true);
    w.topic("events").await;
    w.subscription("events-df", json!({"topic": w.topic_name("events")}))
        .await;
    let job = w.launch("events-df", "nowhere", None).await;
    w.publish("events", (0..3).map(sale).collect()).await;
    assert!(w.fakes.wait_delivered(WAIT));
    let stats = w.fakes.delivery_stats()[&format!("{}.ds.nowhere", w.project)].clone();
    assert_eq!((stats.delivered, stats.failed), (0, 3), "{stats:?}");
    assert!(stats.last_error.unwrap().contains("not found"));
    // A drain is not held up by messages that failed.
    w.request_state(&job, "JOB_STATE_DRAINED").await;
    w.until_state(&job, "JOB_STATE_DRAINED").await;
}
