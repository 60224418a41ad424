//! `bqflow up`: create or update what the spec declares, concurrently in dependency order.
//! Re-running changes nothing. Differences that cannot be applied in place are reported, and
//! resources that exist without bqflow's labels are left alone; both make the exit code 1.

use clap::Args;

use super::Global;
use super::context::{self, block_on};
use crate::error::{Error, Result};
use crate::plan::dag::Outcome;
use crate::plan::diff::{self, Action, Summary};
use crate::ui::{StepProgress, Ui};

#[derive(Args, Debug)]
pub struct UpArgs {}

pub fn run(ui: &Ui, g: &Global, _args: UpArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    let changes = ctx.changes()?;
    let summary = Summary::of(&changes);
    if summary.create + summary.update == 0 {
        ui.note(format!(
            "Nothing to do on the {}: {} resources up to date.",
            ctx.backend.location(),
            summary.unchanged
        ));
    } else {
        ui.note(format!(
            "Applying to the {}: {}",
            ctx.backend.location(),
            summary.line()
        ));
    }
    let progress = StepProgress::new(ui, "applying");
    let outcomes = block_on(ctx.backend.apply(&ctx.plan, &changes, &progress))?;
    let failed = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_) | Outcome::Skipped(_)))
        .count();
    let blocked: Vec<_> = changes
        .iter()
        .filter(|c| matches!(c.action, Action::CannotChange(_) | Action::NotOwned))
        .collect();
    if !blocked.is_empty() {
        eprint!(
            "{}",
            diff::render(&blocked.into_iter().cloned().collect::<Vec<_>>(), false)
        );
    }
    if failed > 0 {
        return Err(Error::Runtime(anyhow::anyhow!(
            "{failed} resources failed; fix the cause and run `bqflow up` again (it resumes)"
        )));
    }
    if summary.cannot_change + summary.not_owned > 0 {
        return Err(Error::Runtime(anyhow::anyhow!(
            "{} resources differ from the spec in ways that cannot be applied in place, {} are not owned by bqflow (see above)",
            summary.cannot_change,
            summary.not_owned
        )));
    }
    ui.note(ui.green(&format!(
        "Up to date: {} resources.",
        ctx.plan.resources.len()
    )));
    Ok(0)
}
