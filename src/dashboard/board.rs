//! A dashboard of the spec made ready to run: every panel's query rendered for the target and
//! its parameters resolved. Panels that show the same query with the same parameters share one
//! run per refresh.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::diagnostic::Diagnostics;
use crate::error::{Error, Result};
use crate::spec::Project;
use crate::spec::dashboard::{Chart, Color, Dashboard, Format, Highlight};
use crate::spec::names;
use crate::sql::params::{self, ParamValue};
use crate::sql::{Rendered, Renderer};

/// Panels update this often when the spec does not say.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);

pub struct Board {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub refresh: Duration,
    /// Bytes one refresh may process on BigQuery (estimated by dry run first).
    pub budget: Option<u64>,
    pub panels: Vec<PanelDef>,
    pub queries: Vec<BoardQuery>,
}

/// One distinct query run per refresh.
pub struct BoardQuery {
    pub name: String,
    pub rendered: Rendered,
    pub params: Vec<(String, ParamValue)>,
}

pub struct PanelDef {
    /// `p0`, `p1`…: the element id on the page.
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub chart: Chart,
    /// Index into `Board::queries`.
    pub query: usize,
    pub x: Option<String>,
    pub y: Vec<String>,
    pub series: Option<String>,
    pub label: Option<String>,
    pub value: Option<String>,
    pub columns: Vec<String>,
    pub highlight: Vec<Rule>,
    pub format: Option<Format>,
    pub formats: BTreeMap<String, Format>,
    pub limit: Option<usize>,
    pub width: u32,
    pub height: u32,
}

/// A table row colour rule.
pub struct Rule {
    pub column: String,
    pub test: Test,
    pub color: Color,
}

pub enum Test {
    Equals(String),
    Below(f64),
    Above(f64),
}

impl Rule {
    fn from_spec(h: &Highlight) -> Rule {
        let test = match (&h.equals, &h.below, &h.above) {
            (Some(e), _, _) => Test::Equals(e.value.clone()),
            (_, Some(b), _) => Test::Below(b.value),
            (_, _, Some(a)) => Test::Above(a.value),
            // Validation asks for exactly one condition.
            _ => Test::Equals(String::new()),
        };
        Rule {
            column: h.column.value.clone(),
            test,
            color: h.color.value,
        }
    }
}

impl PanelDef {
    /// The format of a column: the panel's `formats`, then its `format` for the columns it
    /// draws (y, value), else none (the value's type decides).
    pub fn format_of(&self, column: &str) -> Option<Format> {
        self.formats.get(column).copied().or_else(|| {
            let y = self.chart != Chart::Heatmap && self.y.iter().any(|c| c == column);
            let drawn = y || self.value.as_deref() == Some(column);
            if drawn { self.format } else { None }
        })
    }
}

/// Picks the dashboard `name` (or the spec's only one) and prepares it.
pub fn load(project: &Project, renderer: &Renderer, name: Option<&str>) -> Result<Board> {
    let dashboards = &project.spec.dashboards;
    let known = || {
        dashboards
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let dashboard = match name {
        Some(name) => project.dashboard(name).ok_or_else(|| {
            let hint = names::suggest(name, dashboards.iter().map(|d| d.name.as_str()))
                .map_or_else(
                    || format!("declared: {}", known()),
                    |s| format!("did you mean `{s}`?"),
                );
            Error::usage(format!(
                "no dashboard named `{name}` in {}; {hint}",
                project.file.display()
            ))
        })?,
        None => match dashboards.as_slice() {
            [only] => only,
            [] => {
                return Err(Error::usage(format!(
                    "{} declares no `dashboards:`; add one (see `bqflow init` for an example)",
                    project.file.display()
                )));
            }
            _ => {
                return Err(Error::usage(format!(
                    "{} declares several dashboards: name one ({})",
                    project.file.display(),
                    known()
                )));
            }
        },
    };
    prepare(project, renderer, dashboard)
}

fn prepare(project: &Project, renderer: &Renderer, d: &Dashboard) -> Result<Board> {
    let mut queries: Vec<BoardQuery> = Vec::new();
    let mut panels = Vec::new();
    for (i, p) in d.panels.iter().enumerate() {
        let query = project
            .query(&p.query)
            .expect("validated: panel queries are declared");
        let given: Vec<(&str, &str)> = p
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let values = params::resolve(query, &given).map_err(|e| {
            Error::usage(format!(
                "panel `{}` of dashboard `{}`: {e:?}",
                p.title, d.name
            ))
        })?;
        let index = match queries
            .iter()
            .position(|q| q.name == p.query.as_str() && q.params == values)
        {
            Some(index) => index,
            None => {
                let rendered = renderer.query(query).map_err(Diagnostics::from)?;
                queries.push(BoardQuery {
                    name: p.query.value.clone(),
                    rendered,
                    params: values,
                });
                queries.len() - 1
            }
        };
        let tile = p.chart.value == Chart::Tile;
        panels.push(PanelDef {
            id: format!("p{i}"),
            title: p.title.value.clone(),
            description: p.description.as_ref().map(|t| t.value.clone()),
            chart: p.chart.value,
            query: index,
            x: p.x.as_ref().map(|t| t.value.clone()),
            y: p.y
                .iter()
                .flat_map(|y| &y.0)
                .map(|t| t.value.clone())
                .collect(),
            series: p.series.as_ref().map(|t| t.value.clone()),
            label: p.label.as_ref().map(|t| t.value.clone()),
            value: p.value.as_ref().map(|t| t.value.clone()),
            columns: p.columns.iter().map(|t| t.value.clone()).collect(),
            highlight: p.highlight.iter().map(Rule::from_spec).collect(),
            format: p.format.as_ref().map(|f| f.value),
            formats: p
                .formats
                .iter()
                .map(|(k, v)| (k.value.clone(), v.value))
                .collect(),
            limit: p.limit.as_ref().map(|l| l.value as usize),
            width: p
                .width
                .as_ref()
                .map_or(if tile { 3 } else { 6 }, |w| w.value),
            height: p
                .height
                .as_ref()
                .map_or(if tile { 1 } else { 2 }, |h| h.value),
        });
    }
    Ok(Board {
        name: d.name.value.clone(),
        title: d.title.value.clone(),
        description: d.description.as_ref().map(|t| t.value.clone()),
        refresh: d.refresh.as_ref().map_or(DEFAULT_REFRESH, |r| r.value),
        budget: d.max_bytes_per_refresh.as_ref().map(|b| b.value),
        panels,
        queries,
    })
}
