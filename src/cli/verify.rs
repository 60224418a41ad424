//! `bqflow verify`: did every acknowledged event land, exactly once? Compares the ids the
//! generator had acknowledged (the ledger) with the ids in each fact table: missing, duplicated,
//! and landed without an acknowledgement (a publish whose response was lost).

use std::time::{Duration, Instant};

use clap::Args;
use comfy_table::{Table, presets};

use super::Global;
use super::context::{self, Context, block_on};
use crate::error::{Error, Result};
use crate::generate::ledger::{Ledger, RangeSet};
use crate::generate::{model_config, seed_of};
use crate::sql::id_counts::{IdCounts, IdQuery};
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Keep checking until nothing is missing, up to this long (pipelines take a while).
    #[arg(long, value_parser = super::flags::duration)]
    pub wait: Option<Duration>,
    /// Check only the events of this seed (default: every generator run the target recorded).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// One fact table's count.
struct Check {
    seed: u64,
    table: String,
    stream: &'static str,
    counts: IdCounts,
}

impl Check {
    fn missing(&self) -> u64 {
        self.counts.expected.saturating_sub(self.counts.distinct)
    }
    fn duplicated(&self) -> u64 {
        self.counts.copies.saturating_sub(self.counts.distinct)
    }
}

fn check(ctx: &Context, seed: u64, ranges: Option<&[RangeSet; 2]>) -> Result<Vec<Check>> {
    let spec = &ctx.project.spec;
    let Some(streams) = &spec.generator.streams else {
        return Err(Error::usage(
            "the spec has no `generator.streams`: there is nothing generated to verify",
        ));
    };
    let mut checks = Vec::new();
    for (i, (topic, stream, column, letter)) in [
        (&streams.sales, "sales", "transaction_id", 'T'),
        (&streams.inventory, "inventory", "event_id", 'I'),
    ]
    .into_iter()
    .enumerate()
    {
        for p in spec
            .pipelines
            .iter()
            .filter(|p| ctx.project.pipeline_topic(p) == topic.as_str())
        {
            let relation = ctx
                .renderer
                .relation(&p.table)
                .map_err(crate::diagnostic::Diagnostics::from)?;
            let ids = IdQuery {
                relation: &relation,
                column,
                prefix: &format!("{letter}{seed}-"),
                acknowledged: ranges.map(|r| r[i].0.as_slice()),
            };
            let counts = block_on(ctx.backend.count_ids(&ctx.plan, &ids))?;
            checks.push(Check {
                seed,
                table: format!("{}.{}", spec.dataset.name, p.table),
                stream,
                counts,
            });
        }
    }
    Ok(checks)
}

/// The seeds to check: the one asked for, else every generator run the target recorded (ids
/// are `T<seed>-<n>`), else, before any run, the spec's.
fn seeds_to_check(ctx: &Context, asked: Option<u64>) -> Result<Vec<u64>> {
    if let Some(seed) = asked {
        return Ok(vec![seed]);
    }
    let mut seeds: Vec<u64> = block_on(ctx.backend.producers())?
        .iter()
        .filter_map(|p| seed_of(p))
        .collect();
    seeds.sort();
    seeds.dedup();
    if seeds.is_empty() {
        seeds.push(model_config(&ctx.project.spec.generator).seed);
    }
    Ok(seeds)
}

/// On gcp, the ids Pub/Sub acknowledged for a seed, over every producer with that seed.
fn acknowledged(ledger: &Ledger, seed: u64) -> [RangeSet; 2] {
    let mut acked: [RangeSet; 2] = Default::default();
    for (producer, entry) in &ledger.producers {
        if seed_of(producer) == Some(seed) {
            for (into, from) in acked.iter_mut().zip(&entry.acked) {
                for (lo, hi) in &from.0 {
                    into.insert(*lo, *hi);
                }
            }
        }
    }
    acked
}

pub fn run(ui: &Ui, g: &Global, args: VerifyArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    let ledger = block_on(ctx.backend.ledger())?;
    let seeds = seeds_to_check(&ctx, args.seed)?;
    let ranges: Vec<Option<[RangeSet; 2]>> = seeds
        .iter()
        .map(|seed| ledger.as_ref().map(|l| acknowledged(l, *seed)))
        .collect();
    let deadline = Instant::now() + args.wait.unwrap_or_default();
    let checks = loop {
        block_on(ctx.backend.settle(&ctx.plan))?;
        let mut checks = Vec::new();
        for (seed, ranges) in seeds.iter().zip(&ranges) {
            checks.extend(check(&ctx, *seed, ranges.as_ref())?);
        }
        let missing: u64 = checks.iter().map(Check::missing).sum();
        if missing == 0 || Instant::now() >= deadline {
            break checks;
        }
        ui.note(format!(
            "{missing} acknowledged events not landed yet; checking again"
        ));
        std::thread::sleep(Duration::from_secs(2));
    };
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "table",
        "stream",
        "acknowledged",
        "landed",
        "missing",
        "duplicated",
        "not acknowledged",
        "seed",
    ]);
    for c in &checks {
        t.add_row([
            c.table.clone(),
            c.stream.to_string(),
            c.counts.expected.to_string(),
            c.counts.distinct.to_string(),
            c.missing().to_string(),
            c.duplicated().to_string(),
            c.counts.unacknowledged.to_string(),
            c.seed.to_string(),
        ]);
    }
    println!("{t}");
    let missing: u64 = checks.iter().map(Check::missing).sum();
    let duplicated: u64 = checks.iter().map(Check::duplicated).sum();
    if ledger.is_none() {
        ui.note("(local target: expected = every id up to the highest that landed)");
    }
    if missing > 0 {
        return Err(Error::Runtime(anyhow::anyhow!(
            "{missing} acknowledged events are missing from the fact tables"
        )));
    }
    if duplicated > 0 {
        ui.note(format!(
            "{duplicated} duplicates: delivery is at-least-once (a retried publish or pipeline); deduplicate on the id in queries that must count exactly"
        ));
    }
    Ok(0)
}
