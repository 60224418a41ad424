//! `bqflow query NAME`: run a named metric (or `--sql`) and print it as a table, JSON or CSV.
//! Parameters are typed by the spec and bound by the backend, never pasted into the SQL.

use clap::Args;

use super::Global;
use super::context::{self, Context, block_on};
use crate::error::{Error, Result};
use crate::output::{self, Format, QueryResult};
use crate::spec::names;
use crate::sql::Rendered;
use crate::sql::params::{self, ParamValue, Unresolved};
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// A query declared under `queries:` in the spec (see --list).
    pub name: Option<String>,
    /// List the named queries and their parameters.
    #[arg(long, conflicts_with_all = ["name", "sql"])]
    pub list: bool,
    /// Run this SQL instead (`{{ ref("table") }}` and the dialect functions work).
    #[arg(long, conflicts_with = "name")]
    pub sql: Option<String>,
    /// A parameter value, e.g. `-p category=Electronics` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print at most this many rows.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Show what would run (SQL; bytes and cost on gcp) without running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Compute from the fact tables: every view and materialized view the query reads is
    /// inlined as its SQL, so no rollup is used — to check one, or to compare cost with
    /// --dry-run.
    #[arg(long)]
    pub from_facts: bool,
}

pub fn run(ui: &Ui, g: &Global, args: QueryArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    if args.list || (args.name.is_none() && args.sql.is_none()) {
        if !args.list {
            return Err(Error::usage(format!(
                "name a query, or use --sql or --list.\n{}",
                list(&ctx)
            )));
        }
        print!("{}", list(&ctx));
        return Ok(0);
    }
    let redirects = if args.from_facts {
        ctx.renderer
            .from_facts(&ctx.project)
            .map_err(crate::diagnostic::Diagnostics::from)?
    } else {
        Default::default()
    };
    let (rendered, params) = ctx
        .renderer
        .redirected(redirects, |_| render(&ctx, &args))?;
    if args.dry_run {
        println!(
            "{}",
            block_on(ctx.backend.dry_run(&ctx.plan, &rendered, &params))?
        );
        ui.note(format!(
            "(dry run on the {}: nothing was executed)",
            ctx.backend.location()
        ));
        return Ok(0);
    }
    let result = block_on(ctx.backend.query(&ctx.plan, &rendered, &params, args.limit))?;
    print!("{}", output::render(&result, args.format));
    Ok(0)
}

/// The query to run: the named one with its parameters, or `--sql`.
fn render(ctx: &Context, args: &QueryArgs) -> Result<(Rendered, Vec<(String, ParamValue)>)> {
    Ok(match (&args.name, &args.sql) {
        (Some(name), _) => render_named(ctx, name, &args.params)?,
        (None, Some(sql)) => {
            if !args.params.is_empty() {
                return Err(Error::usage(
                    "--param applies to named queries; --sql takes none",
                ));
            }
            (
                ctx.renderer
                    .adhoc(sql)
                    .map_err(crate::diagnostic::Diagnostics::from)?,
                vec![],
            )
        }
        (None, None) => unreachable!("checked by run"),
    })
}

fn list(ctx: &Context) -> String {
    let mut out = String::new();
    for q in &ctx.project.spec.queries {
        let params: Vec<String> = q
            .params
            .iter()
            .map(|p| match &p.default {
                Some(d) => format!("{}={}", p.name, d),
                None => format!("{} (required)", p.name),
            })
            .collect();
        let desc = q.description.as_ref().map_or("", |d| d.as_str());
        out.push_str(&format!("{:<20} {desc}", q.name.as_str()));
        if !params.is_empty() {
            out.push_str(&format!("  [-p {}]", params.join(", -p ")));
        }
        out.push('\n');
    }
    out
}

/// Renders a named query and resolves its parameters from `-p` flags and defaults.
pub fn render_named(
    ctx: &Context,
    name: &str,
    flags: &[String],
) -> Result<(Rendered, Vec<(String, ParamValue)>)> {
    let Some(query) = ctx.project.query(name) else {
        let known: Vec<&str> = ctx
            .project
            .spec
            .queries
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        let hint = names::suggest(name, known.iter().copied()).map_or_else(
            || format!("known queries: {}", known.join(", ")),
            |s| format!("did you mean `{s}`?"),
        );
        return Err(Error::usage(format!(
            "no query named `{name}` in {}; {hint}",
            ctx.project.file.display()
        )));
    };
    let mut given: Vec<(&str, &str)> = Vec::new();
    for flag in flags {
        let Some((k, v)) = flag.split_once('=') else {
            return Err(Error::usage(format!("--param `{flag}`: write NAME=VALUE")));
        };
        if !query.params.iter().any(|p| p.name.as_str() == k) {
            let declared: Vec<&str> = query.params.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::usage(format!(
                "--param `{k}`: query `{name}` has no such parameter ({})",
                if declared.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("it takes {}", declared.join(", "))
                }
            )));
        }
        given.push((k, v));
    }
    let params = params::resolve(query, &given).map_err(|e| match e {
        Unresolved::Missing {
            name: p,
            param_type,
        } => Error::usage(format!("query `{name}` needs `-p {p}=…` ({param_type:?})")),
        Unresolved::Invalid { name: p, reason } => Error::usage(format!("--param {p}: {reason}")),
    })?;
    let rendered = ctx
        .renderer
        .query(query)
        .map_err(crate::diagnostic::Diagnostics::from)?;
    Ok((rendered, params))
}

/// Runs a named query with its defaults (for the demo).
pub fn run_named(ctx: &Context, name: &str) -> Result<QueryResult> {
    let (rendered, params) = render_named(ctx, name, &[])?;
    Ok(block_on(
        ctx.backend.query(&ctx.plan, &rendered, &params, None),
    )?)
}
