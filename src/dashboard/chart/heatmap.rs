//! Heatmap: one cell per (x, y) pair, darker for larger values (e.g. local hour × region).
//! The shade is the theme's heat colour at an opacity, so it works on light and dark pages.

use super::{FONT, Svg, r, text_width};
use crate::dashboard::format;
use crate::spec::dashboard::Format;

pub struct Heatmap<'a> {
    pub width: f64,
    pub height: f64,
    pub title: &'a str,
    /// Labels across.
    pub columns: &'a [String],
    /// Labels down.
    pub rows: &'a [String],
    /// Row-major: `cells[row * columns.len() + column]`; `None` where no row had the pair.
    pub cells: &'a [Option<f64>],
    pub format: Option<Format>,
}

pub fn draw(c: &Heatmap) -> String {
    if c.cells.iter().all(Option::is_none) {
        return super::empty(c.width, c.height, "heatmap", "no rows yet");
    }
    let values = || c.cells.iter().flatten().copied();
    let lo = values().fold(f64::MAX, f64::min).min(0.0);
    let hi = values().fold(f64::MIN, f64::max);
    let value_text = |v: f64| format::full_number(v, c.format.unwrap_or(Format::Number));

    let left = c
        .rows
        .iter()
        .map(|l| text_width(l, FONT))
        .fold(0.0, f64::max)
        .min(c.width * 0.3)
        + 10.0;
    let (top, bottom, right) = (22.0, 20.0, 6.0);
    let cell_w = (c.width - left - right) / c.columns.len().max(1) as f64;
    let cell_h = (c.height - top - bottom) / c.rows.len().max(1) as f64;
    let filled = c.cells.iter().filter(|v| v.is_some()).count();
    // Values are written in the cells only if every one fits: a few numbers here and there
    // would read as highlights.
    let texts_fit = cell_h >= 16.0
        && values().all(|v| text_width(&format::compact(v, c.format), FONT) + 6.0 < cell_w);

    let mut svg = Svg::new(
        c.width,
        c.height,
        "heatmap",
        c.title,
        &[
            ("cells", filled.to_string()),
            ("columns", c.columns.len().to_string()),
            ("rows", c.rows.len().to_string()),
        ],
    );
    for (i, row) in c.rows.iter().enumerate() {
        let y = top + cell_h * i as f64;
        svg.label(
            left - 6.0,
            y + cell_h / 2.0 + 4.0,
            "end",
            "tick label",
            row,
            left - 8.0,
        );
        for (j, column) in c.columns.iter().enumerate() {
            let x = left + cell_w * j as f64;
            let at = (x, y, cell_w, cell_h);
            cell(
                &mut svg,
                c,
                at,
                (row, column),
                c.cells[i * c.columns.len() + j],
                (lo, hi),
                texts_fit,
            );
        }
    }
    // Every k-th column label, so they never overlap.
    let widest = c
        .columns
        .iter()
        .map(|l| text_width(l, FONT))
        .fold(0.0, f64::max)
        + 8.0;
    let every = (widest / cell_w).ceil().max(1.0) as usize;
    for (j, column) in c.columns.iter().enumerate().step_by(every) {
        let x = left + cell_w * (j as f64 + 0.5);
        svg.text(x, c.height - bottom + 14.0, "middle", "tick", column);
    }
    legend(&mut svg, c.width - right, &value_text(lo), &value_text(hi));
    svg.finish()
}

/// One cell: shaded by its value's place between `lo` and `hi`, the exact value as tooltip,
/// and written in it when every cell's value fits.
fn cell(
    svg: &mut Svg,
    c: &Heatmap,
    (x, y, w, h): (f64, f64, f64, f64),
    (row, column): (&str, &str),
    value: Option<f64>,
    (lo, hi): (f64, f64),
    write: bool,
) {
    let Some(v) = value else {
        let title = format!("{row} · {column}: no rows");
        svg.rect(x + 0.5, y + 0.5, w - 1.0, h - 1.0, "cell-empty", &title, "");
        return;
    };
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
    let exact = format::full_number(v, c.format.unwrap_or(Format::Number));
    svg.rect(
        x + 0.5,
        y + 0.5,
        w - 1.0,
        h - 1.0,
        "cell",
        &format!("{row} · {column}: {exact}"),
        &format!(r#" fill-opacity="{}""#, r(0.06 + 0.94 * t)),
    );
    if write {
        let class = if t > 0.55 {
            "cell-text dark"
        } else {
            "cell-text"
        };
        let text = format::compact(v, c.format);
        svg.text(x + w / 2.0, y + h / 2.0 + 4.0, "middle", class, &text);
    }
}

/// The low and high values either side of a few shades, top right, ending at `end`.
fn legend(svg: &mut Svg, end: f64, low: &str, high: &str) {
    let shades = 5;
    let boxes_end = end - text_width(high, FONT) - 10.0;
    let boxes_start = boxes_end - shades as f64 * 14.0;
    svg.text(boxes_start - 8.0, 13.0, "end", "tick", low);
    for k in 0..shades {
        svg.raw(&format!(
            r#"<rect class="cell" x="{}" y="4" width="13" height="11" fill-opacity="{}"/>"#,
            r(boxes_start + k as f64 * 14.0),
            r(0.06 + 0.94 * k as f64 / (shades - 1) as f64)
        ));
    }
    svg.text(end, 13.0, "end", "tick", high);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_per_pair_present() {
        let columns: Vec<String> = (0..24).map(|h| h.to_string()).collect();
        let rows = vec!["West".to_string(), "South".to_string()];
        let mut cells: Vec<Option<f64>> = (0..48).map(|i| Some(i as f64)).collect();
        cells[5] = None;
        let svg = draw(&Heatmap {
            width: 600.0,
            height: 200.0,
            title: "t",
            columns: &columns,
            rows: &rows,
            cells: &cells,
            format: Some(Format::Money),
        });
        assert_eq!(svg.matches(r#"<rect class="cell" x"#).count(), 47 + 5);
        assert!(svg.contains(r#"data-cells="47""#));
        assert!(svg.contains("South · 23: $47.00"));
    }
}
