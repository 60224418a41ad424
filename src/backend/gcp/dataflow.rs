//! Dataflow v1b3: template launches and job control (docs/gcp-apis.md#dataflow; discovery
//! `dataflow.v1b3.json`). Regional `projects.locations.*` forms throughout.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{Api, ApiError, Repeat, Request};
use super::endpoints::Service;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub current_state: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub create_time: Option<String>,
}

pub const TERMINAL: &[&str] = &[
    "JOB_STATE_DONE",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_UPDATED",
    "JOB_STATE_DRAINED",
];

impl Job {
    pub fn state(&self) -> &str {
        self.current_state.as_deref().unwrap_or("JOB_STATE_UNKNOWN")
    }
    pub fn terminal(&self) -> bool {
        TERMINAL.contains(&self.state())
    }
}

/// What to launch: Google's classic template (gcsPath as a query parameter) or a flex template.
pub enum Template<'a> {
    Classic { gcs_path: &'a str },
    Flex { container_spec: &'a str },
}

fn jobs_path(project: &str, region: &str) -> String {
    format!("v1b3/projects/{project}/locations/{region}/jobs")
}

/// What to launch and how.
pub struct Launch<'a> {
    pub template: Template<'a>,
    pub name: &'a str,
    pub parameters: &'a BTreeMap<String, String>,
    pub environment: Value,
    /// Replace the running job of the same name in place (Dataflow's pipeline update): the
    /// old job ends as `JOB_STATE_UPDATED`, its state carried over to the new one.
    pub update: bool,
}

/// Launches; a 409 for an active job of the same name adopts that job (an earlier attempt of
/// ours, or a run started before).
pub async fn launch(
    api: &Api,
    project: &str,
    region: &str,
    launch: Launch<'_>,
) -> Result<Job, ApiError> {
    let Launch {
        name,
        parameters,
        environment,
        update,
        ..
    } = launch;
    let req = match launch.template {
        Template::Classic { gcs_path } => Request::new(
            Service::Dataflow,
            Method::POST,
            format!("v1b3/projects/{project}/locations/{region}/templates:launch"),
        )
        .query("gcsPath", gcs_path)
        .body(json!({ "jobName": name, "parameters": parameters,
                      "environment": environment, "update": update })),
        Template::Flex { container_spec } => Request::new(
            Service::Dataflow,
            Method::POST,
            format!("v1b3/projects/{project}/locations/{region}/flexTemplates:launch"),
        )
        .body(json!({ "launchParameter": {
                "jobName": name, "containerSpecGcsPath": container_spec,
                "parameters": parameters, "environment": environment, "update": update } })),
    }
    // A repeated update would replace the job a second time; a failed one is planned again.
    .repeat(if update {
        Repeat::Never
    } else {
        Repeat::CreateThenSettle
    });
    match api.call(&req).await {
        Ok(response) => serde_json::from_value(response.get("job").cloned().unwrap_or(Value::Null))
            .map_err(|e| ApiError {
                status: 0,
                code: None,
                reason: None,
                message: format!("unexpected launch response: {e}"),
                call: "dataflow launch".into(),
            }),
        // A clash on a first launch is an earlier attempt of ours; an update has none.
        Err(e) if e.conflict() && !update => active_job(api, project, region, name).await?.ok_or(e),
        Err(e) => Err(e),
    }
}

/// The active job with this name, if any (only one can be active per name and region), with
/// its labels.
pub async fn active_job(
    api: &Api,
    project: &str,
    region: &str,
    name: &str,
) -> Result<Option<Job>, ApiError> {
    // During an in-place update the old job keeps running until its replacement takes over:
    // the newest is the one that counts.
    let listed = list_jobs(api, project, region, "ACTIVE", Some(name))
        .await?
        .into_iter()
        .filter(|j| j.name == name && !j.terminal())
        .max_by(|a, b| a.create_time.cmp(&b.create_time));
    match listed {
        Some(job) => describe_job(api, project, region, &job.id).await,
        None => Ok(None),
    }
}

/// Summaries of jobs: `jobs.list` "always returns summaries now", which carry no labels. Ask
/// [`describe_job`] before deciding anything by label.
pub async fn list_jobs(
    api: &Api,
    project: &str,
    region: &str,
    filter: &str,
    name: Option<&str>,
) -> Result<Vec<Job>, ApiError> {
    let mut req = Request::new(Service::Dataflow, Method::GET, jobs_path(project, region))
        .query("filter", filter);
    if let Some(n) = name {
        req = req.query("name", n);
    }
    let jobs = api.list(&req, "jobs").await?;
    // A job the type cannot read (a field of a newer API) is skipped, not fatal.
    Ok(jobs
        .into_iter()
        .filter_map(|j| serde_json::from_value(j).ok())
        .collect())
}

/// A job's summary: its state.
pub async fn get_job(
    api: &Api,
    project: &str,
    region: &str,
    id: &str,
) -> Result<Option<Job>, ApiError> {
    get_job_view(api, project, region, id, "JOB_VIEW_SUMMARY").await
}

/// A job with its labels (`JOB_VIEW_DESCRIPTION`: the summary plus labels and environment).
pub async fn describe_job(
    api: &Api,
    project: &str,
    region: &str,
    id: &str,
) -> Result<Option<Job>, ApiError> {
    get_job_view(api, project, region, id, "JOB_VIEW_DESCRIPTION").await
}

async fn get_job_view(
    api: &Api,
    project: &str,
    region: &str,
    id: &str,
    view: &str,
) -> Result<Option<Job>, ApiError> {
    let req = Request::new(
        Service::Dataflow,
        Method::GET,
        format!("{}/{id}", jobs_path(project, region)),
    )
    .query("view", view);
    match api.call_as(&req).await {
        Ok(job) => Ok(Some(job)),
        Err(e) if e.not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Asks for a new state (`JOB_STATE_DRAINED` or `JOB_STATE_CANCELLED`); no update mask.
pub async fn request_state(
    api: &Api,
    project: &str,
    region: &str,
    id: &str,
    state: &str,
) -> Result<Job, ApiError> {
    let req = Request::new(
        Service::Dataflow,
        Method::PUT,
        format!("{}/{id}", jobs_path(project, region)),
    )
    .body(json!({ "requestedState": state }));
    api.call_as(&req).await
}

/// Replaces a running job's labels (`jobs.update`, `updateMask=labels`).
pub async fn set_labels(
    api: &Api,
    project: &str,
    region: &str,
    id: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Job, ApiError> {
    let req = Request::new(
        Service::Dataflow,
        Method::PUT,
        format!("{}/{id}", jobs_path(project, region)),
    )
    .query("updateMask", "labels")
    .body(json!({ "labels": labels }));
    api.call_as(&req).await
}
