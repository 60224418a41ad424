//! The page: a header with the target and how fresh the data is, the panels on a 12-column
//! grid, and — on the live page — a small script that applies each refresh pushed by the
//! server. The stylesheet and script ship inside the binary; nothing is fetched from elsewhere.
//! An export is the same page with the stylesheet inlined and no script.

use std::fmt::Write;

use super::board::{Board, PanelDef};
use super::chart::escape;
use super::format;
use super::refresh::{Billing, PanelView, Problem, Snapshot};
use crate::spec::dashboard::Format;

pub const STYLESHEET: &str = include_str!("assets/dashboard.css");
pub const SCRIPT: &str = include_str!("assets/dashboard.js");

/// Live (served, updating) or exported (one self-contained file).
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Live,
    Export,
}

/// The whole page for a snapshot.
pub fn page(board: &Board, target: &str, snapshot: &Snapshot, mode: Mode) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = escape(&board.title);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="bqflow">
<title>{title} · bqflow</title>
"#
    );
    match mode {
        Mode::Live => out.push_str(r#"<link rel="stylesheet" href="app.css">"#),
        Mode::Export => {
            let _ = write!(out, "<style>\n{STYLESHEET}</style>");
        }
    }
    let _ = write!(
        out,
        r#"
</head>
<body data-version="{}" data-mode="{}">
<header class="top">
<div class="heading"><h1>{title}</h1>{}</div>
<div id="status" class="status">{}</div>
</header>
<main class="grid">
"#,
        snapshot.version,
        if mode == Mode::Live { "live" } else { "export" },
        board
            .description
            .as_ref()
            .map_or(String::new(), |d| format!(
                r#"<p class="desc">{}</p>"#,
                escape(d)
            )),
        status(board, target, snapshot, mode)
    );
    for (p, view) in board.panels.iter().zip(&snapshot.panels) {
        panel(&mut out, p, &board.queries[p.query].name, view);
    }
    let footer = match mode {
        Mode::Live => format!(
            r#"dashboard <code>{}</code> · updates every {} while this page is open · <span id="connection" class="connecting">connecting…</span>"#,
            escape(&board.name),
            humantime::format_duration(board.refresh)
        ),
        Mode::Export => format!(
            "dashboard <code>{}</code> · snapshot exported by bqflow at {}",
            escape(&board.name),
            format::timestamp(snapshot.taken_at)
        ),
    };
    let _ = write!(out, "</main>\n<footer>{footer}</footer>\n");
    if mode == Mode::Live {
        out.push_str(r#"<script src="app.js"></script>"#);
    }
    out.push_str("\n</body>\n</html>\n");
    out
}

/// A panel's frame on the grid, its title, and its body (what refreshes replace).
fn panel(out: &mut String, p: &PanelDef, query: &str, view: &PanelView) {
    let _ = write!(
        out,
        r#"<section class="panel w{} h{} kind-{}{}" id="{}" data-chart="{}" data-query="{}">
<header><h2>{}</h2>{}</header>
<div class="body" id="{}-body">{}</div>
</section>
"#,
        p.width,
        p.height,
        p.chart.name(),
        if view.failed { " failed" } else { "" },
        p.id,
        p.chart.name(),
        escape(query),
        escape(&p.title),
        p.description.as_ref().map_or(String::new(), |d| format!(
            r#"<p class="desc">{}</p>"#,
            escape(d)
        )),
        p.id,
        view.body
    );
}

/// The header's figures: target, newest event, arrivals, bytes billed, when and how long.
pub fn status(board: &Board, target: &str, s: &Snapshot, mode: Mode) -> String {
    let mut out = String::new();
    chip(
        &mut out,
        "target",
        format!("<b>{}</b>", escape(target)),
        "where the queries run",
    );
    freshness(&mut out, s);
    if let Some(b) = &s.billing {
        billing(&mut out, b, s.problem.is_some());
    }
    let when = if s.version == 0 {
        "not refreshed yet".to_string()
    } else {
        format!(
            "updated <b>{}</b> · took {:.2} s",
            chrono::DateTime::from_timestamp_micros(s.taken_at)
                .map(|t| t.format("%H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            s.took.as_secs_f64()
        )
    };
    let every = match mode {
        Mode::Live => format!(
            "refreshes every {}",
            humantime::format_duration(board.refresh)
        ),
        Mode::Export => "exported snapshot".into(),
    };
    chip(&mut out, "updated", when, &every);
    if let Some(problem) = &s.problem {
        let class = match problem {
            Problem::Refused(_) => "refused",
            Problem::Busy(_) => "busy",
            Problem::Failed(_) => "failed",
        };
        let _ = write!(
            out,
            r#"<div class="problem {class}" role="status">{}</div>"#,
            escape(problem.message())
        );
    }
    out
}

/// A figure of the header; `key` names it for tests and scripts, `title` explains it.
fn chip(out: &mut String, key: &str, html: String, title: &str) {
    let _ = write!(
        out,
        r#"<span class="chip" data-k="{key}" title="{}">{html}</span>"#,
        escape(title)
    );
}

/// The newest event's age, arrivals per second over the last minute, and any backlog.
fn freshness(out: &mut String, s: &Snapshot) {
    match s.pulse.newest {
        Some(newest) => chip(
            out,
            "newest",
            format!(
                "newest event <b>{}</b>",
                age_text((s.taken_at - newest) as f64 / 1e6)
            ),
            &format!("newest event time: {}", format::timestamp(newest)),
        ),
        None => chip(
            out,
            "newest",
            "no events yet".into(),
            "the fact tables are empty",
        ),
    }
    if let Some(n) = s.pulse.last_minute {
        let rate = n as f64 / 60.0;
        let text = if rate >= 10.0 || rate == 0.0 {
            format::full_number(rate, Format::Count)
        } else {
            format!("{rate:.1}")
        };
        chip(
            out,
            "rate",
            format!("<b>{text}</b> events/s"),
            "events that arrived over the last minute, per second",
        );
    }
    if let Some(backlog) = s.pulse.backlog.filter(|b| *b > 0) {
        chip(
            out,
            "backlog",
            format!("<b>{backlog}</b> segments still loading"),
            "sealed topic segments not loaded yet",
        );
    }
}

/// Bytes billed by the refresh, and the dry-run estimate against the budget (gcp).
fn billing(out: &mut String, b: &Billing, refused: bool) {
    let billed = match b.billed {
        Some(bytes) => format!("billed <b>{}</b>", format::bytes(bytes)),
        None if refused => "nothing billed".into(),
        None => "bytes billed not reported".into(),
    };
    let budget = match (b.estimated, b.budget) {
        (Some(e), Some(budget)) => format!(
            " · estimate {} of {} budget",
            format::bytes(e),
            format::bytes(budget)
        ),
        (None, Some(budget)) => format!(" · budget {}", format::bytes(budget)),
        _ => String::new(),
    };
    chip(
        out,
        "billed",
        format!("{billed}{budget}"),
        "bytes BigQuery billed for this refresh's queries",
    );
}

fn age_text(seconds: f64) -> String {
    match seconds {
        s if s < 0.0 => "just now".into(),
        s if s < 60.0 => format!("{s:.1} s ago"),
        s if s < 3600.0 => format!("{:.0} min ago", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h ago", s / 3600.0),
        s => format!("{:.0} days ago", s / 86_400.0),
    }
}

/// What a refresh pushes to open pages: the header and every panel body.
pub fn update_message(board: &Board, target: &str, s: &Snapshot) -> String {
    let panels: Vec<serde_json::Value> = s
        .panels
        .iter()
        .map(|p| serde_json::json!({ "id": p.id, "html": p.body, "failed": p.failed }))
        .collect();
    serde_json::json!({
        "version": s.version,
        "status": status(board, target, s, Mode::Live),
        "panels": panels,
    })
    .to_string()
}
