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
}

pub fn run(ui: &Ui, g: &Global, args: PlanArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    let changes = ctx.changes()?;
    print!("{}", diff::render(&changes, args.diff));
    let summary = Summary::of(&changes);
    println!("\nPlan for {}: {}", ctx.backend.location(), summary.line());
    if summary.pending() {
        ui.note("Run `bqflow up` to apply.");
        Ok(CHANGES_PENDING)
    } else {
        Ok(0)
    }
}
