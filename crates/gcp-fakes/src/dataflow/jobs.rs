//! jobs list / get / update (drain and cancel).

use serde_json::{Map, Value};

use super::{Dataflow, Job, View, is_terminal};
use crate::discovery::Matched;
use crate::reply::{Outcome, Reply};

fn not_found(id: &str) -> Reply {
    Reply::not_found(format!(
        "Information about job {id} could not be found in our system. Please double check that the API being used is projects.locations.jobs.get (https://cloud.google.com/dataflow/docs/reference/rest/v1b3/projects.locations.jobs/get). If the API being used is projects.locations.jobs.get, please double check the id is correct. If it is please contact customer support."
    ))
}

fn find<'a>(jobs: &'a mut [Job], call: &Matched) -> Result<&'a mut Job, Reply> {
    let (project, location, id) = (
        call.param("projectId"),
        call.param("location"),
        call.param("jobId"),
    );
    jobs.iter_mut()
        .find(|j| j.id == id && j.project == project && j.location == location)
        .ok_or_else(|| not_found(id))
}

impl Dataflow {
    pub(super) fn list(&self, call: &Matched) -> Outcome {
        let (project, location) = (call.param("projectId"), call.param("location"));
        let name = call.query_value("name");
        let filter = call.query_value("filter").unwrap_or("UNKNOWN");
        let jobs = self.lock();
        let mine = |j: &&Job| {
            j.project == project && j.location == location && name.is_none_or(|n| j.name == n)
        };
        // Active jobs newest first, then terminated ones by when they ended, newest first.
        let mut active: Vec<&Job> = jobs.iter().filter(mine).filter(|j| j.active()).collect();
        active.sort_by_key(|j| std::cmp::Reverse(j.created));
        let mut ended: Vec<&Job> = jobs.iter().filter(mine).filter(|j| !j.active()).collect();
        ended.sort_by_key(|j| std::cmp::Reverse(j.state_time));
        let selected: Vec<Value> = match filter {
            "ACTIVE" => active,
            "TERMINATED" => ended,
            _ => active.into_iter().chain(ended).collect(),
        }
        .into_iter()
        .map(|j| j.to_json(View::Summary))
        .collect();
        let (page, next) = crate::paging::page(
            &selected,
            call.query_value("pageSize"),
            call.query_value("pageToken"),
            50,
        )?;
        // An empty list is `{}`.
        let mut out = Map::new();
        if !page.is_empty() {
            out.insert("jobs".into(), Value::Array(page));
        }
        if let Some(t) = next {
            out.insert("nextPageToken".into(), t.into());
        }
        Ok(Value::Object(out))
    }

    pub(super) fn get(&self, call: &Matched) -> Outcome {
        let mut jobs = self.lock();
        let job = find(&mut jobs, call)?;
        Ok(job.to_json(View::from_query(call.query_value("view"))))
    }

    /// Drain or cancel via `requestedState`, or a masked update — never both.
    pub(super) fn update(&self, call: &Matched) -> Outcome {
        let requested = call
            .body
            .get("requestedState")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != "JOB_STATE_UNKNOWN");
        let mask = call.query_value("updateMask").filter(|m| !m.is_empty());
        if requested.is_some() && mask.is_some() {
            return Err(Reply::invalid(
                "Cannot update both the requested job state and the fields in updateMask in one request.",
            ));
        }
        let watermark = self.watermark();
        let mut jobs = self.lock();
        let job = find(&mut jobs, call)?;
        if is_terminal(job.state) {
            return Err(Reply::failed_precondition(format!(
                "Workflow modification failed. Causes: Could not modify workflow {}: the job is already in a terminal state ({}).",
                job.id, job.state
            )));
        }
        match (requested, mask) {
            (Some(requested), _) => {
                request_state(job, requested)?;
                if job.state == "JOB_STATE_DRAINING" && job.drain_until.is_none() {
                    job.drain_until = watermark;
                }
            }
            (None, Some(mask)) => apply_mask(job, &call.body, mask)?,
            (None, None) => {
                return Err(Reply::invalid(
                    "Nothing to update: set requestedState, or updateMask with the fields to change.",
                ));
            }
        }
        let reply = job.to_json(View::Description);
        self.sync_inputs(&jobs);
        Ok(reply)
    }
}

fn request_state(job: &mut Job, requested: &str) -> Result<(), Reply> {
    let next = match (requested, job.state) {
        // Asking again for what is already under way changes nothing.
        ("JOB_STATE_DRAINED", "JOB_STATE_DRAINING")
        | ("JOB_STATE_CANCELLED", "JOB_STATE_CANCELLING") => None,
        ("JOB_STATE_DRAINED", "JOB_STATE_CANCELLING") => {
            return Err(Reply::failed_precondition(format!(
                "Workflow modification failed. Causes: Could not drain workflow {}: the job is being cancelled.",
                job.id
            )));
        }
        ("JOB_STATE_DRAINED", _) => Some("JOB_STATE_DRAINING"),
        // Cancelling a draining job is allowed: it is how a stuck drain is ended.
        ("JOB_STATE_CANCELLED", _) => Some("JOB_STATE_CANCELLING"),
        _ => {
            return Err(Reply::invalid(format!(
                "The requested job state {requested} is not supported by gcp-fakes: use JOB_STATE_DRAINED or JOB_STATE_CANCELLED."
            )));
        }
    };
    job.requested_state = Some(requested.to_string());
    if let Some(state) = next {
        job.set_state(state);
    }
    Ok(())
}

/// Masked updates Dataflow supports on a running job: labels and runtime-updatable params.
fn apply_mask(job: &mut Job, body: &Value, mask: &str) -> Result<(), Reply> {
    for path in crate::fieldmask::paths(mask) {
        if path == "labels" {
            let labels = body
                .get("labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            crate::labels::check(Some(&Value::Object(labels.clone())))?;
            job.labels = labels;
        } else if let Some(field) = path.strip_prefix("runtimeUpdatableParams.") {
            let value = body
                .pointer(&format!("/runtimeUpdatableParams/{field}"))
                .cloned()
                .unwrap_or(Value::Null);
            let params = job
                .runtime_updatable_params
                .get_or_insert_with(|| Value::Object(Map::new()));
            params[field] = value;
        } else {
            return Err(Reply::invalid(format!(
                "The update mask path \"{path}\" is not supported; use labels or runtime_updatable_params.*"
            )));
        }
    }
    Ok(())
}
