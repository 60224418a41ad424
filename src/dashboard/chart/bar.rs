//! Horizontal bars, one per row (top-N lists read best this way: long names stay readable),
//! optionally split into stacked segments, one per series value.

use super::scale::Linear;
use super::{FONT, PALETTE, Svg, escape, text_width};
use crate::dashboard::format;
use crate::spec::dashboard::Format;

pub struct Bars<'a> {
    pub width: f64,
    pub height: f64,
    pub title: &'a str,
    /// One per bar, top to bottom.
    pub labels: &'a [String],
    /// Segment names; a plain bar chart has one.
    pub series: &'a [String],
    /// Per bar, a value per series.
    pub values: &'a [Vec<f64>],
    pub format: Option<Format>,
}

pub fn draw(c: &Bars) -> String {
    let chart = if c.series.len() > 1 {
        "stacked_bar"
    } else {
        "bar"
    };
    if c.labels.is_empty() {
        return super::empty(c.width, c.height, chart, "no rows yet");
    }
    let stacked = c.series.len() > 1;
    let totals: Vec<f64> = c.values.iter().map(|v| v.iter().sum()).collect();
    let value_text = |v: f64| format::full_number(v, c.format.unwrap_or(Format::Number));
    let top = if stacked { 26.0 } else { 4.0 };
    let label_width = c
        .labels
        .iter()
        .map(|l| text_width(l, FONT))
        .fold(0.0, f64::max)
        .min(c.width * 0.36)
        + 10.0;
    let value_width = totals
        .iter()
        .map(|t| text_width(&value_text(*t), FONT))
        .fold(0.0, f64::max)
        + 10.0;
    let lo = totals.iter().copied().fold(0.0, f64::min);
    let hi = totals.iter().copied().fold(0.0, f64::max);
    let x = Linear::new(
        (lo, if hi > lo { hi } else { lo + 1.0 }),
        (label_width, c.width - value_width),
    );
    let row = (c.height - top - 4.0) / c.labels.len() as f64;
    let thickness = (row * 0.7).min(24.0);

    let mut svg = Svg::new(
        c.width,
        c.height,
        chart,
        c.title,
        &[
            ("bars", c.labels.len().to_string()),
            ("series", c.series.len().to_string()),
        ],
    );
    let zero = x.map(0.0);
    for (i, label) in c.labels.iter().enumerate() {
        let mid = top + row * (i as f64 + 0.5);
        svg.label(
            label_width - 8.0,
            mid + 4.0,
            "end",
            "tick label",
            label,
            // A hair over the widest label, so the widest is never cut by rounding.
            label_width - 9.5,
        );
        segments(&mut svg, c, i, &x, (mid, thickness));
        let end = x.map(totals[i].max(0.0)).max(zero);
        svg.text(
            end + 5.0,
            mid + 4.0,
            "start",
            "value",
            &value_text(totals[i]),
        );
    }
    if stacked {
        svg.legend(label_width, 14.0, c.series, c.width - label_width);
    }
    svg.finish()
}

/// The bar of row `i`: one rectangle, or one per series stacked end to end.
fn segments(svg: &mut Svg, c: &Bars, i: usize, x: &Linear, (mid, thickness): (f64, f64)) {
    let stacked = c.series.len() > 1;
    let label = &c.labels[i];
    let mut at = 0.0;
    for (j, v) in c.values[i].iter().enumerate() {
        let (from, to) = if stacked {
            let from = at;
            at += v.max(0.0);
            (from, at)
        } else {
            (0.0, *v)
        };
        let (a, b) = (x.map(from.min(to)), x.map(from.max(to)));
        let text = format::full_number(*v, c.format.unwrap_or(Format::Number));
        let title = if stacked {
            format!("{label} · {}: {text}", c.series[j])
        } else {
            format!("{label}: {text}")
        };
        svg.rect(
            a,
            mid - thickness / 2.0,
            b - a,
            thickness,
            &format!("bar s{}", j % PALETTE),
            &title,
            &format!(r#" rx="2" data-value="{}""#, escape(&v.to_string())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_per_row_and_a_segment_per_series() {
        let labels = vec!["West".to_string(), "South".to_string()];
        let one = vec!["revenue".to_string()];
        let svg = draw(&Bars {
            width: 500.0,
            height: 200.0,
            title: "t",
            labels: &labels,
            series: &one,
            values: &[vec![1500.5], vec![900.0]],
            format: Some(Format::Money),
        });
        assert_eq!(svg.matches(r#"class="bar "#).count(), 2);
        assert!(svg.contains("$1,500.50"));

        let two = vec!["doorbuster".to_string(), "regular".to_string()];
        let svg = draw(&Bars {
            width: 500.0,
            height: 200.0,
            title: "t",
            labels: &labels,
            series: &two,
            values: &[vec![100.0, 400.0], vec![50.0, 60.0]],
            format: None,
        });
        assert_eq!(svg.matches(r#"class="bar "#).count(), 4);
        assert!(svg.contains(r#"data-chart="stacked_bar""#));
        assert!(
            svg.contains(">500<"),
            "the stack's total is written at its end"
        );
    }
}
