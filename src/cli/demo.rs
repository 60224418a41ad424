//! `bqflow demo`: the whole pipeline in one command on the local target — provision, stream a
//! compressed Black Friday for a few seconds, then print every metric.

use std::time::Duration;

use clap::Args;

use super::context::block_on;
use super::generate::GenerateArgs;
use super::{Global, Target, context, query};
use crate::error::Result;
use crate::output::{self, Format};
use crate::ui::Ui;

/// From the first store opening (5 am Eastern) to the last closing (11 pm Pacific).
const SIMULATED_DAY: Duration = Duration::from_secs(21 * 3600);

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How long to stream; the simulated day is compressed to fit.
    #[arg(long, default_value = "8s", value_parser = super::flags::positive_duration)]
    pub duration: Duration,
    /// Rows shown per metric.
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    /// Keep what an earlier run left in the local target (default: start clean).
    #[arg(long, conflicts_with = "reset")]
    pub keep: bool,
    /// Start clean even when the local target holds data a demo did not make.
    #[arg(long)]
    pub reset: bool,
}

pub fn run(ui: &Ui, g: &Global, args: DemoArgs) -> Result<u8> {
    let g = Global {
        target: Target::Local,
        ..g.clone()
    };
    let ctx = context::load(&g)?;
    let mark = ctx.backend.state_dir().join(crate::backend::DEMO_MARK);
    if !args.keep && block_on(ctx.backend.any_present(&ctx.plan))? {
        let ours = mark.exists();
        let reset = ours
            || args.reset
            || ui.confirm(&format!(
                "The {} holds data that `bqflow demo` did not make. Delete it and start clean? (no: add to it)",
                ctx.backend.location()
            ));
        if reset {
            ui.note(format!(
                "Resetting the {} (pass --keep to add to it).",
                ctx.backend.location()
            ));
            let _lock = crate::backend::lock::teardown(&ctx.backend.state_dir())?;
            block_on(
                ctx.backend
                    .teardown(&ctx.plan, ui, std::time::Duration::ZERO, &mut |_| true),
            )?;
        } else if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(crate::error::Error::usage(format!(
                "the {} already holds data that `bqflow demo` did not make: pass --keep to add to it, or --reset to delete it first",
                ctx.backend.location()
            )));
        }
    }
    ui.note(ui.bold("1/3 Provisioning topics, pipelines, dataset, tables and views"));
    let fresh = !block_on(ctx.backend.any_present(&ctx.plan))?;
    super::up::run(ui, &g, super::up::UpArgs {})?;
    if fresh {
        std::fs::write(
            &mark,
            "bqflow demo provisioned this target; the next demo resets it\n",
        )
        .map_err(anyhow::Error::from)?;
    }

    let speed = SIMULATED_DAY.as_secs_f64() / args.duration.as_secs_f64().max(0.1);
    ui.note(ui.bold(&format!(
        "2/3 Streaming Black Friday for {}, simulated {speed:.0}× faster than real time",
        humantime::format_duration(args.duration)
    )));
    let generate = GenerateArgs {
        speed: Some(speed),
        duration: Some(args.duration),
        malformed: 0.002,
        ..GenerateArgs::default()
    };
    super::generate::run(ui, &g, generate)?;

    ui.note(ui.bold("3/3 Metrics"));
    for q in &ctx.project.spec.queries {
        let mut result = query::run_named(&ctx, &q.name)?;
        let total = result.rows.len();
        result.rows.truncate(args.rows);
        let title = q
            .description
            .as_ref()
            .map_or(String::new(), |d| format!(" — {d}"));
        println!("\n{}{title}", ui.bold(&format!("bqflow query {}", q.name)));
        print!("{}", output::render(&result, Format::Table));
        if total > args.rows {
            println!("(first {} of {total} rows)", args.rows);
        }
    }
    println!(
        "\nThe data stays in {}. Watch it as a dashboard: `bqflow dashboard` (then open the URL it prints), \
with `bqflow generate --speed 600` in another terminal to see the day go on. Also try \
`bqflow query top-products -p category=Electronics`, `bqflow status`, and `bqflow teardown`.",
        ctx.project.local_dir().display()
    );
    Ok(0)
}
