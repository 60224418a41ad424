//! bqflow: the Black Friday real-time analytics pipeline (Pub/Sub → Dataflow or BigQuery
//! subscriptions → BigQuery) as code, on Google Cloud or embedded on one machine.
//!
//! Data flows one way: `spec` (project.yaml) and `sql` (templates) feed `plan` (the desired
//! resources as a DAG); `backend` (local or gcp) observes and applies it; `generate` streams
//! events into a backend's sink; `cli` wires commands to these layers.

pub mod backend;
pub mod cli;
pub mod cost;
pub mod dashboard;
pub mod diagnostic;
pub mod durable;
pub mod error;
pub mod generate;
pub mod output;
pub mod plan;
pub mod runtime;
pub mod settings;
pub mod spec;
pub mod sql;
pub mod ui;

use std::process::ExitCode;

use clap::Parser;

/// Parses arguments, runs the command, prints any error on one screen, returns the exit code.
pub fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Err(e) = settings::init() {
        eprintln!("error: {}", output::visible(&e));
        return ExitCode::from(2);
    }
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Messages can quote data (a value DuckDB could not convert, say): keep them inert.
            eprintln!("{}", output::visible(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
