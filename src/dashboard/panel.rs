//! One panel's body: the query's rows mapped onto its chart, or the reason it cannot show.
//! The body is what a refresh replaces on the page; the panel's frame and title stay.

use std::fmt::Write;

use super::board::{PanelDef, Rule, Test};
use super::chart::{bar, escape, heatmap, line};
use super::format;
use crate::output::{QueryResult, Value};
use crate::spec::dashboard::Chart;

/// Grid geometry shared with the stylesheet (`html.rs`): a column is about this wide and a
/// row this high, in pixels, so charts are drawn at close to their on-screen size.
pub const COLUMN_WIDTH: f64 = 104.0;
pub const ROW_HEIGHT: f64 = 130.0;
pub const GAP: f64 = 16.0;
/// The panel's title bar and padding.
const CHROME: f64 = 62.0;

/// Bars and table rows shown when the panel sets no `limit`.
const DEFAULT_BARS: usize = 10;
const DEFAULT_TABLE_ROWS: usize = 12;

/// The drawing size of a panel's chart.
pub fn chart_size(p: &PanelDef) -> (f64, f64) {
    let w = p.width as f64 * COLUMN_WIDTH - 28.0;
    let h = p.height as f64 * ROW_HEIGHT + (p.height as f64 - 1.0) * GAP - CHROME;
    (w, h.max(60.0))
}

/// The body of a panel for a query result. `previous` is the tile's value at the last refresh.
pub fn body(p: &PanelDef, result: &QueryResult, previous: Option<f64>) -> Result<String, String> {
    let col = |name: &str| -> Result<usize, String> {
        result
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| {
                format!(
                    "the result has no column `{name}` (it has {})",
                    result.columns.join(", ")
                )
            })
    };
    let (w, h) = chart_size(p);
    let title = &p.title;
    match p.chart {
        Chart::Line => {
            let x = col(p.x.as_deref().unwrap_or_default())?;
            let ys = p.y.iter().map(|y| col(y)).collect::<Result<Vec<_>, _>>()?;
            let series = p.series.as_deref().map(col).transpose()?;
            let (axis, series) = line_series(result, x, &ys, &p.y, series)?;
            Ok(line::draw(&line::Line {
                width: w,
                height: h,
                title,
                axis,
                series: &series,
                format: p.format,
            }))
        }
        Chart::Bar | Chart::StackedBar => {
            let label = col(p.label.as_deref().unwrap_or_default())?;
            let y = col(p.y.first().map(String::as_str).unwrap_or_default())?;
            let series = p.series.as_deref().map(col).transpose()?;
            let limit = p.limit.unwrap_or(DEFAULT_BARS);
            let (labels, names, values, total) = bars(result, label, y, series, limit);
            let svg = bar::draw(&bar::Bars {
                width: w,
                height: h - if total > labels.len() { 16.0 } else { 0.0 },
                title,
                labels: &labels,
                series: &names,
                values: &values,
                format: p.format,
            });
            Ok(with_note(svg, total, labels.len(), "bars"))
        }
        Chart::Heatmap => {
            let x = col(p.x.as_deref().unwrap_or_default())?;
            let y = col(p.y.first().map(String::as_str).unwrap_or_default())?;
            let v = col(p.value.as_deref().unwrap_or_default())?;
            let (columns, rows, cells) = grid(result, x, y, v);
            Ok(heatmap::draw(&heatmap::Heatmap {
                width: w,
                height: h,
                title,
                columns: &columns,
                rows: &rows,
                cells: &cells,
                format: p.format,
            }))
        }
        Chart::Tile => {
            let v = col(p.value.as_deref().unwrap_or_default())?;
            Ok(tile(p, result.rows.first().map(|r| &r[v]), previous))
        }
        Chart::Table => table(p, result),
    }
}

/// The number a tile shows, kept to compute the change at the next refresh.
pub fn tile_value(p: &PanelDef, result: &QueryResult) -> Option<f64> {
    let v = result
        .columns
        .iter()
        .position(|c| Some(c.as_str()) == p.value.as_deref())?;
    format::number(result.rows.first()?.get(v)?)
}

fn line_series(
    result: &QueryResult,
    x: usize,
    ys: &[usize],
    y_names: &[String],
    series: Option<usize>,
) -> Result<(line::Axis, Vec<line::Series>), String> {
    const DAY_US: f64 = 86_400_000_000.0;
    let mut axis = None;
    let x_of = |v: &Value| -> Option<(line::Axis, f64)> {
        match v {
            Value::Timestamp(us) => Some((line::Axis::Time, *us as f64)),
            Value::Date(d) => {
                let days = (*d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days();
                Some((line::Axis::Time, days as f64 * DAY_US))
            }
            other => format::number(other).map(|n| (line::Axis::Number, n)),
        }
    };
    let mut out: Vec<line::Series> = Vec::new();
    for row in &result.rows {
        let Some((kind, xv)) = x_of(&row[x]) else {
            if row[x] == Value::Null {
                continue;
            }
            return Err(format!(
                "`{}` must hold times or numbers to be a line's x axis, not `{}`",
                result.columns[x],
                format::full(&row[x], None)
            ));
        };
        axis.get_or_insert(kind);
        for (k, y) in ys.iter().enumerate() {
            let Some(yv) = format::number(&row[*y]) else {
                continue;
            };
            let name = match series {
                Some(s) => format::full(&row[s], None),
                None => y_names[k].clone(),
            };
            match out.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push((xv, yv)),
                None => out.push(line::Series {
                    name,
                    points: vec![(xv, yv)],
                }),
            }
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok((axis.unwrap_or(line::Axis::Number), out))
}

/// Bars in the order of the rows (the query's ORDER BY), at most `limit` categories. Returns
/// labels, series names, values per label and series, and how many categories there were.
fn bars(
    result: &QueryResult,
    label: usize,
    y: usize,
    series: Option<usize>,
    limit: usize,
) -> (Vec<String>, Vec<String>, Vec<Vec<f64>>, usize) {
    let mut labels: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut cells: Vec<(usize, usize, f64)> = Vec::new();
    for row in &result.rows {
        let l = format::full(&row[label], None);
        let s = series.map_or_else(
            || result.columns[y].clone(),
            |s| format::full(&row[s], None),
        );
        let li = index_of(&mut labels, l);
        let si = index_of(&mut names, s);
        cells.push((li, si, format::number(&row[y]).unwrap_or(0.0)));
    }
    let total = labels.len();
    labels.truncate(limit);
    let mut values = vec![vec![0.0; names.len()]; labels.len()];
    for (li, si, v) in cells {
        if li < labels.len() {
            values[li][si] += v;
        }
    }
    (labels, names, values, total)
}

fn index_of(list: &mut Vec<String>, item: String) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

/// Heatmap axes: numbers across sort numerically (hours 0…23), text keeps the rows' order.
fn grid(
    result: &QueryResult,
    x: usize,
    y: usize,
    v: usize,
) -> (Vec<String>, Vec<String>, Vec<Option<f64>>) {
    let distinct = |c: usize| {
        let mut values: Vec<&Value> = Vec::new();
        for row in &result.rows {
            if !values.contains(&&row[c]) {
                values.push(&row[c]);
            }
        }
        if values.iter().all(|v| format::number(v).is_some()) {
            values.sort_by(|a, b| {
                format::number(a)
                    .unwrap_or(0.0)
                    .total_cmp(&format::number(b).unwrap_or(0.0))
            });
        }
        values
    };
    let columns = distinct(x);
    let rows = distinct(y);
    let mut cells = vec![None; columns.len() * rows.len()];
    for row in &result.rows {
        let (Some(j), Some(i)) = (
            columns.iter().position(|c| **c == row[x]),
            rows.iter().position(|r| **r == row[y]),
        ) else {
            continue;
        };
        if let Some(n) = format::number(&row[v]) {
            let cell: &mut Option<f64> = &mut cells[i * columns.len() + j];
            *cell = Some(cell.unwrap_or(0.0) + n);
        }
    }
    let text = |values: Vec<&Value>| values.into_iter().map(|v| format::full(v, None)).collect();
    (text(columns), text(rows), cells)
}

fn tile(p: &PanelDef, value: Option<&Value>, previous: Option<f64>) -> String {
    let Some(value) = value else {
        return r#"<div class="tile"><div class="tile-value muted">—</div><div class="tile-delta">no rows yet</div></div>"#.into();
    };
    let format = p.format;
    let shown = format::full(value, format);
    let number = format::number(value);
    let delta = match (number, previous) {
        (Some(now), Some(before)) if now != before => {
            let class = if now > before { "up" } else { "down" };
            format!(
                r#"<div class="tile-delta {class}">{} since the last refresh</div>"#,
                escape(&format::delta(now - before, format))
            )
        }
        (Some(_), Some(_)) => {
            r#"<div class="tile-delta">no change since the last refresh</div>"#.to_string()
        }
        _ => r#"<div class="tile-delta">&nbsp;</div>"#.to_string(),
    };
    format!(
        r#"<div class="tile"><div class="tile-value" data-value="{}" title="{}">{}</div>{delta}</div>"#,
        escape(&number.map_or_else(String::new, |n| n.to_string())),
        escape(&format::full(value, None)),
        escape(&shown)
    )
}

fn table(p: &PanelDef, result: &QueryResult) -> Result<String, String> {
    let shown: Vec<usize> = if p.columns.is_empty() {
        (0..result.columns.len()).collect()
    } else {
        p.columns
            .iter()
            .map(|c| {
                result.columns.iter().position(|r| r == c).ok_or_else(|| {
                    format!(
                        "the result has no column `{c}` (it has {})",
                        result.columns.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    let rules: Vec<(usize, &Rule)> = p
        .highlight
        .iter()
        .map(|rule| {
            result
                .columns
                .iter()
                .position(|c| *c == rule.column)
                .map(|i| (i, rule))
                .ok_or_else(|| {
                    format!("the result has no column `{}` to highlight by", rule.column)
                })
        })
        .collect::<Result<_, _>>()?;
    let limit = p.limit.unwrap_or(DEFAULT_TABLE_ROWS);
    let mut out = String::from(r#"<div class="table-wrap"><table class="data"><thead><tr>"#);
    let numeric: Vec<bool> = shown
        .iter()
        .map(|&i| result.rows.iter().any(|r| format::number(&r[i]).is_some()))
        .collect();
    for (&i, &num) in shown.iter().zip(&numeric) {
        let class = if num { r#" class="num""# } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(&result.columns[i]));
    }
    out.push_str("</tr></thead><tbody>");
    for row in result.rows.iter().take(limit) {
        let color = rules
            .iter()
            .find(|(i, rule)| matches(&row[*i], &rule.test))
            .map(|(_, rule)| rule.color.name());
        match color {
            Some(c) => {
                let _ = write!(out, r#"<tr class="hl hl-{c}">"#);
            }
            None => out.push_str("<tr>"),
        }
        for (&i, &num) in shown.iter().zip(&numeric) {
            let class = if num { r#" class="num""# } else { "" };
            let text = format::full(&row[i], p.format_of(&result.columns[i]));
            let _ = write!(out, "<td{class}>{}</td>", escape(&text));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    if result.rows.is_empty() {
        out.push_str(r#"<p class="note">no rows yet</p>"#);
    }
    Ok(with_note(
        out,
        result.rows.len(),
        limit.min(result.rows.len()),
        "rows",
    ))
}

fn matches(v: &Value, test: &Test) -> bool {
    match test {
        Test::Equals(text) => match v {
            Value::Text(s) => s == text,
            Value::Null => false,
            other => format::full(other, None) == *text || other_text(other) == *text,
        },
        Test::Below(limit) => format::number(v).is_some_and(|n| n < *limit),
        Test::Above(limit) => format::number(v).is_some_and(|n| n > *limit),
    }
}

/// The plain text of a value as SQL would print it (`true`, `42`), for `equals:` rules.
fn other_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.clone(),
        Value::Float(f) => f.to_string(),
        _ => String::new(),
    }
}

fn with_note(mut html: String, total: usize, shown: usize, what: &str) -> String {
    if total > shown {
        let first = if what == "bars" { "top" } else { "first" };
        let _ = write!(
            html,
            r#"<p class="note">{first} {shown} of {total} {what}</p>"#
        );
    }
    html
}

/// The body shown when the query failed: the rest of the dashboard keeps updating.
pub fn error(query: &str, message: &str) -> String {
    format!(
        r#"<div class="panel-error" role="alert"><strong>Query `{}` failed</strong><pre>{}</pre></div>"#,
        escape(query),
        escape(message)
    )
}
