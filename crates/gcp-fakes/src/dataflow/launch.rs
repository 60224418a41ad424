//! `templates:launch` (classic: `gcsPath` is a query parameter) and `flexTemplates:launch`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{Dataflow, Job, View};
use crate::discovery::Matched;
use crate::reply::{Outcome, Reply};

/// What both launch forms carry.
struct Launch<'a> {
    job_name: &'a str,
    template: &'a str,
    parameters: Map<String, Value>,
    environment: Map<String, Value>,
    update: bool,
}

/// `[a-z]([-a-z0-9]{0,1022}[a-z0-9])?`
fn valid_job_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 1024
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !name.ends_with('-')
}

fn gcs_path(field: &str, value: &str) -> Result<(), Reply> {
    if value.starts_with("gs://") && value.len() > 5 {
        Ok(())
    } else {
        Err(Reply::invalid(format!(
            "{field} must be a valid Cloud Storage URL, beginning with gs://; got \"{value}\"."
        )))
    }
}

/// `2026-11-25_12_00_00-1234567890123456789`: creation time, then a 19-digit number.
fn job_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix =
        1_000_000_000_000_000_000 + n.wrapping_mul(7_919_000_000_007) % 8_000_000_000_000_000_000;
    format!("{}-{suffix}", Utc::now().format("%Y-%m-%d_%H_%M_%S"))
}

impl Dataflow {
    pub(super) fn launch_classic(&self, call: &Matched) -> Outcome {
        let template = call
            .query_value("gcsPath")
            .or_else(|| call.query_value("dynamicTemplate.gcsPath"))
            .ok_or_else(|| {
                Reply::invalid("gcsPath (a query parameter of templates:launch) is required.")
            })?;
        gcs_path("gcsPath", template)?;
        let environment = object(&call.body, "environment");
        // RuntimeEnvironment.tempLocation is "Required" in the discovery text.
        let temp = environment
            .get("tempLocation")
            .and_then(Value::as_str)
            .unwrap_or("");
        gcs_path("environment.tempLocation", temp)?;
        let launch = Launch {
            job_name: call
                .body
                .get("jobName")
                .and_then(Value::as_str)
                .unwrap_or(""),
            template,
            parameters: object(&call.body, "parameters"),
            environment,
            update: call
                .body
                .get("update")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        let validate_only = call.query_value("validateOnly") == Some("true");
        self.launch(call, launch, validate_only)
    }

    pub(super) fn launch_flex(&self, call: &Matched) -> Outcome {
        let Some(param) = call.body.get("launchParameter").filter(|p| p.is_object()) else {
            return Err(Reply::invalid("launchParameter is required."));
        };
        let spec_path = param.get("containerSpecGcsPath").and_then(Value::as_str);
        let inline = param.get("containerSpec").is_some_and(|s| !s.is_null());
        let template = match (spec_path, inline) {
            (Some(p), false) => {
                gcs_path("launchParameter.containerSpecGcsPath", p)?;
                p
            }
            (None, true) => "(inline containerSpec)",
            _ => {
                return Err(Reply::invalid(
                    "Exactly one of launchParameter.containerSpecGcsPath and launchParameter.containerSpec must be set.",
                ));
            }
        };
        let environment = object(param, "environment");
        for field in ["tempLocation", "stagingLocation"] {
            if let Some(loc) = environment.get(field).and_then(Value::as_str) {
                gcs_path(&format!("environment.{field}"), loc)?;
            }
        }
        let launch = Launch {
            job_name: param.get("jobName").and_then(Value::as_str).unwrap_or(""),
            template,
            parameters: object(param, "parameters"),
            environment,
            update: param
                .get("update")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        let validate_only = call
            .body
            .get("validateOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.launch(call, launch, validate_only)
    }

    fn launch(&self, call: &Matched, launch: Launch<'_>, validate_only: bool) -> Outcome {
        if !valid_job_name(launch.job_name) {
            return Err(Reply::invalid(format!(
                "The job name \"{}\" is invalid: it must match [a-z]([-a-z0-9]{{0,1022}}[a-z0-9])?",
                launch.job_name
            )));
        }
        let labels = object(
            &Value::Object(launch.environment.clone()),
            "additionalUserLabels",
        );
        crate::labels::check(Some(&Value::Object(labels.clone())))?;
        let project = call.param("projectId");
        let location = call.param("location");
        if validate_only {
            return Ok(json!({}));
        }
        let mut jobs = self.lock();
        let clash = jobs.iter().position(|j| {
            j.active()
                && j.project == project
                && j.location == location
                && j.name == launch.job_name
        });
        let id = job_id();
        let replaced = match (clash, launch.update) {
            (Some(_), false) => {
                let message = format!(
                    "There is already an active job named {}. If you want to submit a second job, try again by setting a different name.",
                    launch.job_name
                );
                return Err(Reply::error_with(
                    409,
                    "ALREADY_EXISTS",
                    message.clone(),
                    json!({"errors": [{"message": message, "domain": "global", "reason": "alreadyExists"}]}),
                ));
            }
            (None, true) => {
                return Err(Reply::not_found(format!(
                    "Could not find a running job named {} to update.",
                    launch.job_name
                )));
            }
            (Some(i), true) => {
                // An in-place update: the old job ends as UPDATED, pointing at its successor.
                let old = &mut jobs[i];
                old.set_state("JOB_STATE_UPDATED");
                old.replaced_by_job_id = Some(id.clone());
                Some(old.id.clone())
            }
            (None, false) => None,
        };
        let now = Utc::now();
        let job = Job {
            project: project.to_string(),
            location: location.to_string(),
            id,
            name: launch.job_name.to_string(),
            labels,
            template: launch.template.to_string(),
            parameters: launch.parameters,
            environment: launch.environment,
            created: now,
            state: "JOB_STATE_PENDING",
            state_since: Instant::now(),
            state_time: now,
            requested_state: None,
            replace_job_id: replaced,
            replaced_by_job_id: None,
            runtime_updatable_params: None,
            drain_until: None,
            backlog_seen: None,
        };
        let body = json!({ "job": job.to_json(View::Description) });
        jobs.push(job);
        // From now on Pub/Sub queues the job's input for it, even while it is PENDING.
        self.sync_inputs(&jobs);
        Ok(body)
    }
}

fn object(v: &Value, key: &str) -> Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}
