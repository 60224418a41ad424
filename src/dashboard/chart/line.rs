//! Line chart: a time (or number) axis across, one line per series, a point per row.

use super::scale::{Linear, nice, time_ticks};
use super::{FONT, PALETTE, Svg, r, text_width};
use crate::dashboard::format;
use crate::spec::dashboard::Format;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Axis {
    /// µs since the Unix epoch.
    Time,
    Number,
}

pub struct Series {
    pub name: String,
    /// (x, y), sorted by x.
    pub points: Vec<(f64, f64)>,
}

pub struct Line<'a> {
    pub width: f64,
    pub height: f64,
    pub title: &'a str,
    pub axis: Axis,
    pub series: &'a [Series],
    pub format: Option<Format>,
}

/// Points are drawn as dots up to this many; past it the line alone reads better.
const MAX_DOTS: usize = 400;

/// Where the plot sits in the drawing, and how data maps onto it.
struct Frame {
    x: Linear,
    y: Linear,
    left: f64,
    right: f64,
    bottom: f64,
}

pub fn draw(c: &Line) -> String {
    let points: usize = c.series.iter().map(|s| s.points.len()).sum();
    if points == 0 {
        return super::empty(c.width, c.height, "line", "no rows yet");
    }
    let all = || c.series.iter().flat_map(|s| s.points.iter());
    let (xmin, xmax) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ymin, ymax) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let legend = c.series.len() > 1;
    let (top, bottom, right) = (if legend { 26.0 } else { 10.0 }, 22.0, 14.0);
    let rows = ((c.height - top - bottom) / 40.0).clamp(2.0, 6.0) as usize;
    let ((y0, y1), yticks) = nice(ymin, ymax, rows);
    let labels: Vec<String> = yticks
        .iter()
        .map(|t| format::compact(*t, c.format))
        .collect();
    let left = labels
        .iter()
        .map(|l| text_width(l, FONT))
        .fold(0.0, f64::max)
        + 12.0;
    let frame = Frame {
        x: Linear::new((xmin, xmax), (left, c.width - right)),
        y: Linear::new((y0, y1), (c.height - bottom, top)),
        left,
        right,
        bottom,
    };
    let mut svg = Svg::new(
        c.width,
        c.height,
        "line",
        c.title,
        &[
            ("series", c.series.len().to_string()),
            ("points", points.to_string()),
        ],
    );
    for (t, label) in yticks.iter().zip(&labels) {
        let py = frame.y.map(*t);
        let class = if *t == 0.0 { "axis" } else { "grid" };
        svg.line(left, py, c.width - right, py, class);
        svg.text(left - 6.0, py + 4.0, "end", "tick", label);
    }
    x_axis(&mut svg, c, &frame, (xmin, xmax));
    let base = frame.y.map(y0.max(0.0).min(y1));
    for (i, s) in c.series.iter().enumerate() {
        series(&mut svg, c, &frame, i, s, base, points <= MAX_DOTS);
    }
    if legend {
        let names: Vec<String> = c.series.iter().map(|s| s.name.clone()).collect();
        svg.legend(left, 14.0, &names, c.width - left - right);
    }
    svg.finish()
}

/// Ticks and labels across: whole calendar steps on a time axis, round numbers otherwise.
fn x_axis(svg: &mut Svg, c: &Line, f: &Frame, (xmin, xmax): (f64, f64)) {
    // As many labels as fit side by side ("00:00" or "28 Nov" wide, with room between).
    let room = text_width("28 Nov", FONT) + 24.0;
    let columns = ((c.width - f.left - f.right) / room).clamp(2.0, 12.0) as usize;
    let ticks: Vec<(f64, String)> = match c.axis {
        Axis::Time => time_ticks(xmin as i64, xmax as i64, columns)
            .into_iter()
            .map(|(t, l)| (t as f64, l))
            .collect(),
        Axis::Number => nice(xmin, xmax, columns)
            .1
            .into_iter()
            .filter(|t| *t >= xmin && *t <= xmax)
            .map(|t| (t, format::compact(t, None)))
            .collect(),
    };
    let axis_y = c.height - f.bottom;
    for (t, label) in &ticks {
        let px = f.x.map(*t);
        svg.line(px, axis_y, px, axis_y + 4.0, "axis");
        // Labels at the edges keep inside the drawing.
        let half = text_width(label, FONT) / 2.0;
        let (at, anchor) = if px + half > c.width - 2.0 {
            (c.width - 2.0, "end")
        } else if px - half < 2.0 {
            (2.0, "start")
        } else {
            (px, "middle")
        };
        svg.text(at, axis_y + 15.0, anchor, "tick", label);
    }
}

/// One series: its line, the area under it when it is alone, and a dot per row with the
/// exact values as tooltip.
fn series(svg: &mut Svg, c: &Line, f: &Frame, i: usize, s: &Series, base: f64, dots: bool) {
    let class = format!("s{}", i % PALETTE);
    let path: Vec<String> = s
        .points
        .iter()
        .enumerate()
        .map(|(j, (px, py))| {
            let cmd = if j == 0 { 'M' } else { 'L' };
            format!("{cmd}{},{}", r(f.x.map(*px)), r(f.y.map(*py)))
        })
        .collect();
    if c.series.len() == 1 && s.points.len() > 1 {
        // One series: shade the area under it, which reads as volume at a glance.
        let first = r(f.x.map(s.points[0].0));
        let last = r(f.x.map(s.points[s.points.len() - 1].0));
        let base = r(base);
        svg.raw(&format!(
            r#"<path class="area {class}" d="{} L{last},{base} L{first},{base} Z"/>"#,
            path.join(" ")
        ));
    }
    svg.raw(&format!(
        r#"<path class="series {class}" d="{}"><title>{}</title></path>"#,
        path.join(" "),
        super::escape(&s.name)
    ));
    if !dots {
        return;
    }
    let x_text = |v: f64| match c.axis {
        Axis::Time => format::timestamp(v as i64),
        Axis::Number => format::full_number(v, Format::Number),
    };
    let name = if c.series.len() > 1 {
        format!("{} · ", s.name)
    } else {
        String::new()
    };
    for (px, py) in &s.points {
        let value = format::full_number(*py, c.format.unwrap_or(Format::Number));
        svg.raw(&format!(
            r#"<circle class="point {class}" cx="{}" cy="{}" r="2.6"><title>{}</title></circle>"#,
            r(f.x.map(*px)),
            r(f.y.map(*py)),
            super::escape(&format!("{name}{} · {value}", x_text(*px)))
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dot_per_row_and_a_line_per_series() {
        let series = vec![
            Series {
                name: "revenue".into(),
                points: vec![(0.0, 10.0), (1.0, 30.0), (2.0, 20.0)],
            },
            Series {
                name: "units".into(),
                points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
            },
        ];
        let svg = draw(&Line {
            width: 600.0,
            height: 240.0,
            title: "t",
            axis: Axis::Number,
            series: &series,
            format: Some(Format::Money),
        });
        assert_eq!(svg.matches("<circle").count(), 6);
        assert_eq!(svg.matches(r#"class="series"#).count(), 2);
        assert!(svg.contains(r#"data-points="6""#));
        assert!(svg.contains("$30.00"), "tooltips carry the exact value");
    }
}
