//! `plan`'s cost estimate for the example spec, against figures computed by hand from the
//! price table (src/cost/prices.rs), in both ingestion modes and at another `--rate`.

use super::support::Project;

/// (per hour, per month) of the first cost line whose text contains `what` after `resource`.
fn cost(plan: &str, resource: &str, what: &str) -> (f64, f64) {
    let line = plan
        .lines()
        .find(|l| l.trim_start().starts_with(resource) && l.contains(what))
        .unwrap_or_else(|| panic!("no cost line for {resource} with `{what}` in:\n{plan}"));
    let mut dollars = line
        .split('$')
        .skip(1)
        .filter_map(|s| s.split('/').next()?.trim().parse::<f64>().ok());
    (dollars.next().unwrap(), dollars.next().unwrap())
}

/// The monthly figure of the "`via: …` would cost $X/month" comparison line.
fn would_cost(plan: &str, pipeline: &str, via: &str) -> f64 {
    let needle = format!("pipeline {pipeline}: `via: {via}` would cost");
    let line = plan
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no `{needle}` in:\n{plan}"));
    line.split('$')
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= expected.abs() * 1e-3 + 0.006,
        "{what}: {actual} vs {expected} by hand"
    );
}

#[test]
fn plan_prices_workers_refreshes_and_both_ingestion_modes() {
    let p = Project::example();
    let plan = p.run().args(&["plan"]).code(3).stdout;
    assert!(plan.contains("Cost if deployed to gcp"), "{plan}");

    // Two n1-standard-2 workers (2 vCPU, 7.5 GB, 400 GB standard disk each), streaming rates:
    // 2 × (2 × 0.069 + 7.5 × 0.003557 + 400 × 0.000054) = 0.372555 $/hour.
    let (hour, month) = cost(&plan, "pipeline sales-ingest", "Dataflow workers");
    close(hour, 0.372555, "workers per hour");
    close(month, 0.372555 * 730.0, "workers per month");

    // A 5-minute refresh of a few MB bills the 10 MB minimum: 12 × 10 MiB per hour at
    // $6.25/TiB = 12 × 10 / 1048576 × 6.25 = 0.000715 $/hour.
    let (hour, _) = cost(
        &plan,
        "materialized view retail_dw.sales_by_store_product",
        "refresh every 5m",
    );
    close(hour, 12.0 * 10.0 / 1_048_576.0 * 6.25, "refresh");

    // Twice the rate: twice the publishing and the inserts, the same workers.
    let doubled = p.run().args(&["plan", "--rate", "1000"]).code(3).stdout;
    for (resource, what) in [
        ("topic sales-events", "Pub/Sub publish"),
        ("pipeline sales-ingest", "BigQuery streaming inserts"),
    ] {
        close(
            cost(&doubled, resource, what).0,
            2.0 * cost(&plan, resource, what).0,
            what,
        );
    }
    close(
        cost(&doubled, "pipeline sales-ingest", "Dataflow workers").0,
        0.372555,
        "workers at 1000/s",
    );

    // The comparison says what a BigQuery subscription would cost: the same bytes as
    // publishing, at $50/TiB instead of $40/TiB.
    let publish = cost(&plan, "topic sales-events", "Pub/Sub publish").1;
    let would = would_cost(&plan, "sales-ingest", "bigquery-subscription");
    close(
        would,
        publish * 50.0 / 40.0,
        "bigquery-subscription alternative",
    );

    // Switched over, the pipeline costs exactly that, and the comparison turns around.
    p.edit(
        "project.yaml",
        "    table: sales_fact\n    via: dataflow\n    dataflow: { max_workers: 2, machine_type: n1-standard-2 }",
        "    table: sales_fact\n    via: bigquery-subscription",
    );
    let switched = p.run().args(&["plan"]).code(3).stdout;
    let (_, month) = cost(&switched, "pipeline sales-ingest", "BigQuery subscription");
    close(month, would, "bigquery-subscription pipeline");
    // Without `dataflow:` settings Dataflow would run its default: one n1-standard-4 (4 vCPU,
    // 15 GB, 400 GB disk) = 4 × 0.069 + 15 × 0.003557 + 400 × 0.000054 = 0.350955 $/hour,
    // plus the same delivery and inserts as before.
    let dataflow_total: f64 = 0.350955 * 730.0
        + ["Pub/Sub delivery", "BigQuery streaming inserts"]
            .iter()
            .map(|what| cost(&plan, "pipeline sales-ingest", what).1)
            .sum::<f64>();
    let would = would_cost(&switched, "sales-ingest", "dataflow");
    close(would, dataflow_total, "dataflow alternative");
}
