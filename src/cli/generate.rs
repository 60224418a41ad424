//! `bqflow generate`: stream Black Friday events into the target's topics (or a file), paced,
//! resumable, with live progress; Ctrl-C stops cleanly and prints a summary.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::Global;
use super::context::{self, Context, block_on};
use crate::error::{Error, Result};
use crate::generate::run::{self, Clock, Message, Options, Sink, Summary};
use crate::generate::{Model, ModelConfig, Pace, model_config, producer_id};
use crate::spec::Project;
use crate::ui::Ui;

#[derive(Args, Debug, Default)]
pub struct GenerateArgs {
    /// Events per second, or `max` (default: `generator.rate` in the spec).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<Pace>,
    /// Replay the simulated day this many times faster than real time (implies --clock simulated).
    #[arg(long, conflicts_with = "rate", value_parser = super::flags::speed)]
    pub speed: Option<f64>,
    /// Stop after this many events.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after this long, e.g. `30s`, `5m`.
    #[arg(long, value_parser = super::flags::positive_duration)]
    pub duration: Option<Duration>,
    /// Seed of the model (default: `generator.seed`; dimension tables are loaded from that one).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Event time: the wall clock, or the simulated Black Friday.
    #[arg(long, value_enum)]
    pub clock: Option<ClockArg>,
    /// Simulated clock: time of the first event (RFC 3339); default the model's own time.
    #[arg(long, value_parser = parse_start)]
    pub start: Option<i64>,
    /// Share of extra malformed events to exercise dead-lettering, e.g. 0.01.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub malformed: f64,
    /// Write newline-delimited JSON here (`-` for stdout) instead of publishing to the target.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockArg {
    Wall,
    Simulated,
}

fn parse_rate(s: &str) -> std::result::Result<Pace, String> {
    if s == "max" {
        return Ok(Pace::Max);
    }
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() && r <= 10_000_000.0 => Ok(Pace::Rate(r)),
        _ => Err(format!(
            "`{s}` is not a rate: give events per second (e.g. 500, at most 10000000) or `max`"
        )),
    }
}

fn parse_start(s: &str) -> std::result::Result<i64, String> {
    crate::sql::params::parse_timestamp(s)
        .ok_or_else(|| format!("`{s}` is not a time: write e.g. 2026-11-27T05:00:00-05:00"))
}

fn parse_share(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "`{s}` is not a share: give a number from 0 to 1, e.g. 0.01"
        )),
    }
}

/// Shows sent counts and the live rate on one line.
struct Live {
    bar: ProgressBar,
    start: Instant,
}

impl run::Progress for Live {
    fn update(&self, s: &Summary, delivery: &str) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_position(s.total());
        self.bar.set_message(format!(
            "{:>9.0}/s  sales {}  inventory {}  malformed {}  {delivery}",
            s.total() as f64 / secs,
            s.sales,
            s.inventory,
            s.malformed
        ));
    }
}

/// Newline-delimited JSON into a file or stdout.
struct FileSink(Box<dyn Write>);

impl Sink for FileSink {
    fn send(&mut self, m: Message<'_>) -> anyhow::Result<()> {
        self.0.write_all(m.data)?;
        self.0.write_all(b"\n")?;
        Ok(())
    }
    fn tick(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> anyhow::Result<String> {
        self.0.flush()?;
        Ok("written".into())
    }
}

pub fn options(project: &Project, args: &GenerateArgs) -> Options {
    let simulated =
        args.speed.is_some() || args.start.is_some() || args.clock == Some(ClockArg::Simulated);
    let pace = match (args.speed, args.rate) {
        (Some(speed), _) => Pace::Speed(speed),
        (None, Some(rate)) => rate,
        (None, None) => Pace::Rate(project.spec.generator.rate.value as f64),
    };
    Options {
        pace,
        count: args.count,
        duration: args.duration,
        clock: if simulated {
            Clock::Simulated {
                start_us: args.start,
            }
        } else {
            Clock::Wall
        },
        malformed: args.malformed,
        resume_after: [None, None],
    }
}

pub fn run(ui: &Ui, g: &Global, args: GenerateArgs) -> Result<u8> {
    if args.clock == Some(ClockArg::Wall) && (args.speed.is_some() || args.start.is_some()) {
        return Err(Error::usage(
            "--speed and --start drive the simulated clock; they cannot be used with --clock wall",
        ));
    }
    let ctx = context::load(g)?;
    let generator = model_config_for(ui, &ctx, &args);
    let producer = producer_id(&generator);
    let mut opts = options(&ctx.project, &args);
    let stop = stop_on_ctrl_c();
    // Held while events are generated: one generator per deployment (backend/lock.rs).
    let (mut sink, _lock) = open_sink(ui, &ctx, &args, &producer, &mut opts)?;
    let live = progress(ui, &opts);
    let mut model = Model::new(&generator);
    let summary =
        run::run(&mut model, sink.as_mut(), &opts, &stop, &live).context("generating events")?;
    live.bar.finish_and_clear();
    drop(sink);
    let out = summary_text(&summary);
    if args.output.as_deref().is_some_and(|p| p.as_os_str() == "-") {
        eprintln!("{out}")
    } else {
        println!("{out}")
    }
    Ok(if summary.interrupted { 130 } else { 0 })
}

/// The spec's generator settings, with `--seed` if given (and a warning that the dimension
/// tables describe the spec's seed).
fn model_config_for(ui: &Ui, ctx: &Context, args: &GenerateArgs) -> ModelConfig {
    let mut generator = model_config(&ctx.project.spec.generator);
    if let Some(seed) = args.seed {
        if seed != generator.seed {
            ui.warn(format!(
                "--seed {seed} differs from generator.seed {}: the dimension tables describe the spec's seed",
                generator.seed
            ));
        }
        generator.seed = seed;
    }
    generator
}

/// The first Ctrl-C asks the loop to stop after the batches in flight; a second exits at once.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    stop
}

/// Where the events go: `--output` (a file or stdout), or the target's topics, which takes the
/// generator lock and sets where each stream resumes.
fn open_sink(
    ui: &Ui,
    ctx: &Context,
    args: &GenerateArgs,
    producer: &str,
    opts: &mut Options,
) -> Result<(Box<dyn Sink>, Option<std::fs::File>)> {
    match &args.output {
        Some(path) if path.as_os_str() == "-" => Ok((
            Box::new(FileSink(Box::new(std::io::BufWriter::new(
                std::io::stdout().lock(),
            )))),
            None,
        )),
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| Error::usage(format!("--output {}: {e}", path.display())))?;
            Ok((
                Box::new(FileSink(Box::new(std::io::BufWriter::new(file)))),
                None,
            ))
        }
        None => {
            let Some(streams) = &ctx.project.spec.generator.streams else {
                return Err(Error::usage(format!(
                    "{} has no `generator.streams`: name the topics for sales and inventory events, or use --output",
                    ctx.project.file.display()
                )));
            };
            let lock = crate::backend::lock::generator(
                &ctx.backend.state_dir(),
                ctx.backend.generate_makes_state_dir(),
            )?;
            let topics = [streams.sales.as_str(), streams.inventory.as_str()];
            let (sink, resume) = block_on(ctx.backend.sink(&ctx.plan, topics, producer))?;
            opts.resume_after = resume;
            if let Some(after) = resume.iter().flatten().min() {
                ui.note(format!(
                    "Resuming the simulated day after event #{after} (already delivered)."
                ));
            }
            ui.note(format!(
                "Generating into topics {} and {}; Ctrl-C stops after delivering what is in flight.",
                topics[0], topics[1]
            ));
            Ok((sink, lock))
        }
    }
}

fn progress(ui: &Ui, opts: &Options) -> Live {
    let bar = ProgressBar::with_draw_target(opts.count, ui.draw_target());
    let style = if opts.count.is_some() {
        "{spinner} {elapsed_precise} [{bar:25}] {pos}/{len} {msg}"
    } else {
        "{spinner} {elapsed_precise} {pos} events {msg}"
    };
    bar.set_style(
        ProgressStyle::with_template(style)
            .expect("template")
            .progress_chars("=> "),
    );
    Live {
        bar,
        start: Instant::now(),
    }
}

/// `Generated 30000 events in 1.2s (25000/s): … ` and what the sink says it delivered.
fn summary_text(summary: &Summary) -> String {
    let flaws: Vec<String> = summary
        .flaws
        .iter()
        .map(|(f, n)| format!("{} {n}", f.as_str()))
        .collect();
    format!(
        "{} {} events in {:.1}s ({:.0}/s): {} sales, {} inventory, {} malformed{}\n  {}",
        if summary.interrupted {
            "Interrupted after"
        } else {
            "Generated"
        },
        summary.total(),
        summary.elapsed.as_secs_f64(),
        summary.rate(),
        summary.sales,
        summary.inventory,
        summary.malformed,
        if flaws.is_empty() {
            String::new()
        } else {
            format!(" ({})", flaws.join(", "))
        },
        summary.delivered,
    )
}
