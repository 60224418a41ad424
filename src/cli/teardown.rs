//! `bqflow teardown`: delete what this deployment created, and nothing else. Lists it by kind
//! and asks before deleting unless --yes; refuses while a `generate` is running.

use clap::Args;

use super::Global;
use super::context::{self, block_on};
use crate::backend::{Doomed, TeardownReport};
use crate::error::{Error, Result};
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct TeardownArgs {
    /// Do not ask for confirmation before deleting data.
    #[arg(short, long)]
    pub yes: bool,
    /// gcp: how long to wait for Dataflow jobs to drain before cancelling them.
    #[arg(long, default_value = "10m", value_parser = super::flags::duration)]
    pub drain_timeout: std::time::Duration,
}

pub fn run(ui: &Ui, g: &Global, args: TeardownArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    // Held to the end: a running `generate` makes teardown refuse, and none can start.
    let _lock = crate::backend::lock::teardown(&ctx.backend.state_dir())?;
    let location = ctx.backend.location();
    // Whether there was anything at all: found by name or by label (renamed leftovers, jobs
    // of removed pipelines), not only what the spec still names.
    let mut nothing = false;
    let mut confirm = |doomed: &Doomed| {
        if doomed.groups.is_empty() {
            nothing = true;
            return !doomed.left_alone.is_empty();
        }
        if args.yes {
            return true;
        }
        eprintln!("Teardown will delete from the {location}:");
        for (kind, items) in &doomed.groups {
            eprintln!("  {kind} ({}):", items.len());
            for item in items {
                eprintln!("    {item}");
            }
        }
        for kept in &doomed.left_alone {
            eprintln!("  and leave alone {kept}");
        }
        ui.confirm("Delete all of the above?")
    };
    let Some(report) =
        block_on(
            ctx.backend
                .teardown(&ctx.plan, ui, args.drain_timeout, &mut confirm),
        )?
    else {
        if nothing {
            ui.note(format!(
                "Nothing of project `{}` exists on the {location}.",
                ctx.project.spec.name
            ));
            return Ok(0);
        }
        return Err(Error::usage(
            "teardown needs confirmation: answer `y` on a terminal, or pass --yes",
        ));
    };
    report.print(ui)
}

impl TeardownReport {
    /// One line per deletion, per thing left alone, per failure; exit 1 when any failed.
    pub fn print(&self, ui: &Ui) -> Result<u8> {
        for removed in &self.deleted {
            println!("{} deleted {removed}", ui.green("✓"));
        }
        for kept in &self.left_alone {
            println!("{} left alone {kept}", ui.yellow("-"));
        }
        for failed in &self.failed {
            println!("{} {failed}", ui.red("✗"));
        }
        if !self.failed.is_empty() {
            return Err(Error::Runtime(anyhow::anyhow!(
                "teardown did not finish ({} problems above); run `bqflow teardown` again to finish",
                self.failed.len()
            )));
        }
        Ok(0)
    }
}
