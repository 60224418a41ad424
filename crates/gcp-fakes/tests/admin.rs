//! Fake Service Usage and Resource Manager, and what a disabled API looks like.

mod common;

use common::Client;
use gcp_fakes::{Config, Fakes, Service};
use serde_json::json;

#[tokio::test]
async fn services_are_enabled_unless_configured_off() {
    let fakes = Fakes::start(Config {
        disabled_services: vec!["dataflow.googleapis.com".into()],
        ..Config::new("p")
    })
    .unwrap();
    let su = Client::new(&fakes.serviceusage_url(), Service::ServiceUsage);
    let r = su
        .call(
            "GET",
            "/v1/projects/p/services:batchGet?names=projects/p/services/pubsub.googleapis.com&names=projects/p/services/dataflow.googleapis.com",
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let services = r.body["services"].as_array().unwrap();
    assert_eq!(services[0]["state"], "ENABLED");
    assert_eq!(
        services[0]["name"],
        "projects/123456789012/services/pubsub.googleapis.com"
    );
    assert_eq!(services[1]["state"], "DISABLED");

    let too_many: Vec<String> = (0..31)
        .map(|i| format!("names=projects/p/services/s{i}"))
        .collect();
    let r = su
        .call(
            "GET",
            &format!("/v1/projects/p/services:batchGet?{}", too_many.join("&")),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = su
        .call(
            "GET",
            "/v1/projects/p/services/bigquery.googleapis.com",
            None,
        )
        .await;
    assert_eq!(r.body["state"], "ENABLED");

    // The disabled API's own server refuses calls, as Google does.
    let df = Client::new(&fakes.dataflow_url(), Service::Dataflow);
    let r = df
        .call("GET", "/v1b3/projects/p/locations/us-central1/jobs", None)
        .await;
    assert_eq!((r.status, r.error_status()), (403, "PERMISSION_DENIED"));
    assert_eq!(r.body["error"]["details"][0]["reason"], "SERVICE_DISABLED");

    let r = su
        .call(
            "POST",
            "/v1/projects/p/services/dataflow.googleapis.com:enable",
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.body["done"], true);
    assert_eq!(
        df.call("GET", "/v1b3/projects/p/locations/us-central1/jobs", None)
            .await
            .status,
        200
    );

    fakes.set_service_enabled("pubsub.googleapis.com", false);
    let enabled = su
        .call("GET", "/v1/projects/p/services?filter=state:ENABLED", None)
        .await;
    let names: Vec<&str> = enabled.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["config"]["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"pubsub.googleapis.com") && names.contains(&"dataflow.googleapis.com")
    );
    fakes.assert_no_violations();
}

#[tokio::test]
async fn resource_manager_gives_the_project_number() {
    let fakes = Fakes::start(Config {
        project_number: "42".into(),
        ..Config::new("my-proj")
    })
    .unwrap();
    let crm = Client::new(&fakes.resourcemanager_url(), Service::ResourceManager);
    let r = crm.call("GET", "/v1/projects/my-proj", None).await;
    assert_eq!(
        (r.status, r.body["projectNumber"].as_str()),
        (200, Some("42"))
    );
    let r = crm.call("GET", "/v1/projects/someone-else", None).await;
    assert_eq!((r.status, r.error_status()), (403, "PERMISSION_DENIED"));
    fakes.assert_no_violations();
}
