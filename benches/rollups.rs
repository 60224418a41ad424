//! Materialized views (rollups) at Black Friday scale, each figure beside a baseline from the
//! same run (docs/materialized-views.md):
//!
//! 1. ingest with the example's four rollups maintained vs the same spec without them (no
//!    materialized views, views, queries or dashboards), 2.2 M events each;
//! 2. every example metric over SALES_ROWS sales rows (default 100 M), read through the
//!    rollups vs computed from the facts (`query --from-facts`), median of three, warm, in
//!    one session;
//! 3. bytes a full dashboard refresh would bill on BigQuery, rollups vs facts, computed from
//!    the tables' logical sizes (BigQuery's per-type sizes, every column of every table a
//!    query reads: an upper bound for both; 10 MB minimum per table and query).
//!
//! `cargo bench --bench rollups [-- SALES_ROWS] [--dir DIR]` (100 M sales rows ≈ 220 M events:
//! about 20 minutes of generating on two cores and ~10 GB of disk, ~33 GB at the peak). With
//! `--dir`, the grown project is kept in DIR and a later run with the same DIR only measures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use bqflow::backend::local::run_query;
use bqflow::backend::local::warehouse::Warehouse;
use bqflow::spec::Project;
use bqflow::sql::params::{ParamValue, parse_value};
use bqflow::sql::{Dialect, Rendered, Renderer};
use common::{bqflow, generate_max as generate};

const INGEST_EVENTS: u64 = 2_200_000;

/// The example without its materialized views, views, queries and dashboards: the facts
/// alone, as ingest's baseline.
fn without_rollups(dir: &Path) {
    let spec = std::fs::read_to_string(dir.join("project.yaml")).expect("spec");
    let (head, rest) = spec.split_once("\nmaterialized_views:").expect("rollups");
    let (_, rest) = rest.split_once("\npipelines:").expect("pipelines");
    let (middle, _) = rest.split_once("\nqueries:").expect("queries");
    std::fs::write(
        dir.join("project.yaml"),
        format!("{head}\npipelines:{middle}\n"),
    )
    .expect("write spec");
}

fn median_ms(wh: &Warehouse, rendered: &Rendered, params: &[(String, ParamValue)]) -> f64 {
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            run_query(wh, rendered, params).unwrap_or_else(|e| panic!("{}: {e:#}", rendered.sql));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[1]
}

fn defaults(q: &bqflow::spec::types::Query) -> Vec<(String, ParamValue)> {
    q.params
        .iter()
        .map(|p| {
            let text = p.default.as_ref().map_or("", |d| d.as_str());
            (
                p.name.value.clone(),
                parse_value(p.param_type.value, text).expect("default"),
            )
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sales_target: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000_000);
    // `--dir DIR`: grow (and keep) the warehouse in DIR; when DIR already holds one, skip the
    // ingest comparison and growth and measure the metrics again (tuning a view at 100 M rows
    // without 15 minutes of generating each time).
    let kept = args
        .iter()
        .position(|a| a == "--dir")
        .map(|i| std::path::PathBuf::from(args.get(i + 1).expect("--dir DIR")));
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = kept.as_deref().unwrap_or(temp.path());
    if !dir.join(".bqflow").exists() {
        std::fs::create_dir_all(dir).expect("--dir");
        ingest_and_grow(dir, sales_target);
    }
    let project = Project::load(&dir.join("project.yaml")).expect("spec");
    let renderer = Renderer::new(&project, Dialect::DuckDb, "").expect("renderer");
    let facts = renderer.from_facts(&project).expect("inlined");
    let wh = Warehouse::open(&dir.join(".bqflow"), false).expect("warehouse");
    let count = |sql: &str| -> i64 {
        let r = renderer.adhoc(sql).expect("count");
        match run_query(&wh, &r, &[]).expect("count").rows[0][0] {
            bqflow::output::Value::Int(n) => n,
            ref other => panic!("{other:?}"),
        }
    };
    let sales = count("SELECT count(*) FROM {{ ref(\"sales_fact\") }}");
    let groups = count("SELECT count(*) FROM {{ ref(\"sales_by_store_hour\") }}");
    println!(
        "metrics over {sales} sales rows ({groups} rows in sales_by_store_hour), median of 3, warm:"
    );
    println!(
        "  {:<22} {:>12} {:>14} {:>8}",
        "metric", "rollups", "facts (base)", "ratio"
    );
    let mut worst = 0.0f64;
    for q in &project.spec.queries {
        let params = defaults(q);
        let through = renderer.query(q).expect("renders");
        let raw = renderer
            .redirected(facts.clone(), |r| r.query(q))
            .expect("renders from facts");
        let (a, b) = (
            median_ms(&wh, &through, &params),
            median_ms(&wh, &raw, &params),
        );
        worst = worst.max(a);
        println!(
            "  {:<22} {a:>9.1} ms {b:>11.1} ms {:>7.3}",
            q.name.as_str(),
            a / b
        );
    }
    println!("  slowest metric through the rollups {worst:.1} ms (target ≤ 100 ms)");

    // 3. What a dashboard refresh would bill on BigQuery.
    let sizes = logical_sizes(&wh);
    let board = &project.spec.dashboards[0];
    let mut seen = BTreeSet::new();
    let (mut rolled_bytes, mut raw_bytes) = (0.0, 0.0);
    for panel in &board.panels {
        let key = format!("{}{:?}", panel.query.as_str(), panel.params);
        if !seen.insert(key) {
            continue;
        }
        let q = project.query(panel.query.as_str()).expect("panel query");
        let top = renderer.query(q).expect("renders").refs;
        rolled_bytes += billed(&leaves(&project, &renderer, &top, false), &sizes);
        raw_bytes += billed(&leaves(&project, &renderer, &top, true), &sizes);
    }
    let gb = |b: f64| b / 1e9;
    let usd = |b: f64| b / (1u64 << 40) as f64 * 6.25;
    println!(
        "a full refresh of dashboard `{}` ({} queries) on BigQuery, by table sizes:",
        board.name,
        seen.len()
    );
    println!(
        "  from the facts (baseline)            {:>10.2} GB  ${:.4} per refresh",
        gb(raw_bytes),
        usd(raw_bytes)
    );
    println!(
        "  through the rollups                  {:>10.2} GB  ${:.4} per refresh  (ratio {:.4})",
        gb(rolled_bytes),
        usd(rolled_bytes),
        rolled_bytes / raw_bytes
    );
}

/// The tables (and, unless inlined, materialized views) a query reads, through its views.
fn leaves(
    project: &Project,
    renderer: &Renderer,
    refs: &[String],
    inline_rollups: bool,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in refs {
        if let Some(v) = project.spec.views.iter().find(|v| v.name.as_str() == r) {
            let inner = renderer.view(v).expect("view").refs;
            out.extend(leaves(project, renderer, &inner, inline_rollups));
        } else if let Some(m) = project
            .spec
            .materialized_views
            .iter()
            .find(|m| m.name.as_str() == r)
            .filter(|_| inline_rollups)
        {
            let inner = renderer.materialized_view(m).expect("rollup").0.refs;
            out.extend(leaves(project, renderer, &inner, inline_rollups));
        } else {
            out.insert(r.clone());
        }
    }
    out
}

/// On-demand billing: every table read, at least 10 MB each.
fn billed(tables: &BTreeSet<String>, sizes: &BTreeMap<String, f64>) -> f64 {
    tables
        .iter()
        .map(|t| {
            sizes
                .get(t)
                .copied()
                .unwrap_or_default()
                .max(10.0 * 1024.0 * 1024.0)
        })
        .sum()
}

/// Each table's logical size by BigQuery's rules: 2 + length for strings, 16 for NUMERIC,
/// 1 for BOOL, 8 for the other scalars, nothing for NULL.
fn logical_sizes(wh: &Warehouse) -> BTreeMap<String, f64> {
    let mut columns: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut stmt = wh
        .conn
        .prepare(
            "SELECT table_name, column_name, data_type FROM information_schema.columns
             WHERE table_schema = 'retail_dw' ORDER BY table_name, ordinal_position",
        )
        .expect("columns");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .expect("columns");
    for row in rows {
        let (table, column, ty) = row.expect("column");
        columns.entry(table).or_default().push((column, ty));
    }
    columns
        .into_iter()
        .map(|(table, cols)| {
            let terms: Vec<String> = cols
                .iter()
                .map(|(c, ty)| {
                    let c = format!("\"{c}\"");
                    if ty == "VARCHAR" || ty == "BLOB" {
                        format!("coalesce(sum(2 + strlen({c}::VARCHAR)), 0)")
                    } else if ty.starts_with("DECIMAL") {
                        format!("16 * count({c})")
                    } else if ty == "BOOLEAN" {
                        format!("count({c})")
                    } else {
                        format!("8 * count({c})")
                    }
                })
                .collect();
            let sql = format!(
                "SELECT CAST({} AS DOUBLE) FROM \"retail_dw\".\"{table}\"",
                terms.join(" + ")
            );
            let bytes: f64 = wh.conn.query_row(&sql, [], |r| r.get(0)).expect("size");
            (table, bytes)
        })
        .collect()
}

/// Phase 1 (ingest with and without rollups, fresh targets of the same spec), then growth of
/// `dir` to about `sales_target` sales rows.
fn ingest_and_grow(dir: &Path, sales_target: u64) {
    let plain = tempfile::tempdir().expect("temp dir");
    bqflow(plain.path(), &["init", "."]);
    without_rollups(plain.path());
    bqflow(plain.path(), &["up"]);
    bqflow(dir, &["init", "."]);
    bqflow(dir, &["up"]);
    let baseline = generate(plain.path(), INGEST_EVENTS);
    let with = generate(dir, INGEST_EVENTS);
    drop(plain);
    let rate = |d: Duration| INGEST_EVENTS as f64 / d.as_secs_f64();
    println!("ingest, {INGEST_EVENTS} events:");
    println!(
        "  without rollups (baseline)           {:>10.0} events/s",
        rate(baseline)
    );
    println!(
        "  with the example's four rollups {:>10.0} events/s  (ratio {:.2}; target ≥ 200 000)",
        rate(with),
        rate(with) / rate(baseline)
    );

    let events = sales_target * 22 / 10;
    if events > INGEST_EVENTS {
        let took = generate(dir, events - INGEST_EVENTS);
        println!(
            "grew to ~{events} events in {:.0} s ({:.0} events/s with rollups)",
            took.as_secs_f64(),
            (events - INGEST_EVENTS) as f64 / took.as_secs_f64()
        );
    }
}
