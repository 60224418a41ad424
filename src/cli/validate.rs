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
    let mut engine_checked = false;
    if let Some((_, plan, renderer)) = plans.iter().find(|(d, ..)| *d == Dialect::DuckDb) {
        engine_checked = check_with(&project, plan, renderer)?;
    }
    let plan = &plans[0].1;
    let count = |k: Kind| plan.resources.iter().filter(|r| r.id.kind == k).count();
    let s = &project.spec;
    println!(
        "{} {} is valid: {} topics, {} subscriptions, dataset `{}` with {} tables, {} materialized views and {} views, {} pipelines, {} queries, {} dashboard{}.",
        ui.green("✓"),
        g.project_file.display(),
        count(Kind::Topic),
        count(Kind::Subscription),
        s.dataset.name,
        count(Kind::Table),
        count(Kind::MaterializedView),
        count(Kind::View),
        count(Kind::Pipeline),
        s.queries.len(),
        s.dashboards.len(),
        if s.dashboards.len() == 1 { "" } else { "s" },
    );
    println!(
        "  Every view and query renders for BigQuery and DuckDB{}.",
        if engine_checked {
            ", DuckDB accepts them, and every dashboard panel fits its query's columns"
        } else {
            ""
        }
    );
    Ok(0)
}

/// The spec's SQL and dashboards checked by an engine (DuckDB, where built in): the local
/// plan's tables and views created in an in-memory database, every query run there over the
/// empty tables, and every dashboard panel checked against the columns its query returns.
pub fn engine_accepts(project: &Project) -> Result<()> {
    let renderer = Renderer::new(project, Dialect::DuckDb, PLACEHOLDER_PROJECT)?;
    let plan = plan::build(project, &renderer, &Placement::Local)?;
    check_with(project, &plan, &renderer).map(|_| ())
}

/// Whether an engine checked the SQL (`false`: this build has none; rendering was all).
fn check_with(project: &Project, plan: &crate::plan::Plan, renderer: &Renderer) -> Result<bool> {
    use crate::backend::sql_check::{Checked, check_sql};
    use crate::diagnostic::Diagnostic;
    use crate::spec::located::Pos;

    let queries: Vec<Checked> = project
        .spec
        .queries
        .iter()
        .filter_map(|q| {
            let rendered = renderer.query(q).ok()?;
            // Defaults where declared; NULL otherwise — the result's shape is the same.
            let params = rendered
                .params
                .iter()
                .map(|name| {
                    let declared = q.params.iter().find(|p| p.name.as_str() == name)?;
                    let default = declared.default.as_ref()?;
                    crate::sql::params::parse_value(declared.param_type.value, default).ok()
                })
                .collect();
            Some(Checked {
                name: q.name.value.clone(),
                sql: rendered.sql,
                params,
            })
        })
        .collect();
    let mut found = Diagnostics::default();
    let Some((problems, columns)) = check_sql(plan, &queries)? else {
        return Ok(false);
    };
    for (what, name, message) in problems {
        let (file, pos) = if what == "view" {
            let view = project.spec.views.iter().find(|v| v.name.as_str() == name);
            let path = view
                .and_then(|v| v.template.as_ref().map(|t| t.value.clone()))
                .unwrap_or_else(|| format!("views/{name}.sql"));
            (project.templates.join(path), Pos::default())
        } else if what == "materialized view" {
            let mv = project
                .spec
                .materialized_views
                .iter()
                .find(|m| m.name.as_str() == name);
            let path = mv
                .and_then(|m| m.template.as_ref().map(|t| t.value.clone()))
                .unwrap_or_else(|| format!("materialized_views/{name}.sql"));
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
    found
        .list
        .extend(crate::dashboard::columns::check(project, &columns).list);
    found.into_result()?;
    Ok(true)
}
