//! Dashboards checked against the spec alone: names, refresh, each panel's query, parameter
//! values, and which column mappings its chart needs or ignores. Whether the mapped columns exist
//! and fit the chart needs the query's result columns: `dashboard/columns.rs` checks that.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Checker, secs};
use crate::spec::dashboard::{Chart, Dashboard, Looker, Panel};
use crate::spec::located::Pos;
use crate::spec::names;
use crate::spec::types::Spec;

/// Refresh bounds: faster than a second only burns queries; slower than an hour is a report.
pub const REFRESH_RANGE: (Duration, Duration) = (secs(1), secs(3600));
/// The grid is 12 columns wide; a panel is at most 4 rows high.
pub const GRID_COLUMNS: u32 = 12;
pub const MAX_HEIGHT: u32 = 4;

/// The column mappings a chart needs, and those it can use besides.
pub fn mappings(chart: Chart) -> (&'static [&'static str], &'static [&'static str]) {
    match chart {
        Chart::Line => (&["x", "y"], &["series"]),
        Chart::Bar => (&["label", "y"], &["limit"]),
        Chart::StackedBar => (&["label", "series", "y"], &["limit"]),
        Chart::Heatmap => (&["x", "y", "value"], &[]),
        Chart::Tile => (&["value"], &[]),
        Chart::Table => (&[], &["columns", "highlight", "limit"]),
    }
}

pub(super) fn check(c: &mut Checker, spec: &Spec) {
    c.unique("dashboard", spec.dashboards.iter().map(|d| &d.name));
    let queries: BTreeSet<&str> = spec.queries.iter().map(|q| q.name.as_str()).collect();
    let views: BTreeSet<&str> = spec.views.iter().map(|v| v.name.as_str()).collect();
    for d in &spec.dashboards {
        check_dashboard(c, spec, d, &queries, &views);
    }
}

fn check_dashboard(
    c: &mut Checker,
    spec: &Spec,
    d: &Dashboard,
    queries: &BTreeSet<&str>,
    views: &BTreeSet<&str>,
) {
    c.name("dashboard name", &d.name, names::dashboard);
    if d.title.trim().is_empty() {
        c.error(d.title.at, "a dashboard needs a non-empty `title`");
    }
    let (min, max) = REFRESH_RANGE;
    c.range("refresh", &d.refresh, min, max);
    if let Some(b) = &d.max_bytes_per_refresh
        && b.value == 0
    {
        c.error(
            b.at,
            "max_bytes_per_refresh 0 would refuse every refresh: give a number of bytes, e.g. 10000000000 for 10 GB",
        );
    }
    if d.panels.is_empty() {
        c.error(d.name.at, format!("dashboard `{}` has no panels", d.name))
            .hint("add `panels:` with at least one `{ title, query, chart }`");
    }
    c.unique("panel", d.panels.iter().map(|p| &p.title));
    for p in &d.panels {
        check_panel(c, spec, p, queries);
    }
    if let Some(looker) = &d.looker {
        check_looker(c, looker, views);
    }
}

fn check_panel(c: &mut Checker, spec: &Spec, p: &Panel, queries: &BTreeSet<&str>) {
    let context = format!("panel `{}`", p.title);
    if p.title.trim().is_empty() {
        c.error(p.title.at, "a panel needs a non-empty `title`");
    }
    if c.exists("query", &p.query, queries, &context) {
        let query = spec
            .queries
            .iter()
            .find(|q| q.name == p.query)
            .expect("exists");
        for (name, value) in &p.params {
            match query.params.iter().find(|d| d.name == *name) {
                None => {
                    let declared: Vec<&str> =
                        query.params.iter().map(|d| d.name.as_str()).collect();
                    c.error(
                        name.at,
                        format!("query `{}` has no parameter `{name}`", p.query),
                    )
                    .culprit(name.as_str())
                    .hint(if declared.is_empty() {
                        "it takes none".to_string()
                    } else {
                        format!("it takes {}", declared.join(", "))
                    });
                }
                Some(declared) => {
                    if let Err(reason) =
                        crate::sql::params::parse_value(declared.param_type.value, value)
                    {
                        c.error(
                            value.at,
                            format!("parameter `{name}` of {context}: {reason}"),
                        )
                        .culprit(value.as_str());
                    }
                }
            }
        }
        for declared in &query.params {
            if declared.default.is_none() && !p.params.contains_key(declared.name.as_str()) {
                c.error(
                    p.query.at,
                    format!(
                        "query `{}` needs parameter `{}`, which {context} does not set",
                        p.query, declared.name
                    ),
                )
                .hint(format!("add `params: {{ {}: … }}`", declared.name));
            }
        }
    }
    check_mappings(c, p, &context);
    let ranges = [
        ("width", &p.width, 1, GRID_COLUMNS),
        ("height", &p.height, 1, MAX_HEIGHT),
        ("limit", &p.limit, 1, 10_000),
    ];
    for (what, value, low, high) in ranges {
        if let Some(v) = value
            && !(low..=high).contains(&v.value)
        {
            c.error(
                v.at,
                format!("{what} {} is out of range: {low} … {high}", v.value),
            );
        }
    }
    for h in &p.highlight {
        let conditions = [h.equals.is_some(), h.below.is_some(), h.above.is_some()];
        if conditions.iter().filter(|x| **x).count() != 1 {
            c.error(
                h.column.at,
                format!(
                    "highlight on `{}` needs exactly one of `equals`, `below` or `above`",
                    h.column
                ),
            );
        }
    }
}

/// Each chart needs some mappings and ignores others; an ignored one is a mistake (a `series`
/// on a bar chart would silently draw nothing different), so it is an error too.
fn check_mappings(c: &mut Checker, p: &Panel, context: &str) {
    let chart = p.chart.value;
    let (required, optional) = mappings(chart);
    let y = p.y.as_ref().filter(|y| !y.0.is_empty());
    let present: [(&str, Option<Pos>); 8] = [
        ("x", p.x.as_ref().map(|t| t.at)),
        ("y", y.map(|y| y.0[0].at)),
        ("series", p.series.as_ref().map(|t| t.at)),
        ("label", p.label.as_ref().map(|t| t.at)),
        ("value", p.value.as_ref().map(|t| t.at)),
        ("columns", p.columns.first().map(|t| t.at)),
        ("highlight", p.highlight.first().map(|h| h.column.at)),
        ("limit", p.limit.as_ref().map(|l| l.at)),
    ];
    for (key, at) in present {
        match at {
            Some(at) if !required.contains(&key) && !optional.contains(&key) => {
                c.error(
                    at,
                    format!("`{key}` has no meaning for a {chart} panel ({context})"),
                )
                .hint(usage(chart));
            }
            None if required.contains(&key) => {
                c.error(
                    p.chart.at,
                    format!("a {chart} panel needs `{key}` ({context})"),
                )
                .hint(usage(chart));
            }
            _ => {}
        }
    }
    // One y column per bar, cell or series-split line.
    let single_y = matches!(chart, Chart::Bar | Chart::StackedBar | Chart::Heatmap)
        || (chart == Chart::Line && p.series.is_some());
    if let Some(y) = y
        && single_y
        && y.0.len() > 1
    {
        c.error(
            y.0[1].at,
            format!(
                "a {chart} panel{} takes one `y` column, not {}",
                if chart == Chart::Line {
                    " with `series`"
                } else {
                    ""
                },
                y.0.len()
            ),
        )
        .culprit(y.0[1].as_str());
    }
}

/// What a chart's mappings look like, for hints.
fn usage(chart: Chart) -> &'static str {
    match chart {
        Chart::Line => {
            "a line panel maps `x` (time or number) and `y` (one or more numeric columns), or `y` and `series`"
        }
        Chart::Bar => "a bar panel maps `label` (the category) and `y` (the number)",
        Chart::StackedBar => "a stacked_bar panel maps `label`, `series` (the segments) and `y`",
        Chart::Heatmap => "a heatmap panel maps `x`, `y` (the two categories) and `value`",
        Chart::Tile => "a tile panel maps `value`: a number from the first row",
        Chart::Table => "a table panel may list `columns`, `highlight` rules and a `limit`",
    }
}

fn check_looker(c: &mut Checker, looker: &Looker, views: &BTreeSet<&str>) {
    for (alias, view) in &looker.data_sources {
        if alias.is_empty()
            || !alias
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            c.error(
                alias.at,
                format!("data source alias `{alias}` must be letters, digits and `_`"),
            )
            .culprit(alias.as_str());
        }
        c.exists("view", view, views, "looker.data_sources");
    }
    if let Some(id) = &looker.template_report_id
        && (id.is_empty()
            || !id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    {
        c.error(
            id.at,
            format!("template_report_id `{id}` is not a report id (the part of the report URL between `reporting/` and `/page`)"),
        )
        .culprit(id.as_str());
    }
}
