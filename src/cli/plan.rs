//! `bqflow plan`: the comparison `up` would act on, without writing. Exit code 0 when nothing is
//! pending, 3 when something is (so CI can fail a drifted environment).

use clap::Args;

use super::Global;
use super::context;
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
}

pub fn run(ui: &Ui, g: &Global, args: PlanArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    let changes = ctx.changes()?;
    print!("{}", diff::render(&changes, args.diff));
    if args.explain {
        print!("{}", explained(&ctx, &changes));
    }
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
