//! What most commands start with: the validated spec, the chosen backend, a renderer in its
//! dialect and the plan.

use super::{Global, Target};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::plan::diff::{self, Change};
use crate::plan::{self, GcpPlacement, Placement, Plan};
use crate::spec::Project;
use crate::spec::names;
use crate::spec::types::GcpTarget;
use crate::sql::Renderer;

pub struct Context {
    pub project: Project,
    pub backend: Backend,
    pub renderer: Renderer,
    pub plan: Plan,
}

/// Stands in for the GCP project when only rendering (validate) and none is configured.
pub const PLACEHOLDER_PROJECT: &str = "your-gcp-project";

/// The GCP project: `--project`, then `GOOGLE_CLOUD_PROJECT`, then the spec.
pub fn gcp_project(g: &Global, project: &Project) -> Result<Option<String>> {
    let from_flag = g.project.clone().map(|p| (p, "--project"));
    let from_env = std::env::var("GOOGLE_CLOUD_PROJECT")
        .ok()
        .filter(|p| !p.is_empty())
        .map(|p| (p, "GOOGLE_CLOUD_PROJECT"));
    let from_spec = project
        .spec
        .targets
        .gcp
        .as_ref()
        .and_then(|t| t.project.as_ref())
        .filter(|p| !p.is_empty())
        .map(|p| (p.value.clone(), "targets.gcp.project"));
    match from_flag.or(from_env).or(from_spec) {
        Some((id, source)) => {
            names::gcp_project(&id).map_err(|reason| {
                Error::usage(format!(
                    "invalid GCP project id `{id}` from {source}: {reason}"
                ))
            })?;
            Ok(Some(id))
        }
        None => Ok(None),
    }
}

pub fn load(g: &Global) -> Result<Context> {
    let project = Project::load(&g.project_file)?;
    let placement = placement(g, &project)?;
    let backend = crate::backend::for_target(&project, &placement)?;
    // The target decides the dialect, and qualifies names with the project it bills.
    let renderer = Renderer::new(
        &project,
        backend.dialect(),
        backend.billing_project().unwrap_or_default(),
    )?;
    // Every named query renders and is one SELECT, whichever command runs: a bad one is
    // reported before anything is created or run.
    let mut found = crate::diagnostic::Diagnostics::default();
    for q in &project.spec.queries {
        if let Err(d) = renderer.query(q) {
            found.push(d);
        }
    }
    found.into_result()?;
    let plan = plan::build(&project, &renderer, &placement)?;
    Ok(Context {
        project,
        backend,
        renderer,
        plan,
    })
}

/// The plan this spec would have on gcp, built without asking Google anything (the project
/// id is `--project`'s, the spec's, or a placeholder): what `plan` prices when working
/// locally. `None` when the spec has no `targets.gcp`.
pub fn offline_gcp_plan(g: &Global, project: &Project) -> Result<Option<crate::plan::Plan>> {
    let Some(target) = project.spec.targets.gcp.as_ref() else {
        return Ok(None);
    };
    let id = gcp_project(g, project)?.unwrap_or_else(|| PLACEHOLDER_PROJECT.into());
    let renderer = Renderer::new(project, crate::sql::Dialect::BigQuery, &id)?;
    let placement = Placement::Gcp(gcp_placement(project, target, id));
    Ok(Some(plan::build(project, &renderer, &placement)?))
}

/// Where the plan goes: `--target local`, or the GCP project, region and location.
pub fn placement(g: &Global, project: &Project) -> Result<Placement> {
    if g.target == Target::Local {
        return Ok(Placement::Local);
    }
    let Some(target) = project.spec.targets.gcp.as_ref() else {
        return Err(Error::usage(format!(
            "{} has no `targets.gcp` section: add one (project, region, location) to use --target gcp",
            g.project_file.display()
        )));
    };
    let id = gcp_project(g, project)?.ok_or_else(|| {
        Error::usage("no GCP project: set `targets.gcp.project` in the spec, pass --project, or export GOOGLE_CLOUD_PROJECT")
    })?;
    Ok(Placement::Gcp(gcp_placement(project, target, id)))
}

pub fn gcp_placement(project: &Project, target: &GcpTarget, id: String) -> GcpPlacement {
    GcpPlacement {
        temp_bucket: target.temp_bucket.as_ref().map_or_else(
            || crate::backend::gcp::storage::default_temp_bucket(&id, &project.deployment()),
            |b| b.value.clone(),
        ),
        project: id,
        region: target.region.value.clone(),
        location: target.location.value.clone(),
        service_account: target.service_account.as_ref().map(|s| s.value.clone()),
    }
}

impl Context {
    /// The plan compared with what exists: one change per resource.
    pub fn changes(&self) -> Result<Vec<Change>> {
        let observed = block_on(self.backend.observe(&self.plan))?;
        Ok(self
            .plan
            .resources
            .iter()
            .zip(&observed)
            .map(|(r, o)| diff::compare(r, o, &|kind, field| self.backend.updatable(kind, field)))
            .collect())
    }
}

/// Runs an async backend call from the synchronous CLI, on the one runtime.
pub use crate::runtime::block_on;
