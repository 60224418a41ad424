//! The event process. Shoppers arrive as a non-homogeneous Poisson process over the demand
//! curve (exponential gaps in model time, walked through per-minute buckets); each picks a store,
//! then a product (doorbuster hunters mostly doorbusters), and a sale decrements the shelf at that
//! same store. Restocks arrive 1–3 simulated hours after the reorder point is crossed.
//!
//! Everything is drawn from one ChaCha8 stream in a fixed order, so the same config always gives
//! the same events. The day repeats: after the last store closes, the next day starts with the
//! same curve, so the stream never ends.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use chrono::NaiveDate;

use super::catalog::{Catalog, Product, Store};
use super::demand::Demand;
use super::inventory::{Restock, Shelf, Shelves, doorbuster_allotment, regular_target};
use super::rng::{Rand, hash3};

/// What to simulate. Same config, same events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    pub seed: u64,
    /// 1..=10 000.
    pub stores: u32,
    /// 10..=100 000.
    pub products: u32,
    /// The Black Friday being simulated (local date of the stores).
    pub day: NaiveDate,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            seed: 42,
            stores: 24,
            products: 1000,
            day: NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date"),
        }
    }
}

impl ModelConfig {
    /// Checks the ranges `Model::new` relies on.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=10_000).contains(&self.stores) {
            return Err(format!("stores must be 1..=10000, got {}", self.stores));
        }
        if !(10..=100_000).contains(&self.products) {
            return Err(format!(
                "products must be 10..=100000, got {}",
                self.products
            ));
        }
        Ok(())
    }
}

/// The topic an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Sales,
    Inventory,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Sales => "sales",
            Stream::Inventory => "inventory",
        }
    }
}

/// Why an inventory level changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Stock on the shelf before the pair's first sale.
    Opening,
    /// A sale (quantity_change = -quantity).
    Sale,
    /// A delivery arrived.
    Restock,
    /// A shopper found the shelf empty (quantity_change = 0).
    Stockout,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Opening => "opening",
            Reason::Sale => "sale",
            Reason::Restock => "restock",
            Reason::Stockout => "stockout",
        }
    }
}

/// One generated event. `product` and `store` index `Model::products()` / `Model::stores()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// 0-based position in the model's output; consecutive.
    pub seq: u64,
    pub stream: Stream,
    /// UTC microseconds since the Unix epoch; non-decreasing along the sequence.
    pub model_time_us: i64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Sale {
        /// 1-based count of sales so far.
        transaction: u64,
        product: u32,
        store: u32,
        quantity: u32,
        unit_price_cents: i64,
    },
    Inventory {
        /// 1-based count of inventory events so far.
        event: u64,
        product: u32,
        store: u32,
        quantity_change: i64,
        reason: Reason,
    },
}

const DAY_US: i64 = 86_400_000_000;
const MINUTE_US: i64 = 60_000_000;
/// Mean units per doorbuster sale (limit two per customer), used to size the allotment.
const DOORBUSTER_MEAN_QTY: f64 = 1.15;

/// The deterministic Black Friday simulation.
pub struct Model {
    cfg: ModelConfig,
    catalog: Catalog,
    demand: Demand,
    rng: Rand,
    shelves: Shelves,
    restocks: BinaryHeap<Reverse<Restock>>,
    restocks_scheduled: u64,
    /// Events produced by one step and not yet handed out (at most 3).
    pending: VecDeque<(i64, EventKind)>,
    /// Arrival clock: simulated day, minute bucket, seconds into the bucket.
    day: u32,
    bucket: usize,
    sec: f64,
    /// The next shopper, already drawn.
    arrival_us: i64,
    arrival_bucket: usize,
    arrival_day: u32,
    /// UTC microseconds of bucket 0 of day 0.
    window_start_us: i64,
    seq: u64,
    sales: u64,
    inventory_events: u64,
    pub(crate) transaction_prefix: Vec<u8>,
    pub(crate) event_prefix: Vec<u8>,
}

impl Model {
    /// Builds the catalogue and the demand tables. Panics if `cfg.validate()` fails.
    pub fn new(cfg: &ModelConfig) -> Model {
        if let Err(e) = cfg.validate() {
            panic!("invalid ModelConfig: {e}");
        }
        let catalog = Catalog::new(cfg.seed, cfg.stores, cfg.products, cfg.day);
        let demand = Demand::new(&catalog.stores);
        let midnight_us = cfg
            .day
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp()
            * 1_000_000;
        let mut model = Model {
            shelves: Shelves::new(cfg.stores, cfg.products),
            rng: Rand::new(cfg.seed, 2),
            window_start_us: midnight_us + demand.first_minute * MINUTE_US,
            catalog,
            demand,
            restocks: BinaryHeap::new(),
            restocks_scheduled: 0,
            pending: VecDeque::with_capacity(4),
            day: 0,
            bucket: 0,
            sec: 0.0,
            arrival_us: 0,
            arrival_bucket: 0,
            arrival_day: 0,
            seq: 0,
            sales: 0,
            inventory_events: 0,
            transaction_prefix: format!("T{}-", cfg.seed).into_bytes(),
            event_prefix: format!("I{}-", cfg.seed).into_bytes(),
            cfg: cfg.clone(),
        };
        model.advance();
        model
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn stores(&self) -> &[Store] {
        &self.catalog.stores
    }

    pub fn products(&self) -> &[Product] {
        &self.catalog.products
    }

    /// UTC microseconds of the first opening and the last closing of simulated day `day`
    /// (0 = the configured Black Friday). The simulated clock of `generate` starts here.
    pub fn day_window_us(&self, day: u32) -> (i64, i64) {
        let start = self.window_start_us + i64::from(day) * DAY_US;
        (start, start + self.demand.buckets as i64 * MINUTE_US)
    }

    /// The next event. Never ends.
    pub fn next_event(&mut self) -> Event {
        while self.pending.is_empty() {
            self.step();
        }
        let (model_time_us, kind) = self.pending.pop_front().expect("a step emits events");
        let stream = match kind {
            EventKind::Sale { .. } => Stream::Sales,
            EventKind::Inventory { .. } => Stream::Inventory,
        };
        let seq = self.seq;
        self.seq += 1;
        Event {
            seq,
            stream,
            model_time_us,
            kind,
        }
    }

    /// Skips `n` events (for resuming a stream). Replays the model, ~10 M events/s.
    pub fn skip(&mut self, n: u64) {
        for _ in 0..n {
            self.next_event();
        }
    }

    /// Draws the next arrival: an Exp(1) amount of "intensity" consumed bucket by bucket.
    fn advance(&mut self) {
        let mut e = self.rng.exp1();
        loop {
            let rate = self.demand.rate[self.bucket];
            let left = 60.0 - self.sec;
            if e < rate * left {
                self.sec += e / rate;
                break;
            }
            e -= rate * left;
            self.sec = 0.0;
            self.bucket += 1;
            if self.bucket == self.demand.buckets {
                self.bucket = 0;
                self.day += 1;
            }
        }
        let in_bucket = ((self.sec * 1e6) as i64).min(MINUTE_US - 1);
        self.arrival_us = self.window_start_us
            + i64::from(self.day) * DAY_US
            + self.bucket as i64 * MINUTE_US
            + in_bucket;
        self.arrival_bucket = self.bucket;
        self.arrival_day = self.day;
    }

    /// Handles the next thing to happen: a delivery, or else the next shopper.
    fn step(&mut self) {
        if let Some(Reverse(next)) = self.restocks.peek()
            && next.due_us <= self.arrival_us
        {
            let Reverse(r) = self.restocks.pop().expect("peeked");
            let shelf = self.shelves.get_mut(r.store, r.product);
            shelf.stock += r.quantity;
            shelf.restock_pending = false;
            self.push_inventory(r.due_us, r.store, r.product, r.quantity, Reason::Restock);
            return;
        }
        let (t, day) = (self.arrival_us, self.arrival_day);
        let (u1, u2, u3) = (self.rng.f64(), self.rng.f64(), self.rng.f64());
        let (store, hunter) = self.demand.pick(self.arrival_bucket, u1, u2, u3);
        let u = self.rng.f64();
        let product = if hunter {
            self.catalog.pick_surge(u)
        } else {
            self.catalog.pick_normal(u)
        };
        let wanted = self.quantity(product);
        self.advance();
        self.sell(t, day, store, product, wanted);
    }

    /// Units a shopper wants: one or two for doorbusters (limit per customer) and big-ticket
    /// items, sometimes several of cheap ones.
    fn quantity(&mut self, product: u32) -> u32 {
        let p = &self.catalog.products[product as usize];
        let u = self.rng.f64();
        if p.is_doorbuster {
            1 + u32::from(u < 0.15)
        } else if p.sale_price_cents >= 20_000 {
            1 + u32::from(u < 0.08)
        } else {
            match u {
                u if u < 0.65 => 1,
                u if u < 0.87 => 2,
                u if u < 0.95 => 3,
                u if u < 0.98 => 4,
                _ => 5,
            }
        }
    }

    fn expected_quantity(p: &Product) -> f64 {
        if p.is_doorbuster {
            DOORBUSTER_MEAN_QTY
        } else if p.sale_price_cents >= 20_000 {
            1.08
        } else {
            1.55
        }
    }

    /// Opening stock of a shelf; a pure function of (seed, store, product), not of event order.
    fn opening_stock(&self, store: u32, product: u32) -> i32 {
        let h = hash3(self.cfg.seed, u64::from(store), u64::from(product));
        let p = &self.catalog.products[product as usize];
        let daily = self.demand.store_daily[store as usize];
        if p.is_doorbuster {
            doorbuster_allotment(h, self.doorbuster_demand(store, product))
        } else {
            let units =
                daily * self.catalog.normal_prob[product as usize] * Self::expected_quantity(p);
            regular_target(h, units)
        }
    }

    /// Expected doorbuster units wanted by the door-opening crowd of one store.
    fn doorbuster_demand(&self, store: u32, product: u32) -> f64 {
        let s = store as usize;
        self.demand.store_daily[s]
            * self.demand.store_surge_share[s]
            * self.catalog.surge_prob[product as usize]
            * DOORBUSTER_MEAN_QTY
    }

    fn sell(&mut self, t: i64, day: u32, store: u32, product: u32, wanted: u32) {
        let doorbuster = self.catalog.products[product as usize].is_doorbuster;
        let day16 = day.min(u32::from(u16::MAX)) as u16;
        let mut shelf = *self.shelves.get_mut(store, product);
        if !shelf.opened {
            let stock = self.opening_stock(store, product);
            shelf = Shelf {
                stock,
                target: stock,
                day: day16,
                opened: true,
                restock_pending: false,
            };
            self.push_inventory(t, store, product, stock, Reason::Opening);
        } else if doorbuster && shelf.day < day16 {
            // Doorbusters are not restocked during the day; a later simulated day gets a fresh
            // allotment, put out when its first shopper asks.
            let h = hash3(
                self.cfg.seed ^ u64::from(day),
                u64::from(store),
                u64::from(product),
            );
            let units = doorbuster_allotment(h, self.doorbuster_demand(store, product));
            shelf.stock += units;
            shelf.day = day16;
            self.push_inventory(t, store, product, units, Reason::Restock);
        }
        if shelf.stock == 0 {
            self.push_inventory(t, store, product, 0, Reason::Stockout);
        } else {
            let quantity = wanted.min(shelf.stock as u32);
            shelf.stock -= quantity as i32;
            self.sales += 1;
            let unit_price_cents = self.catalog.products[product as usize].sale_price_cents;
            let kind = EventKind::Sale {
                transaction: self.sales,
                product,
                store,
                quantity,
                unit_price_cents,
            };
            self.pending.push_back((t, kind));
            self.push_inventory(t, store, product, -(quantity as i32), Reason::Sale);
        }
        if !doorbuster && !shelf.restock_pending && shelf.stock < shelf.reorder_point() {
            shelf.restock_pending = true;
            let lead_us = (self.rng.range(3600.0, 10_800.0) * 1e6) as i64;
            self.restocks.push(Reverse(Restock {
                due_us: t + lead_us,
                order: self.restocks_scheduled,
                store,
                product,
                quantity: shelf.target,
            }));
            self.restocks_scheduled += 1;
        }
        *self.shelves.get_mut(store, product) = shelf;
    }

    fn push_inventory(&mut self, t: i64, store: u32, product: u32, change: i32, reason: Reason) {
        self.inventory_events += 1;
        let kind = EventKind::Inventory {
            event: self.inventory_events,
            product,
            store,
            quantity_change: i64::from(change),
            reason,
        };
        self.pending.push_back((t, kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(cfg: &ModelConfig, n: usize) -> Vec<Event> {
        let mut m = Model::new(cfg);
        (0..n).map(|_| m.next_event()).collect()
    }

    #[test]
    fn same_config_gives_same_events() {
        let cfg = ModelConfig::default();
        let a = events(&cfg, 50_000);
        assert_eq!(a, events(&cfg, 50_000));
        // Continuing after N events and skipping N events agree.
        let mut m1 = Model::new(&cfg);
        let mut m2 = Model::new(&cfg);
        m1.skip(30_000);
        for _ in 0..30_000 {
            m2.next_event();
        }
        for _ in 0..1000 {
            assert_eq!(m1.next_event(), m2.next_event());
        }
        let other = events(
            &ModelConfig {
                seed: 43,
                ..cfg.clone()
            },
            1000,
        );
        assert_ne!(a[..1000], other[..]);
    }

    #[test]
    fn sequence_numbers_ids_and_times_are_consistent() {
        let cfg = ModelConfig {
            stores: 7,
            products: 50,
            ..ModelConfig::default()
        };
        let (mut sales, mut inventory, mut last_t) = (0, 0, i64::MIN);
        for (i, e) in events(&cfg, 200_000).iter().enumerate() {
            assert_eq!(e.seq, i as u64);
            assert!(e.model_time_us >= last_t, "time went backwards at {i}");
            last_t = e.model_time_us;
            match e.kind {
                EventKind::Sale {
                    transaction,
                    quantity,
                    ..
                } => {
                    sales += 1;
                    assert_eq!((transaction, e.stream), (sales, Stream::Sales));
                    assert!(quantity >= 1);
                }
                EventKind::Inventory { event, .. } => {
                    inventory += 1;
                    assert_eq!((event, e.stream), (inventory, Stream::Inventory));
                }
            }
        }
        // 200 000 events of 7 stores run well past the first simulated day.
        let m = Model::new(&cfg);
        assert!(last_t > m.day_window_us(1).0);
    }

    #[test]
    fn every_sale_is_followed_by_its_inventory_event() {
        let evs = events(&ModelConfig::default(), 100_000);
        for w in evs.windows(2) {
            if let EventKind::Sale {
                product,
                store,
                quantity,
                ..
            } = w[0].kind
            {
                let expected = EventKind::Inventory {
                    event: match w[1].kind {
                        EventKind::Inventory { event, .. } => event,
                        _ => panic!("sale not followed by inventory"),
                    },
                    product,
                    store,
                    quantity_change: -i64::from(quantity),
                    reason: Reason::Sale,
                };
                assert_eq!(
                    (w[1].kind, w[1].model_time_us),
                    (expected, w[0].model_time_us)
                );
            }
        }
    }

    #[test]
    fn first_events_fall_at_the_first_opening() {
        let mut m = Model::new(&ModelConfig::default());
        let (start, end) = m.day_window_us(0);
        let e = m.next_event();
        assert!(e.model_time_us >= start && e.model_time_us < start + 60_000_000);
        assert!(end - start <= 24 * 3_600_000_000);
        // An opening event precedes the first sale of a shelf.
        assert!(matches!(
            e.kind,
            EventKind::Inventory {
                reason: Reason::Opening,
                ..
            }
        ));
    }

    #[test]
    #[should_panic(expected = "stores must be")]
    fn rejects_out_of_range_configs() {
        Model::new(&ModelConfig {
            stores: 0,
            ..ModelConfig::default()
        });
    }
}
