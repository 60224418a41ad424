//! What most commands start with: the validated spec, the chosen backend, a renderer in its
//! dialect and the plan.

use super::{Global, Target};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::plan::{self, Plan};
use crate::spec::Project;
use crate::spec::names;
use crate::sql::{Dialect, Renderer};

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
    let (dialect, qualifier) = match g.target {
        Target::Local => (Dialect::DuckDb, String::new()),
        Target::Gcp => {
            if project.spec.targets.gcp.is_none() {
                return Err(Error::usage(format!(
                    "{} has no `targets.gcp` section: add one (project, region, location) to use --target gcp",
                    g.project_file.display()
                )));
            }
            let id = gcp_project(g, &project)?.ok_or_else(|| {
                Error::usage("no GCP project: set `targets.gcp.project` in the spec, pass --project, or export GOOGLE_CLOUD_PROJECT")
            })?;
            (Dialect::BigQuery, id)
        }
    };
    let renderer = Renderer::new(&project, dialect, &qualifier)?;
    let plan = plan::build(&project, &renderer)?;
    let backend = Backend::for_target(&project, g.target)?;
    Ok(Context {
        project,
        backend,
        renderer,
        plan,
    })
}

/// Runs an async backend call from the synchronous CLI.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}
