//! `bqflow teardown`: delete what this project created, and nothing else. Asks before deleting
//! data unless --yes.

use clap::Args;

use super::Global;
use super::context::{self, block_on};
use crate::error::{Error, Result};
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct TeardownArgs {
    /// Do not ask for confirmation before deleting data.
    #[arg(short, long)]
    pub yes: bool,
    /// gcp: how long to wait for Dataflow jobs to drain before cancelling them.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub drain_timeout: std::time::Duration,
}

pub fn run(ui: &Ui, g: &Global, args: TeardownArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    if !block_on(ctx.backend.any_present(&ctx.plan))? {
        ui.note(format!(
            "Nothing of project `{}` exists on the {}.",
            ctx.project.spec.name,
            ctx.backend.location()
        ));
        return Ok(0);
    }
    if !args.yes {
        let question = format!(
            "Delete project `{}` from the {}, including dataset `{}` and all its data?",
            ctx.project.spec.name,
            ctx.backend.location(),
            ctx.project.spec.dataset.name
        );
        if !ui.confirm(&question) {
            return Err(Error::usage(
                "teardown needs confirmation: answer `y` on a terminal, or pass --yes",
            ));
        }
    }
    let report = block_on(ctx.backend.teardown(&ctx.plan, ui, args.drain_timeout))?;
    for removed in &report.deleted {
        println!("{} deleted {removed}", ui.green("✓"));
    }
    for kept in &report.left_alone {
        println!("{} left alone {kept}", ui.yellow("-"));
    }
    for failed in &report.failed {
        println!("{} {failed}", ui.red("✗"));
    }
    if !report.failed.is_empty() {
        return Err(Error::Runtime(anyhow::anyhow!(
            "teardown did not finish ({} problems above); run `bqflow teardown` again to finish",
            report.failed.len()
        )));
    }
    Ok(0)
}
