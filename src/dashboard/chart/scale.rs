//! Axes: a linear map from data to drawing coordinates, with "nice" ticks (1, 2 or 5 times a
//! power of ten) for numbers and calendar steps (minutes, hours, days) for times.

use chrono::DateTime;

/// Maps `[d0, d1]` (data) onto `[r0, r1]` (drawing).
#[derive(Clone, Copy, Debug)]
pub struct Linear {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Linear {
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Linear {
        Linear {
            d0: domain.0,
            d1: domain.1,
            r0: range.0,
            r1: range.1,
        }
    }

    pub fn map(&self, v: f64) -> f64 {
        if self.d1 == self.d0 {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// A round step near `span / count`: 1, 2 or 5 times a power of ten, whichever is nearest
/// on a log scale (the thresholds are the geometric means: √2, √10, √50).
fn nice_step(span: f64, count: usize) -> f64 {
    let raw = span / count.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction >= 50f64.sqrt() {
        10.0
    } else if fraction >= 10f64.sqrt() {
        5.0
    } else if fraction >= 2f64.sqrt() {
        2.0
    } else {
        1.0
    };
    nice * power
}

/// A domain widened to round numbers, and the ticks in it (about `count` of them). Values
/// that are all positive start at zero, so bar lengths and line heights compare honestly.
pub fn nice(min: f64, max: f64, count: usize) -> ((f64, f64), Vec<f64>) {
    let (mut lo, mut hi) = (min.min(0.0), max.max(0.0));
    if (hi - lo).abs() < f64::EPSILON {
        hi = lo + 1.0;
    }
    let step = nice_step(hi - lo, count);
    lo = (lo / step).floor() * step;
    hi = (hi / step).ceil() * step;
    let n = ((hi - lo) / step).round() as usize;
    let ticks = (0..=n).map(|i| lo + i as f64 * step).collect();
    ((lo, hi), ticks)
}

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Ticks on a time axis (µs since the epoch), on whole calendar steps in UTC, with labels
/// as short as the step allows.
pub fn time_ticks(min: i64, max: i64, count: usize) -> Vec<(i64, String)> {
    const STEPS: [i64; 15] = [
        SECOND,
        5 * SECOND,
        15 * SECOND,
        30 * SECOND,
        MINUTE,
        5 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        7 * DAY,
    ];
    let span = (max - min).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= count.max(1) as i64)
        .unwrap_or(7 * DAY);
    let first = min.div_euclid(step) * step + if min % step == 0 { 0 } else { step };
    let day_of = |t: i64| t.div_euclid(DAY);
    let format = |t: i64, pattern: &str| {
        DateTime::from_timestamp_micros(t)
            .map(|d| d.format(pattern).to_string())
            .unwrap_or_default()
    };
    let mut ticks = Vec::new();
    let mut t = first;
    let mut previous_day = None;
    while t <= max && ticks.len() <= count * 2 {
        // Times of day, with the date written where a new day starts (and on day steps).
        let label = if step >= DAY || (previous_day.is_some() && previous_day != Some(day_of(t))) {
            format(t, "%d %b")
        } else if step < MINUTE {
            format(t, "%H:%M:%S")
        } else {
            format(t, "%H:%M")
        };
        previous_day = Some(day_of(t));
        ticks.push((t, label));
        t += step;
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        let ((lo, hi), ticks) = nice(0.0, 12_345.0, 5);
        assert_eq!((lo, hi), (0.0, 14_000.0));
        assert_eq!(ticks[1], 2_000.0);
        let ((lo, _), _) = nice(-3.0, 7.0, 5);
        assert_eq!(lo, -4.0);
        // All-equal data still gets an axis.
        let ((lo, hi), _) = nice(0.0, 0.0, 5);
        assert!(hi > lo);
    }

    #[test]
    fn time_ticks_fall_on_whole_hours() {
        let start = 1_795_791_600_000_000 - 7 * HOUR + 17 * MINUTE; // 08:17 UTC
        let ticks = time_ticks(start, start + 10 * HOUR, 6);
        assert_eq!(ticks[0].1, "10:00");
        assert!(ticks.iter().all(|(t, _)| t % (2 * HOUR) == 0), "{ticks:?}");
        assert!(ticks.len() <= 7);
        // Across midnight the new day is named where it starts.
        let ticks = time_ticks(start + 10 * HOUR, start + 20 * HOUR, 6);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["20:00", "22:00", "28 Nov", "02:00", "04:00"]);
    }
}
