//! The command line: one definition (clap derive) for parsing, help and shell completions; one
//! file per command.

mod completions;
mod context;
mod dashboard;
mod demo;
mod flags;
mod generate;
mod init;
mod plan;
mod query;
mod status;
mod teardown;
mod up;
mod validate;
mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::Result;
use crate::ui::Ui;

#[derive(Parser, Debug)]
#[command(
    name = "bqflow",
    version,
    about = "Black Friday real-time sales & inventory analytics on BigQuery, as code",
    long_about = "Provision Pub/Sub topics, ingestion pipelines, a BigQuery dataset, tables and metric views \
from one spec (project.yaml); stream realistic events; query the metrics. Runs embedded on your \
machine (--target local, the default) or on Google Cloud (--target gcp).",
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 bad input (spec, template or flag), 3 `plan` found pending changes."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The spec file.
    #[arg(
        short = 'f',
        long,
        global = true,
        env = "BQFLOW_PROJECT_FILE",
        default_value = "project.yaml"
    )]
    pub project_file: PathBuf,
    /// Where to run: the embedded local target or Google Cloud.
    #[arg(short, long, global = true, env = "BQFLOW_TARGET", value_enum, default_value_t = Target::Local)]
    pub target: Target,
    /// GCP project id (overrides the spec; GOOGLE_CLOUD_PROJECT is read too).
    #[arg(long, global = true)]
    pub project: Option<String>,
    /// More detail (-vv for debug logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and results.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No colours (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Local,
    Gcp,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the Black Friday example (project.yaml + templates/) into a folder.
    Init(init::InitArgs),
    /// Check the spec and render every template for both targets.
    Validate,
    /// Show what `up` would create, update or leave alone (exit code 3 when changes are pending).
    Plan(plan::PlanArgs),
    /// Create or update everything the spec declares, in dependency order.
    Up(up::UpArgs),
    /// Stream Black Friday sales and inventory events.
    Generate(generate::GenerateArgs),
    /// Run a named metric (or --sql) and print the result.
    Query(query::QueryArgs),
    /// What exists, row counts, freshness and backlog.
    Status,
    /// Serve a live dashboard of the metrics (or --export one refresh, or --looker on gcp).
    Dashboard(dashboard::DashboardArgs),
    /// Check that every acknowledged event landed in the fact tables, once.
    Verify(verify::VerifyArgs),
    /// Stop pipelines and delete everything this project created — nothing else.
    Teardown(teardown::TeardownArgs),
    /// One command: provision the local target, stream for a few seconds, print every metric.
    Demo(demo::DemoArgs),
    /// Print shell completions.
    Completions(completions::CompletionsArgs),
    /// Print the JSON Schema of project.yaml (for editor completion).
    Schema,
}

pub fn run(cli: Cli) -> Result<u8> {
    let ui = Ui::new(cli.global.quiet, cli.global.verbose, cli.global.no_color);
    // -v shows retries and other decisions, -vv every request (method and path, never tokens).
    // At the default level only bqflow speaks: a dependency's retries (gcp_auth trying the
    // metadata server five times) are noise before bqflow's own one-line error.
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let (ours, theirs) = match cli.global.verbose {
        0 => (LevelFilter::WARN, LevelFilter::OFF),
        1 => (LevelFilter::INFO, LevelFilter::WARN),
        _ => (LevelFilter::DEBUG, LevelFilter::DEBUG),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ui.color)
        .without_time()
        .with_filter(
            Targets::new()
                .with_target("bqflow", ours)
                .with_default(theirs),
        );
    let _ = tracing_subscriber::registry().with(layer).try_init();
    let g = &cli.global;
    match cli.command {
        Command::Init(args) => init::run(&ui, args),
        Command::Validate => validate::run(&ui, g),
        Command::Plan(args) => plan::run(&ui, g, args),
        Command::Up(args) => up::run(&ui, g, args),
        Command::Generate(args) => generate::run(&ui, g, args),
        Command::Query(args) => query::run(&ui, g, args),
        Command::Status => status::run(&ui, g),
        Command::Dashboard(args) => dashboard::run(&ui, g, args),
        Command::Verify(args) => verify::run(&ui, g, args),
        Command::Teardown(args) => teardown::run(&ui, g, args),
        Command::Demo(args) => demo::run(&ui, g, args),
        Command::Completions(args) => completions::run(args),
        Command::Schema => {
            print!("{}", crate::spec::json_schema());
            Ok(0)
        }
    }
}
