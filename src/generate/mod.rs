//! `bqflow generate`'s event source: a deterministic model of a Black Friday (stores across US
//! time zones, a product catalogue with doorbusters, a demand curve, per-store inventory), its
//! allocation-free JSON encoder, optional malformed events for dead-letter testing, the pacer
//! that holds the requested rate, and the loop that feeds a sink. See docs/generator.md.

mod catalog;
mod data;
mod demand;
pub mod dimensions;
mod encode;
mod inventory;
pub mod ledger;
mod malformed;
mod model;
mod pacer;
mod rng;
pub mod run;
pub mod schema;
#[cfg(test)]
mod simulation_tests;
#[cfg(test)]
mod strict;

pub use catalog::{Product, Store};
pub use encode::{encode, write_cents, write_str, write_timestamp};
pub use malformed::{Flaw, is_malformed, malformed};
pub use model::{Event, EventKind, Model, ModelConfig, Reason, Stream};
pub use pacer::{MAX_CATCH_UP, Pace, Pacer, nominal_offset_ns, schedule, wait_until};

use crate::spec::types::Generator;

/// The model the spec describes (validated: the day parses, counts are in range).
pub fn model_config(g: &Generator) -> ModelConfig {
    ModelConfig {
        seed: g.seed.value,
        stores: g.stores.value,
        products: g.products.value,
        day: chrono::NaiveDate::parse_from_str(&g.day, "%Y-%m-%d")
            .unwrap_or_else(|_| ModelConfig::default().day),
    }
}

/// Names the event sequence a model produces. Stored with what was published, so a restarted
/// generator resumes its own sequence and never mixes in another model's.
/// The seed in a producer id (`… seed=42 …`).
pub fn seed_of(producer: &str) -> Option<u64> {
    producer
        .split_whitespace()
        .find_map(|part| part.strip_prefix("seed="))
        .and_then(|s| s.parse().ok())
}

pub fn producer_id(m: &ModelConfig) -> String {
    format!(
        "bqflow-model-1 seed={} stores={} products={} day={}",
        m.seed, m.stores, m.products, m.day
    )
}
