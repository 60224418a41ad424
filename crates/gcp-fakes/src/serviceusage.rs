//! Fake Service Usage v1: every API is ENABLED unless configured (or switched) off, and
//! enable/disable take effect at once (operations come back done). Names in responses use
//! the project number, as Google's do, whichever form the request used.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::discovery::{Matched, Service};
use crate::reply::{Outcome, Reply};
use crate::server::{Api, Hub};

/// At most this many names per batchGet, and service ids per batchEnable
/// (docs/gcp-apis.md#service-usage-and-resource-manager).
const MAX_BATCH_GET: usize = 30;
const MAX_BATCH_ENABLE: usize = 20;

pub(crate) struct ServiceUsage {
    hub: Arc<Hub>,
}

impl ServiceUsage {
    pub fn new(hub: Arc<Hub>) -> ServiceUsage {
        ServiceUsage { hub }
    }

    /// `projects/{p}` → checks the project, returns `projects/{number}`.
    fn parent(&self, parent: &str) -> Result<String, Reply> {
        match parent.split_once('/') {
            Some(("projects", p)) if self.hub.is_project(p) => {
                Ok(format!("projects/{}", self.hub.project_number))
            }
            _ => Err(Reply::permission_denied(format!(
                "Permission denied to access {parent} (gcp-fakes knows only project {}).",
                self.hub.project
            ))),
        }
    }

    fn service(&self, parent: &str, api: &str) -> Value {
        let state = if self.hub.is_enabled(api) {
            "ENABLED"
        } else {
            "DISABLED"
        };
        json!({
            "name": format!("{parent}/services/{api}"),
            "parent": parent,
            "config": {"name": api},
            "state": state,
        })
    }

    /// `projects/{p}/services/{api}` → (parent by number, api).
    fn split_name(&self, name: &str) -> Result<(String, String), Reply> {
        match name.rsplit_once("/services/") {
            Some((parent, api)) if !api.is_empty() => Ok((self.parent(parent)?, api.to_string())),
            _ => Err(Reply::invalid(format!("Invalid service name: {name}"))),
        }
    }

    fn done(&self, kind: &str, response: Value) -> Value {
        let mut response = response;
        response["@type"] = format!("type.googleapis.com/google.api.serviceusage.v1.{kind}").into();
        json!({"name": "operations/noop.DONE_OPERATION", "done": true, "response": response})
    }

    fn batch_get(&self, call: &Matched) -> Outcome {
        let parent = self.parent(call.param("parent"))?;
        let names = call.query_values("names");
        if names.len() > MAX_BATCH_GET {
            return Err(Reply::invalid(format!(
                "At most {MAX_BATCH_GET} services can be requested at a time; got {}.",
                names.len()
            )));
        }
        let mut services = Vec::new();
        for name in names {
            // Names in another project fail here, like the parent would.
            let (_, api) = self.split_name(name)?;
            services.push(self.service(&parent, &api));
        }
        if services.is_empty() {
            return Ok(json!({}));
        }
        Ok(json!({ "services": services }))
    }

    fn set(&self, call: &Matched, enabled: bool) -> Outcome {
        let (parent, api) = self.split_name(call.param("name"))?;
        self.hub.set_enabled(&api, enabled);
        let kind = if enabled {
            "EnableServiceResponse"
        } else {
            "DisableServiceResponse"
        };
        Ok(self.done(kind, json!({"service": self.service(&parent, &api)})))
    }

    fn batch_enable(&self, call: &Matched) -> Outcome {
        let parent = self.parent(call.param("parent"))?;
        let ids: Vec<&str> = call
            .body
            .get("serviceIds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if ids.is_empty() || ids.len() > MAX_BATCH_ENABLE {
            return Err(Reply::invalid(format!(
                "serviceIds must name between 1 and {MAX_BATCH_ENABLE} services; got {}.",
                ids.len()
            )));
        }
        for api in &ids {
            self.hub.set_enabled(api, true);
        }
        let services: Vec<Value> = ids.iter().map(|api| self.service(&parent, api)).collect();
        Ok(self.done("BatchEnableServicesResponse", json!({"services": services})))
    }

    fn list(&self, call: &Matched) -> Outcome {
        let parent = self.parent(call.param("parent"))?;
        let filter = call.query_value("filter").unwrap_or("");
        let services: Vec<Value> = Service::ALL
            .iter()
            .map(|s| self.service(&parent, s.api()))
            .filter(|s| match filter {
                "state:ENABLED" => s["state"] == "ENABLED",
                "state:DISABLED" => s["state"] == "DISABLED",
                _ => true,
            })
            .collect();
        let (page, next) = crate::paging::page(
            &services,
            call.query_value("pageSize"),
            call.query_value("pageToken"),
            50,
        )?;
        let mut out = json!({});
        if !page.is_empty() {
            out["services"] = Value::Array(page);
        }
        if let Some(t) = next {
            out["nextPageToken"] = t.into();
        }
        Ok(out)
    }
}

impl Api for ServiceUsage {
    fn handle(&self, call: &Matched) -> Reply {
        let outcome = match call.id.as_str() {
            "serviceusage.services.get" => self
                .split_name(call.param("name"))
                .map(|(parent, api)| self.service(&parent, &api)),
            "serviceusage.services.batchGet" => self.batch_get(call),
            "serviceusage.services.enable" => self.set(call, true),
            "serviceusage.services.disable" => self.set(call, false),
            "serviceusage.services.batchEnable" => self.batch_enable(call),
            "serviceusage.services.list" => self.list(call),
            "serviceusage.operations.get" => Ok(json!({"name": call.param("name"), "done": true})),
            other => Err(Reply::unimplemented(other)),
        };
        Reply::from_outcome(outcome)
    }
}
