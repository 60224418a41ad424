//! The intensity curve: how many shoppers arrive at each store, minute by minute.
//!
//! A store's day in local time: closed before opening and after closing; a sharp surge of
//! doorbuster hunters when the doors open (the busiest hour of the day), a mid-morning dip, the
//! broad afternoon peak at 14–16 h (foot-traffic studies put Black Friday's busiest in-store hours
//! at 2–4 pm), tapering in the evening.
//!
//! Stores sharing (UTC offset, opening hour, closing hour) have the same curve up to their size,
//! so they form a *class*. Per UTC minute of the simulated day we precompute the total rate and
//! the cumulative rate per class (at most 4 offsets x 2 x 2 = 16 classes); a store inside its
//! class is then chosen by its static size weight. That keeps memory at O(minutes x classes)
//! instead of O(minutes x stores), which matters at 10 000 stores.

use super::catalog::{MEAN_SIZE_WEIGHT, Store, cumulative, search};

pub(crate) const MINUTES_PER_DAY: usize = 1440;

/// Shoppers per average store per simulated day: ~200 000 sales for 24 stores, plus the ~10 %
/// who find an empty shelf (mostly sold-out doorbusters; recorded as stock-outs, not sales).
pub(crate) const SHOPPERS_PER_STORE_DAY: f64 = 200_000.0 / 24.0 * 1.1;

/// Intensity of the door-opening surge at the first minute, relative to the base curve (~1).
const SURGE_PEAK: f64 = 5.0;
/// Per-minute decay of the surge (time constant ~41 min, ~95 % of it within 2 hours).
const SURGE_DECAY: f64 = 0.976;

/// Base curve, (local hour, relative intensity), linearly interpolated.
const BASE: [(f64, f64); 13] = [
    (5.0, 0.95),
    (7.0, 0.9),
    (9.0, 0.62),
    (10.5, 0.55),
    (12.0, 0.95),
    (13.5, 1.7),
    (14.5, 2.1),
    (15.5, 2.1),
    (16.5, 1.7),
    (18.0, 1.05),
    (20.0, 0.7),
    (22.0, 0.45),
    (23.0, 0.35),
];

fn base(hour: f64) -> f64 {
    let i = BASE
        .partition_point(|&(h, _)| h <= hour)
        .clamp(1, BASE.len() - 1);
    let ((h0, v0), (h1, v1)) = (BASE[i - 1], BASE[i]);
    let t = ((hour - h0) / (h1 - h0)).clamp(0.0, 1.0);
    v0 + (v1 - v0) * t
}

/// One store's day, per local minute of the day.
pub(crate) struct Shape {
    /// Relative intensity (0 while closed).
    pub total: Vec<f64>,
    /// The part of `total` made of door-opening doorbuster hunters.
    pub surge: Vec<f64>,
    pub sum: f64,
}

impl Shape {
    pub(crate) fn new(open_hour: u32, close_hour: u32) -> Shape {
        let (open, close) = (open_hour as usize * 60, close_hour as usize * 60);
        let mut total = vec![0.0; MINUTES_PER_DAY];
        let mut surge = vec![0.0; MINUTES_PER_DAY];
        // Repeated multiplication instead of `exp`, to stay bit-identical across platforms.
        let mut s = SURGE_PEAK;
        for m in open..close.min(MINUTES_PER_DAY) {
            surge[m] = s;
            total[m] = base((m as f64 + 0.5) / 60.0) + s;
            s *= SURGE_DECAY;
        }
        let sum = total.iter().sum();
        Shape { total, surge, sum }
    }

    /// Share of the day's shoppers that are doorbuster hunters (~95 % of them in the first 2 h).
    pub(crate) fn surge_share(&self) -> f64 {
        self.surge.iter().sum::<f64>() / self.sum
    }
}

/// Stores with the same curve.
pub(crate) struct Class {
    pub stores: Vec<u32>,
    pub store_cum: Vec<f64>,
}

/// Per-minute arrival rates over the simulated day, from the first opening to the last closing.
pub(crate) struct Demand {
    pub classes: Vec<Class>,
    /// First bucket, in minutes after 00:00 UTC of the simulated date.
    pub first_minute: i64,
    pub buckets: usize,
    /// Shoppers per second over all stores, per bucket.
    pub rate: Vec<f64>,
    /// Per bucket x class: cumulative share of the bucket's rate.
    cum: Vec<f64>,
    /// Per bucket x class: share of shoppers who came for the doorbusters.
    surge_frac: Vec<f64>,
    /// Expected shoppers per store per day.
    pub store_daily: Vec<f64>,
    /// Per store: share of its daily shoppers who are doorbuster hunters.
    pub store_surge_share: Vec<f64>,
}

/// Stores grouped by (UTC offset, opening hour, closing hour), in the order of `keys`, with
/// each class's expected shoppers per day.
fn group_into_classes(
    stores: &[Store],
    keys: &[(i32, u32, u32)],
    store_daily: &[f64],
) -> (Vec<Class>, Vec<f64>) {
    let mut classes = Vec::with_capacity(keys.len());
    let mut class_daily = Vec::with_capacity(keys.len());
    for &(offset, open, close) in keys {
        let members: Vec<u32> = (0..stores.len() as u32)
            .filter(|&i| {
                let s = &stores[i as usize];
                (s.utc_offset_minutes, s.opening_hour, s.closing_hour) == (offset, open, close)
            })
            .collect();
        let weights: Vec<f64> = members.iter().map(|&i| store_daily[i as usize]).collect();
        class_daily.push(weights.iter().sum::<f64>());
        classes.push(Class {
            store_cum: cumulative(&weights),
            stores: members,
        });
    }
    (classes, class_daily)
}

impl Demand {
    pub(crate) fn new(stores: &[Store]) -> Demand {
        let mut keys: Vec<(i32, u32, u32)> = stores
            .iter()
            .map(|s| (s.utc_offset_minutes, s.opening_hour, s.closing_hour))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let store_daily: Vec<f64> = stores
            .iter()
            .map(|s| SHOPPERS_PER_STORE_DAY * s.size_weight / MEAN_SIZE_WEIGHT)
            .collect();
        let shapes: Vec<Shape> = keys.iter().map(|&(_, o, c)| Shape::new(o, c)).collect();
        let (classes, class_daily) = group_into_classes(stores, &keys, &store_daily);
        // Local minute = UTC minute + offset; the window spans every class's opening hours.
        let utc = |local: u32, offset: i32| i64::from(local) * 60 - i64::from(offset);
        let first_minute = keys
            .iter()
            .map(|&(o, open, _)| utc(open, o))
            .min()
            .unwrap_or(0);
        let last_minute = keys
            .iter()
            .map(|&(o, _, close)| utc(close, o))
            .max()
            .unwrap_or(0);
        assert!(
            last_minute - first_minute <= MINUTES_PER_DAY as i64,
            "day window overlaps"
        );
        let buckets = (last_minute - first_minute) as usize;
        let n = keys.len();
        let (mut rate, mut cum, mut surge_frac) = (
            vec![0.0; buckets],
            vec![0.0; buckets * n],
            vec![0.0; buckets * n],
        );
        for b in 0..buckets {
            let mut acc = 0.0;
            for (c, &(offset, _, _)) in keys.iter().enumerate() {
                let local = first_minute + b as i64 + i64::from(offset);
                let shape = &shapes[c];
                if (0..MINUTES_PER_DAY as i64).contains(&local) && shape.total[local as usize] > 0.0
                {
                    let m = local as usize;
                    acc += class_daily[c] * shape.total[m] / (shape.sum * 60.0);
                    surge_frac[b * n + c] = shape.surge[m] / shape.total[m];
                }
                cum[b * n + c] = acc;
            }
            rate[b] = acc;
            if acc > 0.0 {
                cum[b * n..(b + 1) * n].iter_mut().for_each(|x| *x /= acc);
                cum[b * n + n - 1] = 1.0;
            }
        }
        let store_surge_share = stores
            .iter()
            .map(|s| {
                let k = (s.utc_offset_minutes, s.opening_hour, s.closing_hour);
                shapes[keys.binary_search(&k).expect("class exists")].surge_share()
            })
            .collect();
        Demand {
            classes,
            first_minute,
            buckets,
            rate,
            cum,
            surge_frac,
            store_daily,
            store_surge_share,
        }
    }

    /// Picks (store, is doorbuster hunter) for a shopper arriving in `bucket`; `u*` uniform.
    #[inline]
    pub(crate) fn pick(
        &self,
        bucket: usize,
        u_class: f64,
        u_store: f64,
        u_kind: f64,
    ) -> (u32, bool) {
        let n = self.classes.len();
        let row = &self.cum[bucket * n..(bucket + 1) * n];
        // At most 16 classes: a linear scan beats a binary search.
        let c = row.iter().position(|&x| x > u_class).unwrap_or(n - 1);
        let class = &self.classes[c];
        let store = class.stores[search(&class.store_cum, u_store)];
        (store, u_kind < self.surge_frac[bucket * n + c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_hour_dominates_and_afternoon_beats_the_average() {
        for (open, close) in [(5, 22), (5, 23), (6, 22), (6, 23)] {
            let shape = Shape::new(open, close);
            let hour = |h: usize| shape.total[h * 60..h * 60 + 60].iter().sum::<f64>();
            let open_hours = (close - open) as f64;
            let average = shape.sum / open_hours;
            let busiest = (0..24)
                .max_by(|&a, &b| hour(a).total_cmp(&hour(b)))
                .unwrap();
            assert_eq!(busiest, open as usize);
            // Margin for the opening hour to stay on top after its doorbusters sell out.
            assert!(hour(open as usize) > 1.5 * hour(15));
            assert!(hour(14) > 1.5 * average && hour(15) > 1.5 * average);
            assert!(hour(10) < average, "mid-morning dip");
            assert_eq!(hour(open as usize - 1), 0.0);
            assert_eq!(hour(close as usize), 0.0);
            assert!((0.1..0.25).contains(&shape.surge_share()));
        }
    }

    #[test]
    fn buckets_integrate_to_the_daily_volume() {
        let catalog = super::super::catalog::Catalog::new(
            9,
            24,
            100,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        );
        let d = Demand::new(&catalog.stores);
        let total: f64 = d.rate.iter().sum::<f64>() * 60.0;
        let expected: f64 = d.store_daily.iter().sum();
        assert!((total - expected).abs() < 1e-6 * expected);
        // The earliest opening is 5:00 or 6:00 Eastern (10:00 or 11:00 UTC).
        assert!([600, 660].contains(&d.first_minute), "{}", d.first_minute);
        assert!(d.buckets <= MINUTES_PER_DAY);
        assert!(d.rate[0] > 0.0 && d.rate[d.buckets - 1] > 0.0);
    }
}
