//! Panels checked against their queries' result columns: every column a panel names exists,
//! and its type fits the chart (a line's x is a time or a number, bar lengths are numbers, a
//! `percent` format applies to a number…). The columns come from running each query over
//! empty tables in an in-memory DuckDB (`backend/local/check.rs`), so this needs no warehouse.

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::spec::Project;
use crate::spec::dashboard::{Chart, Format, Panel};
use crate::spec::located::Text;
use crate::spec::names;

/// What a column holds, as far as charts care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Number,
    Time,
    Text,
    Bool,
    Other,
}

impl Kind {
    /// From a BigQuery-style type name (`INT64`, `NUMERIC`, `TIMESTAMP`…).
    pub fn of(type_name: &str) -> Kind {
        match type_name {
            "INT64" | "FLOAT64" | "NUMERIC" | "BIGNUMERIC" => Kind::Number,
            "TIMESTAMP" | "DATE" | "DATETIME" => Kind::Time,
            "STRING" => Kind::Text,
            "BOOL" => Kind::Bool,
            _ => Kind::Other,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Time => "a time",
            Kind::Text => "text",
            Kind::Bool => "a boolean",
            Kind::Other => "of another type",
        }
    }
}

/// Result columns per query name: (column, type name).
pub type Columns = BTreeMap<String, Vec<(String, &'static str)>>;

pub fn check(project: &Project, columns: &Columns) -> Diagnostics {
    let mut found = Diagnostics::default();
    for d in &project.spec.dashboards {
        for p in &d.panels {
            // A query DuckDB rejected is reported on its own; its panels wait for the fix.
            if let Some(cols) = columns.get(p.query.as_str()) {
                check_panel(&mut found, &project.file, p, cols);
            }
        }
    }
    found
}

/// What a mapped column must hold for its panel's chart.
struct Need<'a> {
    column: &'a Text,
    kinds: &'static [Kind],
    /// "a line chart's `what`, but `column` is …"
    what: &'static str,
    hint: &'static str,
}

const NUMBER: &[Kind] = &[Kind::Number];

/// The type each mapped column of the panel must have.
fn needs(p: &Panel) -> Vec<Need<'_>> {
    let chart = p.chart.value;
    let need = |column, kinds, what, hint| Need {
        column,
        kinds,
        what,
        hint,
    };
    let mut out = Vec::new();
    if let (Chart::Line, Some(x)) = (chart, &p.x) {
        out.push(need(
            x,
            &[Kind::Time, Kind::Number],
            "x axis needs a TIMESTAMP, DATE or number",
            "for categories along the axis use a bar chart",
        ));
    }
    if matches!(chart, Chart::Line | Chart::Bar | Chart::StackedBar) {
        for y in p.y.iter().flat_map(|y| &y.0) {
            out.push(need(
                y,
                NUMBER,
                "`y` must be a number",
                "map a numeric column to `y`",
            ));
        }
    }
    let time_tile = p.format.as_ref().is_some_and(|f| f.value == Format::Time);
    match (chart, &p.value) {
        (Chart::Heatmap, Some(v)) => out.push(need(
            v,
            NUMBER,
            "`value` colours cells and must be a number",
            "map a numeric column to `value`",
        )),
        (Chart::Tile, Some(v)) if time_tile => out.push(need(
            v,
            &[Kind::Time],
            "`value` with `format: time` must be a TIMESTAMP or DATE",
            "drop `format: time`, or pick a time column",
        )),
        (Chart::Tile, Some(v)) => out.push(need(
            v,
            NUMBER,
            "`value` must be a number (or a time, with `format: time`)",
            "map a numeric column to `value`",
        )),
        _ => {}
    }
    for h in p
        .highlight
        .iter()
        .filter(|h| h.below.is_some() || h.above.is_some())
    {
        out.push(need(
            &h.column,
            NUMBER,
            "`below`/`above` rule compares numbers",
            "use `equals:` for text",
        ));
    }
    out
}

fn check_panel(
    found: &mut Diagnostics,
    file: &std::path::Path,
    p: &Panel,
    cols: &[(String, &str)],
) {
    let kind = |name: &str| {
        cols.iter()
            .find(|(c, _)| c == name)
            .map(|(_, t)| Kind::of(t))
    };
    let mut error = |at: &Text, message: String, hint: String| {
        let mut d = Diagnostic::new(file, at.at, message);
        d.culprit(at.as_str()).hint(hint);
        found.push(d);
    };
    let listed = cols.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>();
    let unknown: Vec<_> = p
        .mapped_columns()
        .into_iter()
        .filter(|(_, column)| kind(column).is_none())
        .collect();
    for (role, column) in &unknown {
        let hint = names::suggest(column, listed.iter().copied()).map_or_else(
            || format!("its columns: {}", listed.join(", ")),
            |s| format!("did you mean `{s}`?"),
        );
        error(
            column,
            format!(
                "panel `{}`: query `{}` has no column `{column}` (for `{role}`)",
                p.title, p.query
            ),
            hint,
        );
    }
    if !unknown.is_empty() {
        return;
    }
    for n in needs(p) {
        let k = kind(n.column).expect("checked above");
        if !n.kinds.contains(&k) {
            error(
                n.column,
                format!(
                    "panel `{}`: a {} chart's {}, but `{}` is {}",
                    p.title,
                    p.chart.value,
                    n.what,
                    n.column,
                    k.describe()
                ),
                n.hint.to_string(),
            );
        }
    }
    // Formats fit the columns they format.
    let mut formatted: Vec<(&Text, Format)> = p.formats.iter().map(|(c, f)| (c, f.value)).collect();
    if let Some(f) = &p.format {
        formatted.extend(p.drawn_values().into_iter().map(|c| (c, f.value)));
    }
    for (column, format) in formatted {
        let k = kind(column).expect("checked above");
        let fits = match format {
            Format::Time => k == Kind::Time,
            _ => k == Kind::Number,
        };
        if !fits {
            error(
                column,
                format!(
                    "panel `{}`: format `{}` does not fit `{column}`, which is {}",
                    p.title,
                    format_name(format),
                    k.describe()
                ),
                "money, percent, count and number format numbers; time formats a TIMESTAMP or DATE"
                    .into(),
            );
        }
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Money => "money",
        Format::Percent => "percent",
        Format::Count => "count",
        Format::Number => "number",
        Format::Time => "time",
    }
}
