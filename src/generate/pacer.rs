//! The pacer: when each event is due, so the requested pace holds smoothly.
//!
//! Every event gets an absolute due time computed from the start (event i at start + i/rate, or
//! start + (t - t0)/speed on the simulated clock). Computing from the start rather than from the
//! previous event means sleep overshoot never accumulates: a late wake-up is absorbed by the next
//! waits being shorter, so the long-run rate is exact while each event is still spaced out.
//!
//! Catch-up rule: after a stall (slow disk, GC pause of a sink, a suspended laptop) the schedule
//! would ask for every missed event at once. We let the output lag at most `max_catch_up`
//! (100 ms by default) behind the schedule, i.e. burst at most 100 ms worth of events, and shift
//! the rest of the schedule later. Why: a burst of `rate x stall` events is exactly the spike the
//! user asked us not to produce — it trips publisher batch/quota limits, shows up as a fake peak
//! on the live dashboard's events/s, and in speed mode fast-forwards the simulated clock. The
//! time given up is reported by `Pacer::shifted` so the runner can say the target fell short.

use std::thread;
use std::time::{Duration, Instant};

/// Requested pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Events per second.
    Rate(f64),
    /// Simulated clock: model time advances `speed` times faster than the wall clock.
    Speed(f64),
    /// As fast as possible (never waits).
    Max,
}

/// Default bound on how far the output may fall behind before the schedule shifts.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(100);

/// Nanoseconds after the start at which event `index` (with model time `model_time_us`) is due,
/// before any catch-up shift; `None` for `Max`. `t0_us` is the model time at the start.
pub fn nominal_offset_ns(pace: Pace, index: u64, model_time_us: i64, t0_us: i64) -> Option<u64> {
    match pace {
        Pace::Rate(rate) => Some((index as f64 * 1e9 / rate) as u64),
        Pace::Speed(speed) => Some(((model_time_us - t0_us).max(0) as f64 * 1e3 / speed) as u64),
        Pace::Max => None,
    }
}

/// The catch-up rule as a pure function of nanosecond offsets from the start.
/// Returns (due, new shift): the event is due at `nominal + shift`, unless that is more than
/// `max_lag` in the past, in which case the shift grows so that it is due exactly `max_lag` ago.
pub fn schedule(nominal_ns: u64, shift_ns: u64, now_ns: u64, max_lag_ns: u64) -> (u64, u64) {
    let due = nominal_ns.saturating_add(shift_ns);
    if now_ns > due.saturating_add(max_lag_ns) {
        let late_by = now_ns - max_lag_ns - due;
        (due + late_by, shift_ns + late_by)
    } else {
        (due, shift_ns)
    }
}

/// Holds a pace from a start instant.
#[derive(Debug, Clone)]
pub struct Pacer {
    pace: Pace,
    start: Instant,
    t0_us: Option<i64>,
    shift_ns: u64,
    max_lag_ns: u64,
}

impl Pacer {
    /// In `Speed` mode the first event's model time is taken as the start of the simulated
    /// clock unless `with_model_start` says otherwise.
    pub fn new(pace: Pace, start: Instant) -> Pacer {
        if let Pace::Rate(x) | Pace::Speed(x) = pace {
            assert!(
                x > 0.0 && x.is_finite(),
                "pace must be positive and finite, got {x}"
            );
        }
        Pacer {
            pace,
            start,
            t0_us: None,
            shift_ns: 0,
            max_lag_ns: MAX_CATCH_UP.as_nanos() as u64,
        }
    }

    /// Model time that corresponds to `start` (speed mode).
    pub fn with_model_start(mut self, t0_us: i64) -> Pacer {
        self.t0_us = Some(t0_us);
        self
    }

    /// Bound on the catch-up burst (default `MAX_CATCH_UP`).
    pub fn with_max_catch_up(mut self, max: Duration) -> Pacer {
        self.max_lag_ns = max.as_nanos() as u64;
        self
    }

    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// How much the schedule has been shifted by stalls so far (time the pace gave up).
    pub fn shifted(&self) -> Duration {
        Duration::from_nanos(self.shift_ns)
    }

    /// When event `index` is due, given the current time `now`; `None` in `Max` mode. Call it in
    /// event order (it applies the catch-up rule and remembers the shift).
    pub fn due(&mut self, index: u64, model_time_us: i64, now: Instant) -> Option<Instant> {
        let t0 = *self.t0_us.get_or_insert(model_time_us);
        let nominal = nominal_offset_ns(self.pace, index, model_time_us, t0)?;
        let now_ns = now.saturating_duration_since(self.start).as_nanos() as u64;
        let (due, shift) = schedule(nominal, self.shift_ns, now_ns, self.max_lag_ns);
        self.shift_ns = shift;
        // Centuries away (a tiny speed over a long day) is as good as never: no overflow.
        Some(
            self.start
                .checked_add(Duration::from_nanos(due))
                .unwrap_or(self.start + Duration::from_secs(366 * 86_400)),
        )
    }

    /// Waits until event `index` is due (returns at once in `Max` mode or when late).
    pub fn wait_for(&mut self, index: u64, model_time_us: i64) {
        if let Some(due) = self.due(index, model_time_us, Instant::now()) {
            wait_until(due);
        }
    }
}

/// Below this, sleeping is too coarse (timer slack and scheduler latency are ~50 µs–1 ms).
const SLEEP_THRESHOLD: Duration = Duration::from_millis(1);
/// Wake this much early from a sleep and yield-spin the rest, to hit the instant precisely.
const SPIN_MARGIN: Duration = Duration::from_micros(200);

/// Sleeps while the wait is ≥ 1 ms, then yields until `due` for the last fraction of a
/// millisecond. Yielding rather than busy-looping leaves the core to other work.
pub fn wait_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left >= SLEEP_THRESHOLD {
            thread::sleep(left - SPIN_MARGIN);
        } else {
            thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn rate_mode_spaces_events_evenly() {
        let at = |i| nominal_offset_ns(Pace::Rate(500.0), i, 0, 0).unwrap();
        assert_eq!(at(0), 0);
        assert_eq!(at(1), 2 * MS);
        assert_eq!(at(500), 1_000 * MS);
        assert_eq!(at(30_000_000), 60_000_000 * MS); // no drift over 16 hours at 500/s
        assert_eq!(nominal_offset_ns(Pace::Max, 5, 0, 0), None);
    }

    #[test]
    fn speed_mode_follows_model_time() {
        let at = |t_us| nominal_offset_ns(Pace::Speed(60.0), 99, t_us, 1_000_000).unwrap();
        assert_eq!(at(1_000_000), 0);
        assert_eq!(at(61_000_000), 1_000 * MS); // a simulated minute in one second
        assert_eq!(at(0), 0); // before t0: due at once
        let start = Instant::now();
        let mut p = Pacer::new(Pace::Speed(3600.0), start);
        assert_eq!(p.due(0, 5_000_000, start), Some(start)); // first event sets t0
        assert_eq!(
            p.due(1, 3_605_000_000, start),
            Some(start + Duration::from_secs(1))
        );
    }

    #[test]
    fn on_time_events_keep_their_slot() {
        assert_eq!(schedule(10 * MS, 0, 5 * MS, 100 * MS), (10 * MS, 0));
        // Late, but within the catch-up window: due in the past, emitted at once.
        assert_eq!(schedule(10 * MS, 0, 90 * MS, 100 * MS), (10 * MS, 0));
    }

    #[test]
    fn a_stall_bursts_at_most_the_catch_up_window_then_shifts() {
        // 500 events/s; the emitter stalls for 2 s after event 100 and then runs flat out.
        let nominal = |i: u64| nominal_offset_ns(Pace::Rate(500.0), i, 0, 0).unwrap();
        let stall_end = nominal(100) + 2_000 * MS;
        let (mut shift, mut now, mut burst) = (0, stall_end, 0);
        for i in 101..2_000 {
            let (due, s) = schedule(nominal(i), shift, now, 100 * MS);
            shift = s;
            if due <= now {
                burst += 1; // emitted immediately
            } else {
                now = due;
            }
        }
        // 100 ms at 500/s is 50 events (+1 for the boundary), not the 1000 missed ones.
        assert!((50..=51).contains(&burst), "{burst}");
        assert_eq!(shift, 2_000 * MS - 2 * MS - 100 * MS);
    }

    #[test]
    fn pacer_applies_the_shift_to_later_events() {
        let start = Instant::now();
        let mut p = Pacer::new(Pace::Rate(1000.0), start);
        let late = start + Duration::from_secs(5);
        let d = p.due(10, 0, late).unwrap();
        assert_eq!(late - d, MAX_CATCH_UP);
        assert_eq!(p.shifted(), Duration::from_millis(5_000 - 10 - 100));
        // The next event keeps the 1 ms spacing from the shifted schedule.
        assert_eq!(p.due(11, 0, late).unwrap() - d, Duration::from_millis(1));
        assert_eq!(Pacer::new(Pace::Max, start).due(3, 0, late), None);
    }

    #[test]
    fn wait_until_does_not_return_early() {
        for us in [0, 300, 2_500] {
            let due = Instant::now() + Duration::from_micros(us);
            wait_until(due);
            assert!(Instant::now() >= due);
        }
    }
}
