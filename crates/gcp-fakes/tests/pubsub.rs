//! Fake Pub/Sub over HTTP.

mod common;

use common::Client;
use gcp_fakes::{Config, Fakes, Service};
use serde_json::{Value, json};

fn start() -> (Fakes, Client) {
    let fakes = Fakes::start(Config::new("p")).unwrap();
    let client = Client::new(&fakes.pubsub_url(), Service::PubSub);
    (fakes, client)
}

#[tokio::test]
async fn topic_create_conflict_get_patch_list_delete() {
    let (fakes, ps) = start();
    let topic = json!({"labels": {"app": "bqflow"}, "messageRetentionDuration": "86400s"});
    let r = ps
        .call("PUT", "/v1/projects/p/topics/events", Some(&topic))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "projects/p/topics/events");
    assert_eq!(r.body["labels"]["app"], "bqflow");

    let r = ps
        .call("PUT", "/v1/projects/p/topics/events", Some(&topic))
        .await;
    assert_eq!((r.status, r.error_status()), (409, "ALREADY_EXISTS"));
    assert_eq!(
        r.error_message(),
        "Resource already exists in the project (resource=events)."
    );
    assert_eq!(r.body["error"]["code"], 409);

    let r = ps.call("GET", "/v1/projects/p/topics/nope", None).await;
    assert_eq!((r.status, r.error_status()), (404, "NOT_FOUND"));
    assert_eq!(r.error_message(), "Resource not found (resource=nope).");

    // A patch needs a mask, and applies only the masked fields.
    let patch = json!({"topic": {"labels": {"app": "v2"}, "messageRetentionDuration": "700s"}});
    let r = ps
        .call("PATCH", "/v1/projects/p/topics/events", Some(&patch))
        .await;
    assert_eq!((r.status, r.error_status()), (400, "INVALID_ARGUMENT"));
    let patch = json!({"topic": {"labels": {"app": "v2"}, "messageRetentionDuration": "700s"}, "updateMask": "labels"});
    let r = ps
        .call("PATCH", "/v1/projects/p/topics/events", Some(&patch))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["labels"]["app"], "v2");
    assert_eq!(r.body["messageRetentionDuration"], "86400s");
    let bad_mask = json!({"topic": {}, "updateMask": "name"});
    assert_eq!(
        ps.call("PATCH", "/v1/projects/p/topics/events", Some(&bad_mask))
            .await
            .status,
        400
    );
    let missing = json!({"topic": {}, "updateMask": "labels"});
    assert_eq!(
        ps.call("PATCH", "/v1/projects/p/topics/gone", Some(&missing))
            .await
            .status,
        404
    );

    for t in ["a-topic", "b-topic"] {
        assert_eq!(
            ps.call(
                "PUT",
                &format!("/v1/projects/p/topics/{t}"),
                Some(&json!({}))
            )
            .await
            .status,
            200
        );
    }
    let page1 = ps
        .call("GET", "/v1/projects/p/topics?pageSize=2", None)
        .await;
    assert_eq!(page1.body["topics"].as_array().unwrap().len(), 2);
    let token = page1.body["nextPageToken"].as_str().unwrap();
    let page2 = ps
        .call(
            "GET",
            &format!("/v1/projects/p/topics?pageSize=2&pageToken={token}"),
            None,
        )
        .await;
    assert_eq!(page2.body["topics"].as_array().unwrap().len(), 1);
    assert!(page2.body.get("nextPageToken").is_none());
    assert_eq!(
        ps.call("GET", "/v1/projects/other/topics", None).await.body,
        json!({})
    );

    // Subscriptions survive their topic.
    let sub = json!({"topic": "projects/p/topics/events"});
    assert_eq!(
        ps.call("PUT", "/v1/projects/p/subscriptions/ess", Some(&sub))
            .await
            .status,
        200
    );
    let r = ps
        .call("DELETE", "/v1/projects/p/topics/events", None)
        .await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    assert_eq!(
        ps.call("GET", "/v1/projects/p/topics/events", None)
            .await
            .status,
        404
    );
    assert_eq!(
        ps.call("DELETE", "/v1/projects/p/topics/events", None)
            .await
            .status,
        404
    );
    let r = ps
        .call("GET", "/v1/projects/p/subscriptions/ess", None)
        .await;
    assert_eq!(r.body["topic"], "_deleted-topic_");
    fakes.assert_no_violations();
}

#[tokio::test]
async fn subscription_defaults_rules_and_patch() {
    let (fakes, ps) = start();
    ps.call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
        .await;
    let r = ps
        .call(
            "PUT",
            "/v1/projects/p/subscriptions/plain",
            Some(&json!({"topic": "projects/p/topics/tee"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["expirationPolicy"], json!({"ttl": "2678400s"}));
    assert_eq!(r.body["ackDeadlineSeconds"], 10);
    assert_eq!(r.body["messageRetentionDuration"], "604800s");
    assert_eq!(r.body["state"], "ACTIVE");

    let never = json!({"topic": "projects/p/topics/tee", "expirationPolicy": {}, "ackDeadlineSeconds": 60,
        "bigqueryConfig": {"table": "p.ds.events", "useTableSchema": true, "writeMetadata": true}});
    let r = ps
        .call("PUT", "/v1/projects/p/subscriptions/to-bq", Some(&never))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["expirationPolicy"], json!({}));
    assert_eq!(r.body["ackDeadlineSeconds"], 60);
    assert_eq!(r.body["bigqueryConfig"]["state"], "ACTIVE");

    let r = ps
        .call("PUT", "/v1/projects/p/subscriptions/to-bq", Some(&never))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.error_message(),
        "Resource already exists in the project (resource=to-bq)."
    );
    let r = ps
        .call(
            "PUT",
            "/v1/projects/p/subscriptions/sub-x",
            Some(&json!({"topic": "projects/p/topics/missing"})),
        )
        .await;
    assert_eq!(
        (r.status, r.error_message()),
        (404, "Resource not found (resource=missing).")
    );

    let both = json!({"topic": "projects/p/topics/tee", "pushConfig": {"pushEndpoint": "https://example.com/push"},
        "bigqueryConfig": {"table": "p.ds.t"}});
    assert_eq!(
        ps.call("PUT", "/v1/projects/p/subscriptions/both", Some(&both))
            .await
            .status,
        400
    );
    let colon = json!({"topic": "projects/p/topics/tee", "bigqueryConfig": {"table": "p:ds.t"}});
    assert_eq!(
        ps.call("PUT", "/v1/projects/p/subscriptions/colon", Some(&colon))
            .await
            .status,
        400
    );
    let short_ttl = json!({"topic": "projects/p/topics/tee", "expirationPolicy": {"ttl": "3600s"}});
    assert_eq!(
        ps.call(
            "PUT",
            "/v1/projects/p/subscriptions/short",
            Some(&short_ttl)
        )
        .await
        .status,
        400
    );
    let bad_name = json!({"topic": "projects/p/topics/tee"});
    assert_eq!(
        ps.call(
            "PUT",
            "/v1/projects/p/subscriptions/goog-x",
            Some(&bad_name)
        )
        .await
        .status,
        400
    );

    let patch = json!({"subscription": {"ackDeadlineSeconds": 120, "labels": {"a": "b"}}, "updateMask": "ack_deadline_seconds"});
    let r = ps
        .call("PATCH", "/v1/projects/p/subscriptions/to-bq", Some(&patch))
        .await;
    assert_eq!(r.body["ackDeadlineSeconds"], 120);
    assert!(r.body.get("labels").is_none());
    assert_eq!(r.body["expirationPolicy"], json!({}));
    let move_topic =
        json!({"subscription": {"topic": "projects/p/topics/u"}, "updateMask": "topic"});
    assert_eq!(
        ps.call(
            "PATCH",
            "/v1/projects/p/subscriptions/to-bq",
            Some(&move_topic)
        )
        .await
        .status,
        400
    );

    let list = ps.call("GET", "/v1/projects/p/subscriptions", None).await;
    assert_eq!(list.body["subscriptions"].as_array().unwrap().len(), 2);
    assert_eq!(
        ps.call("DELETE", "/v1/projects/p/subscriptions/plain", None)
            .await
            .status,
        200
    );
    assert_eq!(
        ps.call("GET", "/v1/projects/p/subscriptions/plain", None)
            .await
            .status,
        404
    );
    assert_eq!(
        fakes.subscription("to-bq").unwrap()["ackDeadlineSeconds"],
        120
    );
    fakes.assert_no_violations();
}

fn message(data: &[u8]) -> Value {
    use base64::Engine;
    json!({"data": base64::engine::general_purpose::STANDARD.encode(data), "attributes": {"event_type": "sale"}})
}

#[tokio::test]
async fn publish_limits_ids_and_read_back() {
    let (fakes, ps) = start();
    ps.call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
        .await;
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/topics/tee:publish",
            Some(&json!({"messages": [message(b"one"), message(b"two")]})),
        )
        .await;
    assert_eq!(r.status, 200);
    let ids = r.body["messageIds"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 2);
    let published = fakes.published("tee");
    assert_eq!(published.len(), 2);
    assert_eq!(
        (published[0].data.as_slice(), published[1].data.as_slice()),
        (&b"one"[..], &b"two"[..])
    );
    assert_eq!(published[0].message_id, ids[0].as_str().unwrap());
    assert_eq!(published[0].attributes["event_type"], "sale");

    let many: Vec<Value> = (0..1001)
        .map(|i| message(format!("{i}").as_bytes()))
        .collect();
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/topics/tee:publish",
            Some(&json!({"messages": many})),
        )
        .await;
    assert_eq!((r.status, r.error_status()), (400, "INVALID_ARGUMENT"));
    assert!(
        r.error_message().contains("maximum value is 1000"),
        "{}",
        r.error_message()
    );
    let thousand: Vec<Value> = (0..1000)
        .map(|i| message(format!("{i}").as_bytes()))
        .collect();
    assert_eq!(
        ps.call(
            "POST",
            "/v1/projects/p/topics/tee:publish",
            Some(&json!({"messages": thousand}))
        )
        .await
        .status,
        200
    );

    let big = vec![b'x'; 2_600_000];
    let four: Vec<Value> = (0..4).map(|_| message(&big)).collect();
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/topics/tee:publish",
            Some(&json!({"messages": four})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.error_message().contains("maximum value is 10000000"),
        "{}",
        r.error_message()
    );

    let empty = json!({"messages": [{"orderingKey": "k"}]});
    assert_eq!(
        ps.call("POST", "/v1/projects/p/topics/tee:publish", Some(&empty))
            .await
            .status,
        400
    );
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/topics/nope:publish",
            Some(&json!({"messages": [message(b"x")]})),
        )
        .await;
    assert_eq!((r.status, r.error_status()), (404, "NOT_FOUND"));
    assert_eq!(fakes.published("tee").len(), 1002);
    fakes.assert_no_violations();
}

#[tokio::test]
async fn pull_and_acknowledge() {
    let (fakes, ps) = start();
    ps.call("PUT", "/v1/projects/p/topics/tee", Some(&json!({})))
        .await;
    ps.call(
        "PUT",
        "/v1/projects/p/subscriptions/ess",
        Some(&json!({"topic": "projects/p/topics/tee"})),
    )
    .await;
    ps.call(
        "POST",
        "/v1/projects/p/topics/tee:publish",
        Some(&json!({"messages": [message(b"a"), message(b"b"), message(b"c")]})),
    )
    .await;
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/subscriptions/ess:pull",
            Some(&json!({"maxMessages": 2})),
        )
        .await;
    let received = r.body["receivedMessages"].as_array().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0]["message"]["data"], "YQ==");
    let ack_ids: Vec<Value> = received.iter().map(|m| m["ackId"].clone()).collect();
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/subscriptions/ess:acknowledge",
            Some(&json!({"ackIds": ack_ids})),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!({})));
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/subscriptions/ess:pull",
            Some(&json!({"maxMessages": 10})),
        )
        .await;
    assert_eq!(r.body["receivedMessages"].as_array().unwrap().len(), 1);
    // Leased: nothing more until the ack deadline passes.
    let r = ps
        .call(
            "POST",
            "/v1/projects/p/subscriptions/ess:pull",
            Some(&json!({"maxMessages": 10})),
        )
        .await;
    assert_eq!(r.body, json!({}));
    fakes.assert_no_violations();
}

#[tokio::test]
async fn violations_get_400_and_are_recorded() {
    let (fakes, ps) = start();
    let r = ps
        .call(
            "PUT",
            "/v1/projects/p/topics/tee",
            Some(&json!({"lables": {"a": "b"}})),
        )
        .await;
    assert_eq!((r.status, r.error_status()), (400, "INVALID_ARGUMENT"));
    assert!(
        r.error_message().contains("unknown field \"lables\""),
        "{}",
        r.error_message()
    );
    let r = ps.call("GET", "/v1/projects/p/topicz/t", None).await;
    assert_eq!(r.status, 404);
    let v = fakes.violations();
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0].method_id.as_deref(),
        Some("pubsub.projects.topics.create")
    );
    assert_eq!(v[1].method_id, None);
    // Nothing was created by the rejected request.
    assert!(fakes.topic("tee").is_none());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fakes.assert_no_violations()
    }));
    assert!(caught.is_err());

    let requests = fakes.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body["lables"]["a"], "b");
    assert_eq!(requests[0].status, Some(400));
}

#[tokio::test]
async fn iam_policies_read_modify_write_with_etags() {
    let (fakes, ps) = start();
    ps.call("PUT", "/v1/projects/p/topics/dead", Some(&json!({})))
        .await;
    let get = "/v1/projects/p/topics/dead:getIamPolicy";
    let set = "/v1/projects/p/topics/dead:setIamPolicy";
    let empty = ps.call("GET", get, None).await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.get("bindings").is_none(), "{:?}", empty.body);
    let etag = empty.body["etag"].as_str().unwrap().to_string();

    let binding = json!({"role": "roles/pubsub.publisher", "members": ["serviceAccount:a@b.iam.gserviceaccount.com"]});
    let r = ps
        .call(
            "POST",
            set,
            Some(&json!({"policy": {"bindings": [binding], "etag": etag}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["bindings"][0], binding);
    assert_ne!(r.body["etag"].as_str(), Some(etag.as_str()));
    // A write based on the old read is refused: someone changed the policy in between.
    let stale = ps
        .call(
            "POST",
            set,
            Some(&json!({"policy": {"bindings": [], "etag": etag}})),
        )
        .await;
    assert_eq!((stale.status, stale.error_status()), (409, "ABORTED"));
    assert_eq!(ps.call("GET", get, None).await.body["bindings"][0], binding);
    // Members are `type:id`; the resource must exist.
    let bad =
        json!({"policy": {"bindings": [{"role": "roles/pubsub.publisher", "members": ["a@b"]}]}});
    assert_eq!(ps.call("POST", set, Some(&bad)).await.status, 400);
    let missing = ps
        .call(
            "GET",
            "/v1/projects/p/subscriptions/none:getIamPolicy",
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    fakes.assert_no_violations();
}
