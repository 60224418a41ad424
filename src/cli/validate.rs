//! `bqflow validate`: the spec, every view and every query rendered for both dialects, and the
//! DuckDB renderings checked by DuckDB itself (an in-memory database with the declared tables),
//! so SQL mistakes surface before anything is provisioned.

use super::Global;
use super::context::{PLACEHOLDER_PROJECT, gcp_placement, gcp_project};
use crate::diagnostic::Diagnostics;
use crate::error::Result;
use crate::plan::Placement;
use crate::plan::{self, Kind};
use crate::spec::Project;
use crate::sql::{Dialect, Renderer};
use crate::ui::Ui;

pub fn run(ui: &Ui, g: &Global) -> Result<u8> {
    let project = Project::load(&g.project_file)?;
    let qualifier = gcp_project(g, &project)?.unwrap_or_else(|| PLACEHOLDER_PROJECT.into());
    let mut found = Diagnostics::default();
    let mut plans = Vec::new();
    for dialect in Dialect::ALL {
        let renderer = Renderer::new(&project, dialect, &qualifier)?;
        for q in &project.spec.queries {
            if let Err(d) = renderer.query(q) {
                found.push(d);
            }
        }
        let placement = match (dialect, &project.spec.targets.gcp) {
            (Dialect::BigQuery, Some(target)) => {
                Placement::Gcp(gcp_placement(&project, target, qualifier.clone()))
            }
            _ => Placement::Local,
        };
        match plan::build(&project, &renderer, &placement) {
            Ok(plan) => plans.push((dialect, plan, renderer)),
            Err(d) => found.list.extend(d.list),
        }
    }
    found.into_result()?;
    #[cfg(feature = "duckdb")]
    if let Some((_, plan, renderer)) = plans.iter().find(|(d, ..)| *d == Dialect::DuckDb) {
        duckdb_accepts(&project, plan, renderer)?;
    }
    let plan = &plans[0].1;
    let count = |k: Kind| plan.resources.iter().filter(|r| r.id.kind == k).count();
    let s = &project.spec;
    println!(
        "{} {} is valid: {} topics, {} subscriptions, dataset `{}` with {} tables and {} views, {} pipelines, {} queries.",
        ui.green("✓"),
        g.project_file.display(),
        count(Kind::Topic),
        count(Kind::Subscription),
        s.dataset.name,
        count(Kind::Table),
        count(Kind::View),
        count(Kind::Pipeline),
        s.queries.len(),
    );
    println!(
        "  Every view and query renders for BigQuery and DuckDB{}.",
        if cfg!(feature = "duckdb") {
            ", and DuckDB accepts them"
        } else {
            ""
        }
    );
    Ok(0)
}

/// Creates the plan's tables and views in an in-memory DuckDB and prepares every query there.
#[cfg(feature = "duckdb")]
fn duckdb_accepts(project: &Project, plan: &crate::plan::Plan, renderer: &Renderer) -> Result<()> {
    use crate::diagnostic::Diagnostic;
    use crate::spec::located::Pos;

    let queries: Vec<(String, String)> = project
        .spec
        .queries
        .iter()
        .map(|q| {
            (
                q.name.value.clone(),
                renderer.query(q).map(|r| r.sql).unwrap_or_default(),
            )
        })
        .collect();
    let mut found = Diagnostics::default();
    for (what, name, message) in crate::backend::local::check::check_sql(plan, &queries)? {
        let (file, pos) = if what == "view" {
            let view = project.spec.views.iter().find(|v| v.name.as_str() == name);
            let path = view
                .and_then(|v| v.template.as_ref().map(|t| t.value.clone()))
                .unwrap_or_else(|| format!("views/{name}.sql"));
            (project.templates.join(path), Pos::default())
        } else {
            (
                project.file.clone(),
                project.query(&name).map_or(Pos::default(), |q| q.sql.at),
            )
        };
        found.push(Diagnostic::new(
            &file,
            pos,
            format!("DuckDB rejects {what} `{name}`: {message}"),
        ));
    }
    Ok(found.into_result()?)
}
