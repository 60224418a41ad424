//! `bqflow plan`: the comparison `up` would act on, without writing. Exit code 0 when nothing is
//! pending, 3 when something is (so CI can fail a drifted environment).

use clap::Args;

use super::Global;
use super::context;
use crate::cost;
use crate::error::Result;
use crate::plan::diff::{self, Summary};
use crate::ui::Ui;

/// Exit code of `plan` when changes are pending.
pub const CHANGES_PENDING: u8 = 3;

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Show changed SQL line by line.
    #[arg(long)]
    pub diff: bool,
    /// For each step, the equivalent `gcloud` / `bq` commands (DuckDB statements locally):
    /// what `up` would do, to review or to do by hand.
    #[arg(long)]
    pub explain: bool,
    /// Events per second the cost estimate assumes (default: the spec's `generator.rate`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: Option<u64>,
}

pub fn run(ui: &Ui, g: &Global, args: PlanArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    let changes = ctx.changes()?;
    print!("{}", diff::render(&changes, args.diff));
    if args.explain {
        print!("{}", explained(&ctx, &changes));
    }
    print_cost(g, &ctx, args.rate)?;
    let summary = Summary::of(&changes);
    println!("\nPlan for {}: {}", ctx.backend.location(), summary.line());
    if summary.pending() {
        ui.note("Run `bqflow up` to apply.");
        Ok(CHANGES_PENDING)
    } else {
        Ok(0)
    }
}

/// The steps `up` would take, in its order (dependencies first), each with its commands.
fn explained(ctx: &context::Context, changes: &[diff::Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let commands = ctx.backend.explain(change);
        if commands.is_empty() {
            continue;
        }
        if out.is_empty() {
            out.push_str("\nBy hand, in order (what `bqflow up` would do):\n");
        }
        out.push_str(&format!(
            "\n# {} {}\n",
            change.action.verb(),
            change.resource.id
        ));
        for command in commands {
            out.push_str(&command);
            out.push('\n');
        }
    }
    out
}

/// The recurring cost on gcp: of this plan on gcp, or of the plan the spec would have there.
fn print_cost(g: &Global, ctx: &context::Context, rate: Option<u64>) -> Result<()> {
    let (heading, plan) = match ctx.backend.billing_project() {
        Some(project) => (format!("on gcp project {project}"), ctx.plan.clone()),
        None => match context::offline_gcp_plan(g, &ctx.project)? {
            Some(plan) => ("if deployed to gcp (`--target gcp`)".to_string(), plan),
            None => return Ok(()),
        },
    };
    let (estimate, traffic) = cost::for_project(&ctx.project, &plan, rate);
    print!("{}", cost::render(&estimate, &traffic, &heading));
    Ok(())
}
