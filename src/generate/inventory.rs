//! Shelves: the stock of one product at one store, created lazily on its first demand, and the
//! pending restock deliveries.
//!
//! 10 000 stores x 100 000 products is 10^9 possible shelves, far too many to allocate, while
//! the default 24 x 1 000 fits in a flat array. So: a dense vector when small, a hash map of the
//! shelves actually touched otherwise.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::rng::{mix64, unit};

/// Stock of one (store, product).
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Shelf {
    pub stock: i32,
    /// Opening stock; also the restock quantity (order up to roughly a day's demand).
    pub target: i32,
    /// Simulated day the doorbuster allotment was last put out.
    pub day: u16,
    pub opened: bool,
    pub restock_pending: bool,
}

impl Shelf {
    /// Below this level a restock is ordered.
    pub(crate) fn reorder_point(&self) -> i32 {
        (self.target / 2).max(1)
    }
}

/// Up to this many shelves use a flat array (12 bytes each, so ≤ 48 MB).
const DENSE_LIMIT: u64 = 1 << 22;

pub(crate) enum Shelves {
    Dense(u32, Vec<Shelf>),
    Sparse(u32, HashMap<u64, Shelf, BuildHasherDefault<MixHasher>>),
}

impl Shelves {
    pub(crate) fn new(stores: u32, products: u32) -> Shelves {
        if u64::from(stores) * u64::from(products) <= DENSE_LIMIT {
            Shelves::Dense(
                products,
                vec![Shelf::default(); (stores * products) as usize],
            )
        } else {
            Shelves::Sparse(products, HashMap::default())
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, store: u32, product: u32) -> &mut Shelf {
        match self {
            Shelves::Dense(n, v) => &mut v[(store * *n + product) as usize],
            Shelves::Sparse(n, m) => m
                .entry(u64::from(store) * u64::from(*n) + u64::from(product))
                .or_default(),
        }
    }
}

/// Hasher for integer keys: one SplitMix round (the default SipHash is needlessly slow here).
#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = mix64(self.0 ^ x);
    }
}

/// A delivery on its way; ordered by due time, then by order of scheduling (deterministic ties).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Restock {
    pub due_us: i64,
    pub order: u64,
    pub store: u32,
    pub product: u32,
    pub quantity: i32,
}

/// Opening stock of an ordinary product: about a day's expected units, randomised by `h`.
pub(crate) fn regular_target(h: u64, expected_daily_units: f64) -> i32 {
    let units = expected_daily_units * (0.7 + 0.6 * unit(h));
    (units.round() as i32).max(3) + (h % 3) as i32
}

/// A doorbuster's limited allotment: 40–90 % of the door-opening demand, 5 to 40 units, so it
/// sells out in the first hours at most stores.
pub(crate) fn doorbuster_allotment(h: u64, expected_units: f64) -> i32 {
    let units = expected_units * (0.4 + 0.5 * unit(h));
    (units.round() as i32).clamp(5, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_shelves_behave_alike() {
        for mut shelves in [Shelves::new(3, 10), Shelves::new(10_000, 100_000)] {
            shelves.get_mut(2, 9).stock = 7;
            shelves.get_mut(1, 9).stock = 3;
            assert_eq!(shelves.get_mut(2, 9).stock, 7);
            assert_eq!(shelves.get_mut(1, 9).stock, 3);
            assert_eq!(shelves.get_mut(0, 0).stock, 0);
        }
        assert!(matches!(Shelves::new(24, 1000), Shelves::Dense(..)));
    }

    #[test]
    fn stock_levels_are_in_range() {
        for h in 0..1000u64 {
            let h = mix64(h);
            assert!((5..=40).contains(&doorbuster_allotment(h, 1.0)));
            assert!((5..=40).contains(&doorbuster_allotment(h, 1e6)));
            assert!(regular_target(h, 0.0) >= 3);
            let t = regular_target(h, 100.0);
            assert!((70..=132).contains(&t), "{t}");
        }
        let shelf = Shelf {
            target: 2,
            ..Shelf::default()
        };
        assert_eq!(shelf.reorder_point(), 1);
    }

    #[test]
    fn restocks_pop_in_time_then_schedule_order() {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let r = |due_us, order| Restock {
            due_us,
            order,
            store: 0,
            product: 0,
            quantity: 1,
        };
        let mut heap: BinaryHeap<_> = [r(5, 2), r(3, 9), r(5, 1)]
            .into_iter()
            .map(Reverse)
            .collect();
        let order: Vec<(i64, u64)> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(x)| (x.due_us, x.order))).collect();
        assert_eq!(order, [(3, 9), (5, 1), (5, 2)]);
    }
}
