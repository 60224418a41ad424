//! `bqflow status`: what exists, row counts, freshness (age of the newest event), backlog.

use comfy_table::{Table, presets};

use super::Global;
use super::context::{self, block_on};
use crate::backend::{PipelineReport, Reading, TableReport};
use crate::error::Result;
use crate::output::timestamp_text;
use crate::plan::diff::Observed;
use crate::ui::Ui;

fn age(us: Option<i64>) -> String {
    let Some(us) = us else { return "-".into() };
    let secs = (chrono::Utc::now().timestamp_micros() - us) as f64 / 1e6;
    match secs {
        s if s < 0.0 => "in the future".into(),
        s if s < 120.0 => format!("{s:.1}s"),
        s if s < 7200.0 => format!("{:.0}m", s / 60.0),
        s if s < 172_800.0 => format!("{:.0}h", s / 3600.0),
        s => format!("{:.0}d", s / 86400.0),
    }
}

pub fn run(ui: &Ui, g: &Global) -> Result<u8> {
    let ctx = context::load(g)?;
    let report = block_on(ctx.backend.status(&ctx.plan))?;
    let present = report
        .resources
        .iter()
        .filter(|(_, o)| matches!(o, Observed::Present { owned: true, .. }))
        .count();
    let foreign = report
        .resources
        .iter()
        .filter(|(_, o)| matches!(o, Observed::Present { owned: false, .. }))
        .count();
    println!(
        "{} on the {}",
        ui.bold(&format!("Project {}", ctx.project.spec.name)),
        report.location
    );
    println!(
        "Resources: {present} of {} exist{}",
        report.resources.len(),
        if foreign > 0 {
            format!(", {foreign} names taken by resources bqflow does not own")
        } else {
            String::new()
        }
    );
    for (id, o) in &report.resources {
        if !matches!(o, Observed::Present { owned: true, .. }) {
            println!("  missing: {id}");
        }
    }
    print_tables(&report.tables);
    print_pipelines(&report.pipelines);
    if present == 0 {
        ui.note("Nothing provisioned yet: run `bqflow up`.");
    }
    Ok(0)
}

/// Rows and the age of the newest event, per table.
fn print_tables(tables: &[TableReport]) {
    if tables.is_empty() {
        return;
    }
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(["table", "rows", "newest event", "age"]);
    for row in tables {
        t.add_row([
            row.table.clone(),
            row.rows.to_string(),
            row.newest.map_or("-".into(), timestamp_text),
            age(row.newest),
        ]);
    }
    println!("{t}");
}

/// State, backlog, last load and dead letters, per pipeline; a figure the target cannot read
/// is "unknown (n)", with the reasons listed once under the table.
fn print_pipelines(pipelines: &[PipelineReport]) {
    if pipelines.is_empty() {
        return;
    }
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "pipeline",
        "route",
        "state",
        "backlog (messages)",
        "last load",
        "dead-lettered",
    ]);
    // Why a figure is unknown, said once under the table.
    let mut why: Vec<String> = Vec::new();
    let mut shown = |reading: &Reading<String>| match reading {
        Reading::Known(text) => text.clone(),
        Reading::Unknown(reason) => {
            if !why.contains(reason) {
                why.push(reason.clone());
            }
            format!(
                "unknown ({})",
                why.iter().position(|w| w == reason).unwrap_or(0) + 1
            )
        }
    };
    for p in pipelines {
        let backlog = p.backlog.map(u64::to_string);
        let last_load = p
            .last_load
            .map(|t| t.map_or("never".into(), |t| format!("{} ago", age(Some(t)))));
        t.add_row([
            p.name.clone(),
            p.route.clone(),
            p.state.clone(),
            shown(&backlog),
            shown(&last_load),
            p.dead_lettered.to_string(),
        ]);
    }
    println!("{t}");
    for (i, reason) in why.iter().enumerate() {
        println!("  ({}) {reason}", i + 1);
    }
}
