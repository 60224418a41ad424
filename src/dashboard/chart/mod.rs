//! Charts drawn on the server as SVG: no script, no font or stylesheet from anywhere. Shapes
//! carry classes (`s0`…`s7` for series colours, `grid`, `axis`) that the page's stylesheet
//! colours, so one drawing serves the light and the dark theme, the live page and an export.
//! Every mark has a `<title>` (the browser's tooltip) with its exact, formatted value.
//!
//! Why not a chart crate: `charts-rs` keeps values as `f32` (money loses its cents past
//! $100k) and picks its own axis labels; `plotters` needs a font file or the system's font
//! libraries to measure text. What a dashboard needs — nice ticks, money on the axes, exact
//! tooltips, stable classes to style and test — is a few hundred lines here.

pub mod bar;
pub mod heatmap;
pub mod line;
pub mod scale;

use std::fmt::Write;

/// Series colours in the stylesheet (`.s0` … `.s7`); more series reuse them.
pub const PALETTE: usize = 8;

/// Font sizes, in viewBox units (drawn at about one unit per pixel on a wide screen).
pub const FONT: f64 = 11.0;

/// Text safe inside SVG/HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no business on the page (a payload could carry them).
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// About how wide `text` is in a sans-serif font of `size`: close enough to keep labels from
/// overlapping or running off the chart, with `fit` cutting what would. On the generous side
/// (DejaVu Sans, Linux's usual default, is wide): a label cut short beats one cut off.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '|' | '!' | '\'' | ' ' | 'I' | 'f' | 't' => {
                0.3
            }
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 0.85,
            c if c.is_ascii_uppercase() => 0.66,
            c if c.is_ascii_digit() || c == '$' => 0.56,
            _ => 0.54,
        })
        .sum::<f64>()
        * size
        * 1.1
}

/// `text` cut with an ellipsis to fit `width`.
pub fn fit(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if text_width(&out, size) + text_width("…", size) > width {
            out.pop();
            break;
        }
    }
    out.push('…');
    out
}

/// An SVG document being written. Coordinates are in viewBox units; the page scales the
/// drawing to the panel's width.
pub struct Svg {
    out: String,
}

impl Svg {
    /// `data` becomes `data-*` attributes on the root, for tests and for the page's script.
    pub fn new(width: f64, height: f64, chart: &str, label: &str, data: &[(&str, String)]) -> Svg {
        let mut out = format!(
            r#"<svg class="chart chart-{chart}" viewBox="0 0 {} {}" role="img" aria-label="{}" data-chart="{chart}""#,
            r(width),
            r(height),
            escape(label)
        );
        for (k, v) in data {
            let _ = write!(out, r#" data-{k}="{}""#, escape(v));
        }
        out.push('>');
        Svg { out }
    }

    pub fn raw(&mut self, text: &str) {
        self.out.push_str(text);
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
        let _ = write!(
            self.out,
            r#"<line class="{class}" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
            r(x1),
            r(y1),
            r(x2),
            r(y2)
        );
    }

    /// Text anchored at (x, y): `anchor` is start, middle or end.
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, text: &str) {
        let _ = write!(
            self.out,
            r#"<text class="{class}" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
            r(x),
            r(y),
            escape(text)
        );
    }

    /// Text that may have been cut to fit, with the whole text as its tooltip.
    pub fn label(&mut self, x: f64, y: f64, anchor: &str, class: &str, text: &str, width: f64) {
        let shown = fit(text, width, FONT);
        if shown == text {
            self.text(x, y, anchor, class, text);
        } else {
            let _ = write!(
                self.out,
                r#"<text class="{class}" x="{}" y="{}" text-anchor="{anchor}"><title>{}</title>{}</text>"#,
                r(x),
                r(y),
                escape(text),
                escape(&shown)
            );
        }
    }

    /// A rectangle with a tooltip; `extra` is written into the tag as is (attributes).
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, class: &str, title: &str, extra: &str) {
        let _ = write!(
            self.out,
            r#"<rect class="{class}" x="{}" y="{}" width="{}" height="{}"{extra}><title>{}</title></rect>"#,
            r(x),
            r(y),
            r(w.max(0.0)),
            r(h.max(0.0)),
            escape(title)
        );
    }

    /// A small legend: a swatch and a name per series, laid out left to right from (x, y).
    pub fn legend(&mut self, x: f64, y: f64, names: &[String], max_width: f64) {
        let mut at = x;
        for (i, name) in names.iter().enumerate() {
            let shown = fit(name, 140.0, FONT);
            let w = 14.0 + text_width(&shown, FONT) + 14.0;
            if at + w > x + max_width && at > x {
                break;
            }
            let _ = write!(
                self.out,
                r#"<rect class="swatch s{}" x="{}" y="{}" width="10" height="10" rx="2"/>"#,
                i % PALETTE,
                r(at),
                r(y - 9.0)
            );
            self.text(at + 14.0, y, "start", "legend", &shown);
            at += w;
        }
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// Coordinates rounded to a tenth: smaller documents, no visible difference.
pub fn r(v: f64) -> String {
    let v = (v * 10.0).round() / 10.0;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The placeholder drawn where a panel has no rows.
pub fn empty(width: f64, height: f64, chart: &str, message: &str) -> String {
    let mut svg = Svg::new(width, height, chart, message, &[("empty", "true".into())]);
    svg.text(width / 2.0, height / 2.0, "middle", "muted", message);
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'\u{1b}[31m"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;\u{FFFD}[31m"
        );
    }

    #[test]
    fn long_labels_are_cut_to_fit() {
        let cut = fit("Ultra HD Television 65 inch with soundbar", 80.0, FONT);
        assert!(
            cut.ends_with('…') && text_width(&cut, FONT) <= 80.0,
            "{cut}"
        );
        assert_eq!(fit("TV", 80.0, FONT), "TV");
    }
}
