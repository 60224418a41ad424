//! The local target under load, through the real binary (release build), each figure beside a
//! baseline measured in the same run:
//!
//! 1. ingest: `generate --count N` into the local target (model → segments → loader → DuckDB,
//!    queryable when the command returns) vs the same events written to /dev/null (the
//!    generator alone);
//! 2. freshness: `generate --rate 5000` with `query` polling from another process; how old the
//!    newest visible event is when a query returns (p50/p99/max), beside the query's own round
//!    trip;
//! 3. metrics: every named query over the warehouse (≥ 10 M sales rows by default), median of
//!    three runs, beside a plain full scan of `sales_fact`.
//!
//! `cargo bench --bench local_pipeline [-- SALES_ROWS]` (default 10 000 000; the generator makes
//! about 1.2 inventory events per sale, so expect ~2.2× that many events).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use bqflow::backend::local::run_query;
use bqflow::backend::local::warehouse::Warehouse;
use bqflow::spec::Project;
use bqflow::sql::{Dialect, Renderer};
use common::{bqflow, generate_max};

fn scalar(dir: &Path, sql: &str) -> i64 {
    let out = bqflow(dir, &["query", "--format", "csv", "--sql", sql]);
    out.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let sales_target: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    bqflow(dir, &["init", "."]);
    bqflow(dir, &["up"]);

    // 1. Ingest. About 2.2 events per sale; generate until the sales target is reached.
    let events = sales_target * 22 / 10;
    let n = events.to_string();
    let start = Instant::now();
    bqflow(
        dir,
        &[
            "generate",
            "--output",
            "/dev/null",
            "--rate",
            "max",
            "--clock",
            "simulated",
            "--count",
            &n,
        ],
    );
    let baseline = start.elapsed();
    let ingest = generate_max(dir, events);
    let sales = scalar(dir, "SELECT count(*) FROM {{ ref(\"sales_fact\") }}");
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!("ingest, {events} events ({sales} sales rows):");
    println!(
        "  generator to /dev/null (baseline)    {:>10.0} events/s  ({:.1} s)",
        rate(baseline),
        baseline.as_secs_f64()
    );
    println!(
        "  generate into the local warehouse    {:>10.0} events/s  ({:.1} s)",
        rate(ingest),
        ingest.as_secs_f64()
    );
    println!(
        "  ratio ingest/baseline                {:>10.2}",
        rate(ingest) / rate(baseline)
    );

    // 3. Metrics (before freshness adds wall-clock rows).
    let project = Project::load(&dir.join("project.yaml")).expect("spec");
    let renderer = Renderer::new(&project, Dialect::DuckDb, "").expect("renderer");
    let wh = Warehouse::open(&dir.join(".bqflow"), false).expect("warehouse");
    let time = |sql: &str,
                params: &[(String, bqflow::sql::params::ParamValue)],
                rendered: &bqflow::sql::Rendered| {
        let mut runs: Vec<f64> = (0..3)
            .map(|_| {
                let start = Instant::now();
                run_query(&wh, rendered, params).unwrap_or_else(|e| panic!("{sql}: {e:#}"));
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        runs[1]
    };
    let scan = renderer
        .adhoc("SELECT sum(quantity), count(*) FROM {{ ref(\"sales_fact\") }}")
        .expect("scan");
    println!("metrics over {sales} sales rows (median of 3):");
    println!(
        "  {:<22} {:>8.1} ms  (baseline: a full scan of sales_fact)",
        "scan",
        time("scan", &[], &scan)
    );
    let mut worst = 0.0f64;
    for q in &project.spec.queries {
        let rendered = renderer.query(q).expect("query renders");
        let params: Vec<_> = q
            .params
            .iter()
            .map(|p| {
                let text = p.default.as_ref().map_or("", |d| d.as_str());
                (
                    p.name.value.clone(),
                    bqflow::sql::params::parse_value(p.param_type.value, text).expect("default"),
                )
            })
            .collect();
        let ms = time(&q.name, &params, &rendered);
        worst = worst.max(ms);
        println!("  {:<22} {ms:>8.1} ms", q.name.as_str());
    }
    println!("  slowest metric {worst:.1} ms (target < 500 ms)");
    drop(wh);

    // 2. Freshness at 5000 events/s with wall-clock timestamps, on a fresh target (the
    //    simulated day above lies in the future of the wall clock).
    bqflow(dir, &["teardown", "--yes"]);
    bqflow(dir, &["up"]);
    let mut generate = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(["generate", "--rate", "5000", "--duration", "40s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start generate");
    std::thread::sleep(Duration::from_secs(3));
    let (mut lags, mut round_trips) = (Vec::new(), Vec::new());
    let poll_until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < poll_until {
        let start = Instant::now();
        let newest = scalar(
            dir,
            "SELECT epoch_us(max(timestamp)) FROM {{ ref(\"sales_fact\") }}",
        );
        let now_us = chrono::Utc::now().timestamp_micros();
        round_trips.push(start.elapsed().as_secs_f64());
        lags.push((now_us - newest) as f64 / 1e6);
        std::thread::sleep(Duration::from_millis(100));
    }
    generate.wait().expect("generate");
    lags.sort_by(f64::total_cmp);
    round_trips.sort_by(f64::total_cmp);
    println!(
        "freshness at 5000 events/s, {} polls from another process:",
        lags.len()
    );
    println!(
        "  age of the newest visible event      p50 {:.2} s  p99 {:.2} s  max {:.2} s  (target p99 < 2 s)",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags[lags.len() - 1]
    );
    println!(
        "  query round trip (baseline)          p50 {:.2} s  p99 {:.2} s",
        percentile(&round_trips, 0.5),
        percentile(&round_trips, 0.99)
    );
}
