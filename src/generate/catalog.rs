//! The dimensions: stores and products, drawn deterministically from the seed, plus the
//! product-choice tables the event process samples from.
//!
//! The catalogue uses its own random stream, so the dimensions `up` loads never depend on how
//! many events were generated.

use chrono::{Datelike, NaiveDate, Weekday};

use super::data::{CATEGORIES, CITIES, FIRST_NAMES, LAST_NAMES};
use super::rng::{Rand, det_ln};

/// One store (a row of `stores_dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    /// "S001", zero-padded to the width of the store count (at least 3 digits).
    pub store_id: String,
    /// "City, ST".
    pub location: String,
    /// Northeast | Southeast | Midwest | Southwest | West.
    pub region: String,
    /// IANA time zone, e.g. "America/New_York".
    pub timezone: String,
    /// UTC offset in force on the simulated day (standard time on Black Friday).
    pub utc_offset_minutes: i32,
    /// small | medium | large | supercenter.
    pub size: String,
    pub manager: String,
    /// Local hour the doors open (5 or 6).
    pub opening_hour: u32,
    /// Local hour the doors close (22 or 23).
    pub closing_hour: u32,
    /// Relative traffic of this store (small 0.45 … supercenter 3.6).
    pub(crate) size_weight: f64,
}

/// One product (a row of `products_dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// "P00001", zero-padded to the width of the product count (at least 5 digits).
    pub product_id: String,
    /// Free text; may contain `"` (inch marks) and non-ASCII letters.
    pub name: String,
    pub category: String,
    pub subcategory: String,
    /// List price.
    pub price_cents: i64,
    /// "SUP012".
    pub supplier_id: String,
    pub is_doorbuster: bool,
    /// Black Friday discount in percent (doorbusters 40–60, others 0–30).
    pub discount_pct: u32,
    /// The day's sale price (`unit_price` of every sale of this product).
    pub sale_price_cents: i64,
    /// Index into `CATEGORIES`.
    pub(crate) category_index: usize,
    /// Relative popularity inside its category.
    pub(crate) popularity: f64,
}

/// Store sizes: (name, probability, traffic weight). Supercenters draw ~8x a small store.
const SIZES: [(&str, f64, f64); 4] = [
    ("small", 0.25, 0.45),
    ("medium", 0.35, 1.0),
    ("large", 0.25, 1.8),
    ("supercenter", 0.15, 3.6),
];

/// Expected traffic weight of a store, so that daily volume scales with the actual sizes drawn.
pub(crate) const MEAN_SIZE_WEIGHT: f64 = 0.25 * 0.45 + 0.35 * 1.0 + 0.25 * 1.8 + 0.15 * 3.6;

/// Share of the catalogue flagged as doorbusters (design: about 4–6 %).
const DOORBUSTER_SHARE: f64 = 0.05;
/// Share of the door-opening crowd's picks that go to doorbusters.
const HUNTER_DOORBUSTER_SHARE: f64 = 0.6;
/// Everyday discounts of non-doorbusters, in percent.
const DISCOUNTS: [u32; 11] = [0, 0, 0, 5, 10, 10, 15, 20, 20, 25, 30];

/// Stores, products and the cumulative tables used to pick a product for a sale.
pub(crate) struct Catalog {
    pub stores: Vec<Store>,
    pub products: Vec<Product>,
    /// Probability of each product for an ordinary shopper (sums to 1).
    pub normal_prob: Vec<f64>,
    /// Cumulative `normal_prob`, for binary search.
    pub normal_cum: Vec<f64>,
    /// The door-opening crowd's choice: doorbusters (`HUNTER_DOORBUSTER_SHARE` of picks), else
    /// the normal mix tilted further towards electronics and toys.
    pub surge_prob: Vec<f64>,
    pub surge_cum: Vec<f64>,
}

impl Catalog {
    pub(crate) fn new(seed: u64, stores: u32, products: u32, day: NaiveDate) -> Catalog {
        let mut rng = Rand::new(seed, 1);
        let stores = build_stores(&mut rng, stores as usize, day);
        let products = build_products(&mut rng, products as usize);
        let (normal_prob, normal_cum) = normal_table(&products);
        let surge_prob = surge_table(&products, &normal_prob);
        let surge_cum = cumulative(&surge_prob);
        Catalog {
            stores,
            products,
            normal_prob,
            normal_cum,
            surge_prob,
            surge_cum,
        }
    }

    /// Product for an ordinary shopper; `u` uniform in [0, 1).
    #[inline]
    pub(crate) fn pick_normal(&self, u: f64) -> u32 {
        search(&self.normal_cum, u) as u32
    }

    /// Product for a shopper who queued at the doors; `u` uniform in [0, 1).
    #[inline]
    pub(crate) fn pick_surge(&self, u: f64) -> u32 {
        search(&self.surge_cum, u) as u32
    }
}

/// Normalised cumulative sums (last element exactly 1.0, so any u in [0, 1) finds an index).
pub(crate) fn cumulative(weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let mut cum: Vec<f64> = weights
        .iter()
        .map(|w| {
            acc += w;
            acc / total
        })
        .collect();
    if let Some(last) = cum.last_mut() {
        *last = 1.0;
    }
    cum
}

/// First index whose cumulative value exceeds `u` (zero-weight entries are never chosen).
#[inline]
pub(crate) fn search(cum: &[f64], u: f64) -> usize {
    cum.partition_point(|&c| c <= u).min(cum.len() - 1)
}

fn id(prefix: &str, n: usize, min_width: usize, count: usize) -> String {
    let width = count.to_string().len().max(min_width);
    format!("{prefix}{n:0width$}")
}

/// US daylight saving time (second Sunday of March to first Sunday of November). Black Friday is
/// always after it ends, so stores run on standard time; other days are handled for generality.
fn us_dst(day: NaiveDate) -> bool {
    let nth_sunday = |month: u32, n: u32| {
        NaiveDate::from_weekday_of_month_opt(day.year(), month, Weekday::Sun, n as u8)
            .expect("every month has a second Sunday")
    };
    day >= nth_sunday(3, 2) && day < nth_sunday(11, 1)
}

fn build_stores(rng: &mut Rand, count: usize, day: NaiveDate) -> Vec<Store> {
    let mut cities: Vec<usize> = (0..CITIES.len()).collect();
    for i in (1..cities.len()).rev() {
        cities.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let dst = us_dst(day);
    (0..count)
        .map(|i| {
            let (city, state, region, tz, std_offset, observes_dst) =
                CITIES[cities[i % cities.len()]];
            let mut u = rng.f64();
            let &(size, _, size_weight) = SIZES
                .iter()
                .find(|s| {
                    u -= s.1;
                    u < 0.0
                })
                .unwrap_or(&SIZES[3]);
            let big = size_weight > 1.5;
            Store {
                store_id: id("S", i + 1, 3, count),
                location: format!("{city}, {state}"),
                region: region.to_string(),
                timezone: tz.to_string(),
                utc_offset_minutes: std_offset + if dst && observes_dst { 60 } else { 0 },
                size: size.to_string(),
                manager: format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES)),
                opening_hour: if rng.chance(if big { 0.6 } else { 0.3 }) {
                    5
                } else {
                    6
                },
                closing_hour: if rng.chance(if big { 0.6 } else { 0.3 }) {
                    23
                } else {
                    22
                },
                size_weight,
            }
        })
        .collect()
}

/// Retail-style price: whole dollars ending in 9 above $100, always ".99" cents.
fn list_price_cents(rng: &mut Rand, (lo, hi): (f64, f64)) -> i64 {
    // Uniform in sqrt-space skews towards cheaper items without needing a platform `exp`.
    let r = rng.range(lo.sqrt(), hi.sqrt());
    let mut dollars = (r * r) as i64;
    if dollars >= 100 {
        dollars = dollars / 10 * 10 + 9;
    }
    dollars.max(1) * 100 - 1
}

/// Discounted price rounded down to the nearest ".99".
fn sale_price_cents(list: i64, discount_pct: u32) -> i64 {
    if discount_pct == 0 {
        return list;
    }
    let p = list * i64::from(100 - discount_pct) / 100;
    ((p + 1) / 100 * 100 - 1).max(99)
}

fn build_products(rng: &mut Rand, count: usize) -> Vec<Product> {
    const SUFFIXES: [&str; 8] = ["", "", "", " Pro", " Plus", " Lite", " II", " Max"];
    let suppliers = (count / 25).clamp(5, 999);
    let shares: Vec<f64> = CATEGORIES.iter().map(|c| c.catalogue_share).collect();
    let share_cum = cumulative(&shares);
    let mut products: Vec<Product> = (0..count)
        .map(|i| {
            // The first products cover every category, so even tiny catalogues are complete.
            let c = if i < CATEGORIES.len() {
                i
            } else {
                search(&share_cum, rng.f64())
            };
            let cat = &CATEGORIES[c];
            let sub = rng.pick(cat.subcategories);
            let name = format!(
                "{} {}{}",
                rng.pick(cat.brands),
                rng.pick(sub.nouns),
                rng.pick(&SUFFIXES)
            );
            let price_cents = list_price_cents(rng, sub.price);
            // Heavy-tailed popularity (max/min ~ 60): a few hits, a long tail.
            // (`powi` is avoided: its rounding is not specified across platforms.)
            let d = 0.13 + rng.f64();
            let popularity = 1.0 / (d * d);
            Product {
                product_id: id("P", i + 1, 5, count),
                name,
                category: cat.name.to_string(),
                subcategory: sub.name.to_string(),
                price_cents,
                supplier_id: id(
                    "SUP",
                    1 + rng.below(suppliers as u64) as usize,
                    3,
                    suppliers,
                ),
                is_doorbuster: false,
                discount_pct: 0,
                sale_price_cents: price_cents,
                category_index: c,
                popularity,
            }
        })
        .collect();
    // Weighted sampling without replacement (Efraimidis–Spirakis): key = ln(u) / w, keep the
    // largest keys. Electronics and toys carry most of the weight.
    let doorbuster_count = ((count as f64 * DOORBUSTER_SHARE).round() as usize).max(1);
    let mut keys: Vec<(f64, usize)> = products
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let w = CATEGORIES[p.category_index].doorbuster_weight;
            (det_ln(1.0 - rng.f64()) / w, i)
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in &keys[..doorbuster_count] {
        products[i].is_doorbuster = true;
    }
    for p in &mut products {
        p.discount_pct = if p.is_doorbuster {
            40 + 5 * rng.below(5) as u32
        } else {
            *rng.pick(&DISCOUNTS)
        };
        p.sale_price_cents = sale_price_cents(p.price_cents, p.discount_pct);
    }
    products
}

/// Ordinary shoppers: category share x Black Friday lift, split by popularity inside a category.
fn normal_table(products: &[Product]) -> (Vec<f64>, Vec<f64>) {
    // Doorbusters get no extra pull here: once sold out, every shopper asking for one becomes
    // a stock-out, and a boost made those ~20 % of all attempts.
    let mut per_category = vec![0.0; CATEGORIES.len()];
    for p in products {
        per_category[p.category_index] += p.popularity;
    }
    let weights: Vec<f64> = products
        .iter()
        .map(|p| {
            let cat = &CATEGORIES[p.category_index];
            cat.normal_share * cat.lift * p.popularity / per_category[p.category_index]
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let prob = weights.iter().map(|w| w / total).collect();
    (prob, cumulative(&weights))
}

/// Door-opening shoppers: doorbusters by flattened popularity (every one is an advertised deal),
/// the rest like ordinary shoppers with each category's `opening_lift`.
fn surge_table(products: &[Product], normal_prob: &[f64]) -> Vec<f64> {
    let hot: Vec<f64> = products
        .iter()
        .map(|p| {
            if p.is_doorbuster {
                p.popularity.sqrt()
            } else {
                0.0
            }
        })
        .collect();
    let other: Vec<f64> = products
        .iter()
        .zip(normal_prob)
        .map(|(p, w)| {
            if p.is_doorbuster {
                0.0
            } else {
                w * CATEGORIES[p.category_index].opening_lift
            }
        })
        .collect();
    let (hot_total, other_total): (f64, f64) = (hot.iter().sum(), other.iter().sum());
    hot.iter()
        .zip(&other)
        .map(|(h, o)| {
            HUNTER_DOORBUSTER_SHARE * h / hot_total
                + (1.0 - HUNTER_DOORBUSTER_SHARE) * o / other_total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    #[test]
    fn ids_are_padded_to_the_count() {
        let c = Catalog::new(1, 24, 1000, day());
        assert_eq!(c.stores[6].store_id, "S007");
        assert_eq!(c.products[41].product_id, "P00042");
        let c = Catalog::new(1, 10_000, 100_000, day());
        assert_eq!(c.stores[0].store_id, "S00001");
        assert_eq!(c.products[99_999].product_id, "P100000");
    }

    #[test]
    fn dimensions_are_deterministic_and_seed_dependent() {
        let a = Catalog::new(42, 50, 500, day());
        let b = Catalog::new(42, 50, 500, day());
        let c = Catalog::new(43, 50, 500, day());
        assert_eq!(a.stores, b.stores);
        assert_eq!(a.products, b.products);
        assert_ne!(a.products, c.products);
    }

    #[test]
    fn black_friday_is_standard_time_and_july_is_not() {
        let c = Catalog::new(3, 200, 10, day());
        for s in &c.stores {
            let expected = match s.timezone.as_str() {
                "America/Chicago" => -360,
                "America/Denver" | "America/Phoenix" | "America/Boise" => -420,
                "America/Los_Angeles" => -480,
                _ => -300,
            };
            assert_eq!(s.utc_offset_minutes, expected, "{s:?}");
            assert!((5..=6).contains(&s.opening_hour) && (22..=23).contains(&s.closing_hour));
        }
        let july = NaiveDate::from_ymd_opt(2026, 7, 4).unwrap();
        let c = Catalog::new(3, 200, 10, july);
        let ny = c
            .stores
            .iter()
            .find(|s| s.timezone == "America/New_York")
            .unwrap();
        let az = c
            .stores
            .iter()
            .find(|s| s.timezone == "America/Phoenix")
            .unwrap();
        assert_eq!((ny.utc_offset_minutes, az.utc_offset_minutes), (-240, -420));
    }

    #[test]
    fn doorbusters_are_few_deep_and_mostly_electronics_and_toys() {
        let c = Catalog::new(42, 24, 2000, day());
        let db: Vec<&Product> = c.products.iter().filter(|p| p.is_doorbuster).collect();
        assert_eq!(db.len(), 100);
        let et = db
            .iter()
            .filter(|p| p.category == "Electronics" || p.category == "Toys & Games")
            .count();
        assert!(et * 10 >= db.len() * 7, "{et} of {}", db.len());
        for p in &c.products {
            let range = if p.is_doorbuster { 40..=60 } else { 0..=30 };
            assert!(range.contains(&p.discount_pct), "{p:?}");
            assert!(p.sale_price_cents <= p.price_cents && p.sale_price_cents > 0);
            assert_eq!(p.price_cents % 100, 99);
            assert_eq!(p.sale_price_cents % 100, 99);
        }
        assert!((c.normal_prob.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((c.surge_prob.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let hot: f64 = (0..c.products.len())
            .filter(|&i| c.products[i].is_doorbuster)
            .map(|i| c.surge_prob[i])
            .sum();
        assert!((hot - HUNTER_DOORBUSTER_SHARE).abs() < 1e-9);
    }

    #[test]
    fn prices_follow_the_subcategory_ranges() {
        let c = Catalog::new(5, 1, 3000, day());
        let tvs: Vec<i64> = c
            .products
            .iter()
            .filter(|p| p.subcategory == "TVs")
            .map(|p| p.price_cents)
            .collect();
        assert!(!tvs.is_empty());
        assert!(
            tvs.iter().all(|&p| (22_000..=200_000).contains(&p)),
            "{tvs:?}"
        );
        assert!(c.products.iter().any(|p| p.name.contains('"')));
        assert_eq!(sale_price_cents(19_999, 20), 15_999);
        assert_eq!(sale_price_cents(999, 60), 399);
    }

    #[test]
    fn search_skips_zero_weights() {
        let cum = cumulative(&[1.0, 0.0, 1.0]);
        assert_eq!(search(&cum, 0.0), 0);
        assert_eq!(search(&cum, 0.5), 2);
        assert_eq!(search(&cum, 0.999_999), 2);
    }
}
