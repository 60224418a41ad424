//! Cloud Monitoring, for the one thing Pub/Sub's own API does not say: how many messages a
//! subscription has not delivered yet (`pubsub.googleapis.com/subscription/num_undelivered_messages`,
//! sampled every minute and visible a few minutes later).

use reqwest::Method;
use serde_json::Value;

use super::api::{Api, ApiError, Request, path_segment};
use super::endpoints::Service;

const UNDELIVERED: &str = "pubsub.googleapis.com/subscription/num_undelivered_messages";

/// The newest sample of the subscription's undelivered messages in the last 10 minutes, or
/// None when Monitoring has none yet.
pub async fn undelivered(
    api: &Api,
    project: &str,
    subscription: &str,
) -> Result<Option<u64>, ApiError> {
    let end = chrono::Utc::now();
    let start = end - chrono::Duration::minutes(10);
    let rfc3339 =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let req = Request::new(
        Service::Monitoring,
        Method::GET,
        format!("v3/projects/{}/timeSeries", path_segment(project)),
    )
    .query(
        "filter",
        format!(
            "metric.type = \"{UNDELIVERED}\" AND resource.labels.subscription_id = \"{subscription}\""
        ),
    )
    .query("interval.startTime", rfc3339(start))
    .query("interval.endTime", rfc3339(end));
    Ok(newest_value(&api.call(&req).await?))
}

/// The newest point of the first series (`timeSeries.list` lists points newest first; int64
/// values come as decimal strings in JSON).
fn newest_value(response: &Value) -> Option<u64> {
    let point = response.pointer("/timeSeries/0/points/0/value")?;
    match point.get("int64Value")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_newest_point_is_read_and_no_series_is_none() {
        let response = json!({ "timeSeries": [{
            "metric": { "type": super::UNDELIVERED },
            "resource": { "type": "pubsub_subscription", "labels": { "subscription_id": "s" } },
            "points": [
                { "interval": { "endTime": "2026-11-27T12:01:00Z" }, "value": { "int64Value": "1523" } },
                { "interval": { "endTime": "2026-11-27T12:00:00Z" }, "value": { "int64Value": "9" } }
            ]
        }]});
        assert_eq!(super::newest_value(&response), Some(1523));
        assert_eq!(super::newest_value(&json!({})), None);
    }
}
