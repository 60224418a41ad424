//! Fake Cloud Resource Manager v1: `projects.get` for the configured project (by id or
//! number), which is how bqflow learns the project number. Other projects get the 403
//! Google gives for projects that do not exist or are not visible.

use std::sync::Arc;

use serde_json::json;

use crate::discovery::Matched;
use crate::reply::Reply;
use crate::server::{Api, Hub};

pub(crate) struct ResourceManager {
    hub: Arc<Hub>,
}

impl ResourceManager {
    pub fn new(hub: Arc<Hub>) -> ResourceManager {
        ResourceManager { hub }
    }
}

impl Api for ResourceManager {
    fn handle(&self, call: &Matched) -> Reply {
        if call.id != "cloudresourcemanager.projects.get" {
            return Reply::unimplemented(&call.id);
        }
        if !self.hub.is_project(call.param("projectId")) {
            return Reply::permission_denied("The caller does not have permission");
        }
        Reply::json(
            200,
            &json!({
                "projectNumber": self.hub.project_number,
                "projectId": self.hub.project,
                "lifecycleState": "ACTIVE",
                "name": self.hub.project,
                "createTime": "2024-01-01T00:00:00.000Z",
            }),
        )
    }
}
