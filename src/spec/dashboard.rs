//! `dashboards:` in `project.yaml`: live dashboards served by `bqflow dashboard`. A panel shows
//! one named query as a chart; columns of the query's result are mapped to the chart by name.
//! How panels are checked: `spec/validate/dashboards.rs` (the spec alone) and
//! `dashboard/columns.rs` (against each query's result columns).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::located::{Located, Pos, Text};
use super::types::Dur;

/// A dashboard: a title, a refresh interval and panels laid out on a 12-column grid.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Lowercase letters, digits and `-` (`bqflow dashboard NAME`).
    pub name: Text,
    /// Heading of the page.
    pub title: Text,
    #[serde(default)]
    pub description: Option<Text>,
    /// How often panels update while the page is open, e.g. `5s` (1s … 1h).
    #[serde(default)]
    pub refresh: Option<Dur>,
    /// gcp: bytes the queries of one refresh may process, estimated by a dry run before they
    /// run; a refresh over it is refused, not run. Default: no limit besides
    /// `targets.gcp.maximum_bytes_billed` per query.
    #[serde(default)]
    pub max_bytes_per_refresh: Option<Located<u64>>,
    /// The Looker Studio report `bqflow dashboard --target gcp --looker` links to.
    #[serde(default)]
    pub looker: Option<Looker>,
    /// Panels in reading order: they fill the grid's rows left to right.
    pub panels: Vec<Panel>,
}

/// Looker Studio Linking API settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Looker {
    /// A report to copy (the id between `reporting/` and `/page` in its URL). Its data sources'
    /// aliases are `ds0`, `ds1`… in the order of `data_sources`. Default: a new report.
    #[serde(default)]
    pub template_report_id: Option<Text>,
    /// Name of the new report. Default: the dashboard's title.
    #[serde(default)]
    pub report_name: Option<Text>,
    /// Data source alias → view, when the template's aliases are not `ds0`, `ds1`… in the
    /// order the panels use the views.
    #[serde(default)]
    pub data_sources: BTreeMap<Text, Text>,
}

/// One panel: a named query drawn as a chart.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// Shown above the panel; unique within the dashboard.
    pub title: Text,
    /// Small text under the title.
    #[serde(default)]
    pub description: Option<Text>,
    /// A query declared under `queries:`.
    pub query: Text,
    /// Values for the query's parameters (the rest take their defaults).
    #[serde(default)]
    pub params: BTreeMap<Text, Text>,
    /// How the result is drawn.
    pub chart: Located<Chart>,
    /// line: the time (or number) axis. heatmap: the column across.
    #[serde(default)]
    pub x: Option<Text>,
    /// line: one line per column listed. bar, stacked_bar: the bar length. heatmap: the column
    /// down.
    #[serde(default)]
    pub y: Option<Columns>,
    /// line: one line per distinct value of this column. stacked_bar: one segment per value.
    #[serde(default)]
    pub series: Option<Text>,
    /// bar, stacked_bar: the category each bar stands for.
    #[serde(default)]
    pub label: Option<Text>,
    /// tile: the number shown. heatmap: the colour of a cell.
    #[serde(default)]
    pub value: Option<Text>,
    /// table: columns shown, in order. Default: all.
    #[serde(default)]
    pub columns: Vec<Text>,
    /// table: colour rows whose cell matches, first rule wins.
    #[serde(default)]
    pub highlight: Vec<Highlight>,
    /// How the panel's values (y, value) are written. Default: from the column's type.
    #[serde(default)]
    pub format: Option<Located<Format>>,
    /// Per-column formats (tables, and tooltips).
    #[serde(default)]
    pub formats: BTreeMap<Text, Located<Format>>,
    /// bar, stacked_bar, table: at most this many rows are drawn (default 10 bars, 12 table rows).
    #[serde(default)]
    pub limit: Option<Located<u32>>,
    /// Grid columns the panel spans (1 … 12). Default: 3 for a tile, 6 otherwise.
    #[serde(default)]
    pub width: Option<Located<u32>>,
    /// Grid rows the panel spans (1 … 4). Default: 1 for a tile, 2 otherwise.
    #[serde(default)]
    pub height: Option<Located<u32>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    /// Time series: x is a TIMESTAMP, DATE or number; one line per y column or series value.
    Line,
    /// Horizontal bars, one per row (top-N).
    Bar,
    /// Horizontal bars split into one segment per series value.
    StackedBar,
    /// A grid of cells coloured by value (e.g. local hour × region).
    Heatmap,
    /// One number from the first row, with its change since the last refresh.
    Tile,
    /// Rows and columns, with conditional colouring.
    Table,
}

impl Chart {
    pub fn name(self) -> &'static str {
        match self {
            Chart::Line => "line",
            Chart::Bar => "bar",
            Chart::StackedBar => "stacked_bar",
            Chart::Heatmap => "heatmap",
            Chart::Tile => "tile",
            Chart::Table => "table",
        }
    }
}

impl fmt::Display for Chart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `$1,234.50`.
    Money,
    /// A ratio written as a percentage: 0.123 → `12.3%`.
    Percent,
    /// A whole number with thousands separators: `12,345`.
    Count,
    /// A number with up to two decimals: `1,234.57`.
    Number,
    /// A TIMESTAMP or DATE: `14:05:03` or `2026-11-27`.
    Time,
}

/// A table row rule: `{ column: stock_status, equals: out_of_stock, color: red }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Highlight {
    pub column: Text,
    /// The cell's text equals this.
    #[serde(default)]
    pub equals: Option<Text>,
    /// The cell is a number below this.
    #[serde(default)]
    pub below: Option<Located<f64>>,
    /// The cell is a number above this.
    #[serde(default)]
    pub above: Option<Located<f64>>,
    pub color: Located<Color>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    Red,
    Amber,
    Green,
    Blue,
    Grey,
}

impl Color {
    pub fn name(self) -> &'static str {
        match self {
            Color::Red => "red",
            Color::Amber => "amber",
            Color::Green => "green",
            Color::Blue => "blue",
            Color::Grey => "grey",
        }
    }
}

/// One column name or a list of them (`y: revenue` or `y: [revenue, units]`), each with its
/// position in the spec.
#[derive(Clone, Debug, Default)]
pub struct Columns(pub Vec<Text>);

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The whole value's position stands in for a single name written as a plain string.
        let located = Located::<OneOrMany>::deserialize(d)?;
        Ok(Columns(match located.value {
            OneOrMany::One(name) => vec![Text {
                value: name,
                at: located.at,
            }],
            OneOrMany::Many(names) => names,
        }))
    }
}

impl JsonSchema for Columns {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Columns".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A column name, or a list of column names.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

enum OneOrMany {
    One(String),
    Many(Vec<Text>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            // A list keeps each name's own position: its elements are deserialized as `Text`.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<Text>()? {
                    names.push(name);
                }
                Ok(OneOrMany::Many(names))
            }
        }
        d.deserialize_any(V)
    }
}

impl Panel {
    /// Every column the panel names, with what it is for (for checks and messages).
    pub fn mapped_columns(&self) -> Vec<(&'static str, &Text)> {
        let mut out: Vec<(&'static str, &Text)> = Vec::new();
        let single = [
            ("x", &self.x),
            ("series", &self.series),
            ("label", &self.label),
            ("value", &self.value),
        ];
        for (role, column) in single {
            if let Some(c) = column {
                out.push((role, c));
            }
        }
        for c in self.y.iter().flat_map(|y| &y.0) {
            out.push(("y", c));
        }
        for c in &self.columns {
            out.push(("columns", c));
        }
        for h in &self.highlight {
            out.push(("highlight", &h.column));
        }
        for c in self.formats.keys() {
            out.push(("formats", c));
        }
        out
    }

    /// The columns whose values the panel draws, which `format` applies to: `y` and `value`,
    /// except a heatmap's `y`, which is a category.
    pub fn drawn_values(&self) -> Vec<&Text> {
        let y = self.y.iter().flat_map(|y| &y.0);
        match self.chart.value {
            Chart::Heatmap => self.value.iter().collect(),
            _ => y.chain(self.value.iter()).collect(),
        }
    }

    /// Where the panel starts in the spec (for messages about the panel as a whole).
    pub fn at(&self) -> Pos {
        self.title.at
    }
}
