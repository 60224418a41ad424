//! The local target end to end, as a user drives it: up → generate → query → teardown, with a
//! second terminal, a crash, malformed events and a changed spec.

use std::time::Duration;

use crate::support::Project;

#[test]
fn up_generate_query_teardown() {
    let p = Project::example();
    p.run().args(&["plan"]).code(3);
    p.ok(&["up"]);
    // Idempotent: nothing pending, and a second up changes nothing.
    let plan = p.run().args(&["plan"]).code(0).stdout;
    assert!(
        plan.contains("0 to create, 0 to update, 31 unchanged"),
        "{plan}"
    );
    p.ok(&["up"]);

    let out = p.ok(&[
        "generate",
        "--count",
        "30000",
        "--rate",
        "max",
        "--clock",
        "simulated",
    ]);
    assert!(out.contains("Generated 30000 events"), "{out}");
    let sales = p.assert_exactly_once("sales_fact", "transaction_id");
    let inventory = p.assert_exactly_once("inventory_fact", "event_id");
    assert_eq!(sales + inventory, 30000);

    // Every named metric runs and returns rows; the table says how many it printed.
    let list = p.ok(&["query", "--list"]);
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let json: serde_json::Value =
            serde_json::from_str(&p.ok(&["query", name, "--format", "json"])).unwrap();
        let rows = json.as_array().map_or(0, Vec::len);
        assert!(rows > 0, "{name} returned no rows");
        let table = p.ok(&["query", name]);
        let footer = if rows == 1 {
            "1 row".to_string()
        } else {
            format!("{rows} rows")
        };
        assert!(
            table.contains(&footer),
            "{name}: json has {rows} rows, table says:\n{table}"
        );
    }
    // The hourly metric has one row per hour that had sales.
    let hours = p.count(
        "SELECT count(DISTINCT date_trunc('hour', timestamp)) FROM {{ ref(\"sales_fact\") }}",
    );
    let hourly: serde_json::Value =
        serde_json::from_str(&p.ok(&["query", "hourly-sales", "--format", "json"])).unwrap();
    assert_eq!(hourly.as_array().unwrap().len() as u64, hours);
    // Parameters are bound: a category filter and a limit.
    let csv = p.ok(&[
        "query",
        "top-products",
        "-p",
        "category=Electronics",
        "-p",
        "top=3",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[1..].iter().all(|l| l.contains(",Electronics,")),
        "{csv}"
    );
    // A quote in a parameter is data, not SQL.
    let none = p.ok(&[
        "query",
        "top-products",
        "-p",
        "category=x' OR '1'='1",
        "--format",
        "csv",
    ]);
    assert_eq!(none.lines().count(), 1, "injection returned rows: {none}");
    let json: serde_json::Value =
        serde_json::from_str(&p.ok(&["query", "revenue", "--format", "json"])).unwrap();
    assert_eq!(json[0]["sales"], sales);

    let status = p.ok(&["status"]);
    assert!(
        status.contains("Resources: 31 of 31 exist") && status.contains("retail_dw.sales_fact"),
        "{status}"
    );

    p.ok(&["teardown", "--yes"]);
    assert!(!p.path().join(".bqflow").exists());
    p.run().args(&["plan"]).code(3);
    let err = p.run().args(&["query", "revenue"]).code(1).stderr;
    assert!(err.contains("run `bqflow up` first"), "{err}");
}

#[test]
fn the_data_is_plausible() {
    let p = Project::example();
    p.ok(&["up"]);
    p.ok(&[
        "generate",
        "--count",
        "120000",
        "--rate",
        "max",
        "--clock",
        "simulated",
    ]);
    // Revenue is the sum of quantity × unit price, exactly.
    let revenue = p.scalar("SELECT total_revenue FROM {{ ref(\"revenue_summary\") }}");
    let direct = p.scalar("SELECT sum(quantity * unit_price) FROM {{ ref(\"sales_fact\") }}");
    assert_eq!(revenue, direct);
    // Stock never goes below zero; an empty shelf shows as a recorded stock-out.
    assert_eq!(
        p.count("SELECT count(*) FROM {{ ref(\"inventory_levels\") }} WHERE on_hand < 0"),
        0
    );
    let below_zero_running = p.count("SELECT count(*) FROM (SELECT sum(quantity_change) OVER (PARTITION BY store_id, product_id ORDER BY timestamp, event_id \
         ROWS UNBOUNDED PRECEDING) AS level FROM {{ ref(\"inventory_fact\") }}) WHERE level < 0",
    );
    assert_eq!(below_zero_running, 0, "inventory went below zero");
    assert!(
        p.count("SELECT count(*) FROM {{ ref(\"inventory_fact\") }} WHERE reason = 'stockout'") > 0
    );
    // Sell-through is a share.
    assert_eq!(
        p.count("SELECT count(*) FROM {{ ref(\"sell_through\") }} WHERE sell_through < 0 OR sell_through > 1"
        ),
        0
    );
    // Sales peak when doors open (5–6 am local), above the later morning.
    let csv = p.ok(&["query", "local-hour", "--format", "csv"]);
    let by_hour: Vec<(u32, u64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap())
        })
        .collect();
    let (peak_hour, _) = by_hour.iter().max_by_key(|(_, n)| *n).unwrap();
    assert!((5..=6).contains(peak_hour), "peak at {peak_hour}: {csv}");
}

#[test]
fn malformed_events_are_dead_lettered_not_lost() {
    let p = Project::example();
    p.ok(&["up"]);
    let out = p.ok(&[
        "generate",
        "--count",
        "20000",
        "--rate",
        "max",
        "--malformed",
        "0.05",
    ]);
    let malformed: u64 = out
        .split(" malformed")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no malformed count in {out}"));
    assert!(malformed > 500, "{out}");
    let dead = p.count("SELECT count(*) FROM {{ ref(\"sales_fact_error_records\") }}")
        + p.count("SELECT count(*) FROM {{ ref(\"inventory_fact_error_records\") }}");
    assert_eq!(dead, malformed);
    let facts = p.assert_exactly_once("sales_fact", "transaction_id")
        + p.assert_exactly_once("inventory_fact", "event_id");
    assert_eq!(facts + malformed, 20000);
    // Each dead letter keeps the payload and says why.
    assert_eq!(
        p.count("SELECT count(*) FROM {{ ref(\"sales_fact_error_records\") }} WHERE payloadBytes IS NULL OR errorMessage IS NULL OR errorMessage = ''"
        ),
        0
    );
    let reasons = p.ok(&[
        "query",
        "--format",
        "csv",
        "--sql",
        "SELECT DISTINCT errorMessage FROM {{ ref(\"sales_fact_error_records\") }}",
    ]);
    assert!(
        reasons.contains("no such field") && reasons.contains("missing required field"),
        "{reasons}"
    );
}

#[test]
fn generate_and_query_work_side_by_side() {
    let p = Project::example();
    p.ok(&["up"]);
    let mut generate = p
        .run()
        .args(&["generate", "--rate", "3000", "--duration", "6s"])
        .spawn();
    // Sample for as long as generate runs (a slow machine takes fewer samples, not none).
    let mut seen = Vec::new();
    while generate.is_running() {
        seen.push(p.count("SELECT count(*) FROM {{ ref(\"sales_fact\") }}"));
        p.ok(&["status"]);
    }
    assert_eq!(generate.finish().code, 0);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "counts went backwards: {seen:?}"
    );
    assert!(
        seen.iter().any(|&n| n > 0) && seen.first() < seen.last(),
        "query never saw new events: {seen:?}"
    );
    p.assert_exactly_once("sales_fact", "transaction_id");
}

#[test]
fn a_killed_generator_loses_nothing_and_doubles_nothing() {
    let p = Project::example();
    p.ok(&["up"]);
    let mut generate = p.run().args(&["generate", "--rate", "20000"]).spawn();
    generate.wait_for_stderr("Generating into", Duration::from_secs(60));
    // SIGKILL (no chance to flush) once some events have landed.
    generate.wait_until("a sale landing", Duration::from_secs(60), || {
        p.count("SELECT count(*) FROM {{ ref(\"sales_fact\") }}") > 0
    });
    generate.kill();
    let before = p.assert_exactly_once("sales_fact", "transaction_id");
    assert!(before > 0, "nothing was sealed before the kill");
    // The next run resumes right after the last sealed event.
    let resumed = p
        .run()
        .args(&["generate", "--count", "5000", "--rate", "max"])
        .success();
    assert!(resumed.stderr.contains("Resuming"), "{}", resumed.stderr);
    let after = p.assert_exactly_once("sales_fact", "transaction_id");
    assert!(after > before);
    p.assert_exactly_once("inventory_fact", "event_id");
}

#[test]
fn a_second_generator_on_the_same_target_is_refused() {
    let p = Project::example();
    p.ok(&["up"]);
    let mut first = p.run().args(&["generate", "--rate", "100"]).spawn();
    first.wait_for_stderr("Generating into", Duration::from_secs(60));
    p.run()
        .args(&["generate", "--count", "10"])
        .code(2)
        .stderr_has(&["another `bqflow generate`"]);
    assert_eq!(first.interrupt().code, 130);
}

#[test]
fn same_seed_same_events() {
    let p = Project::example();
    let run = |seed: &str| {
        p.run()
            .args(&[
                "generate",
                "--output",
                "-",
                "--count",
                "3000",
                "--rate",
                "max",
                "--clock",
                "simulated",
                "--seed",
                seed,
            ])
            .success()
            .stdout
    };
    let (a, b, c) = (run("7"), run("7"), run("8"));
    assert_eq!(a.lines().count(), 3000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn plan_shows_drift_and_up_applies_what_can_change() {
    let p = Project::example();
    p.ok(&["up"]);
    p.edit(
        "templates/views/daily_sales.sql",
        "SUM(r.sales) AS sales,",
        "SUM(r.sales) AS sales_count,",
    );
    let plan = p.run().args(&["plan", "--diff"]).code(3).stdout;
    assert!(
        plan.contains("~ update        view retail_dw.daily_sales"),
        "{plan}"
    );
    assert!(plan.contains("+   SUM(r.sales) AS sales_count,"), "{plan}");
    p.ok(&["up"]);
    p.run().args(&["plan"]).code(0);
    let out = p.ok(&[
        "query",
        "--format",
        "csv",
        "--sql",
        "SELECT * FROM {{ ref(\"daily_sales\") }} LIMIT 0",
    ]);
    assert!(out.contains("sales_count"), "{out}");

    // A new nullable column is added in place; a partitioning change cannot be.
    p.edit("project.yaml", "      - { name: store_id, type: STRING, mode: REQUIRED }\n    partitioning: { field: timestamp, granularity: DAY }\n    clustering: [store_id, product_id]\n\n  - name: inventory_fact",
        "      - { name: store_id, type: STRING, mode: REQUIRED }\n      - { name: channel, type: STRING }\n    partitioning: { field: timestamp, granularity: HOUR }\n    clustering: [store_id, product_id]\n\n  - name: inventory_fact");
    let plan = p.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("! cannot change table retail_dw.sales_fact")
            && plan.contains("partitioning: DAY(timestamp) → HOUR(timestamp)"),
        "{plan}"
    );
    let err = p.run().args(&["up"]).code(1).stderr;
    assert!(err.contains("cannot be applied in place"), "{err}");
}

#[test]
fn teardown_leaves_what_bqflow_did_not_make() {
    let p = Project::example();
    p.ok(&["up"]);
    std::fs::write(p.path().join(".bqflow/notes.txt"), "mine").unwrap();
    // A topic folder from a renamed topic (only segments) goes; a folder of the user's stays.
    for (dir, file) in [("old-topic", "0001.seg"), ("exports", "report.csv")] {
        std::fs::create_dir_all(p.path().join(".bqflow/topics").join(dir)).unwrap();
        std::fs::write(p.path().join(".bqflow/topics").join(dir).join(file), "x").unwrap();
    }
    let out = p.ok(&["teardown", "--yes"]);
    assert!(out.contains("deleted topic old-topic"), "{out}");
    assert!(p.path().join(".bqflow/notes.txt").exists());
    assert!(p.path().join(".bqflow/topics/exports/report.csv").exists());
    assert!(!p.path().join(".bqflow/topics/old-topic").exists());
    assert!(!p.path().join(".bqflow/topics/sales-events").exists());
    assert!(!p.path().join(".bqflow/warehouse.duckdb").exists());
}

#[test]
fn ctrl_c_flushes_everything_and_prints_a_summary() {
    let p = Project::example();
    p.ok(&["up"]);
    let mut generate = p.run().args(&["generate", "--rate", "2000"]).spawn();
    generate.wait_for_stderr("Generating into", Duration::from_secs(60));
    generate.wait_until("a thousand sales landing", Duration::from_secs(60), || {
        p.count("SELECT count(*) FROM {{ ref(\"sales_fact\") }}") > 1000
    });
    let out = generate.interrupt();
    let stdout = out.stdout;
    assert_eq!(out.code, 130, "{stdout}");
    let total: u64 = stdout
        .split("Interrupted after ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    assert!(total > 1000, "{stdout}");
    let facts = p.assert_exactly_once("sales_fact", "transaction_id")
        + p.assert_exactly_once("inventory_fact", "event_id");
    assert_eq!(
        facts, total,
        "every event counted in the summary is in the warehouse"
    );
}

/// The README's first command: provisions, streams, and prints every named query with rows.
#[test]
fn the_demo_prints_every_metric() {
    let p = Project::example();
    let out = p.ok(&["demo", "--duration", "2s", "--rows", "3"]);
    let queries = p.ok(&["query", "--list"]);
    let names: Vec<&str> = queries
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 10, "query --list: {queries}");
    for name in names {
        // The header line is the name, then nothing or its description (not a longer name).
        let header = format!("bqflow query {name}");
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == header || l.starts_with(&format!("{header} — ")))
            .unwrap_or_else(|| panic!("demo printed no `{header}`:\n{out}"));
        // The table after the header has a data row: more than its border and column lines.
        let table: Vec<&str> = lines[at + 1..]
            .iter()
            .copied()
            .take_while(|l| !l.is_empty())
            .collect();
        assert!(
            table.len() >= 5,
            "`{name}` printed no rows:\n{}",
            table.join("\n")
        );
    }
    // It ends by pointing at the dashboard, and leaves a working target behind, as it says.
    assert!(out.contains("`bqflow dashboard`"), "{out}");
    let sales = p.count("SELECT count(*) FROM {{ ref(\"sales_fact\") }}");
    assert!(sales > 100, "{sales} sales after the demo");
    // A second demo starts clean instead of adding to the first.
    let again = p
        .run()
        .args(&["demo", "--duration", "1s", "--rows", "1"])
        .success();
    assert!(again.stderr.contains("Resetting"), "{}", again.stderr);
    assert!(
        again.stdout.contains("bqflow query revenue"),
        "{}",
        again.stdout
    );
}

/// As `bq query --dataset_id` does: unqualified names in ad-hoc SQL are the spec's dataset.
#[test]
fn adhoc_sql_resolves_unqualified_names_in_the_dataset() {
    let p = Project::example();
    p.ok(&["up"]);
    p.ok(&["generate", "--count", "500", "--rate", "max"]);
    let plain = p.scalar("SELECT count(*) FROM sales_fact");
    assert_eq!(
        plain,
        p.scalar("SELECT count(*) FROM {{ ref(\"sales_fact\") }}")
    );
    assert!(plain.parse::<u64>().unwrap() > 0);
}

/// `verify` checks every generator run the warehouse recorded, by seed, without being told
/// the seeds: a row lost from an earlier run with another seed is found.
#[test]
fn verify_checks_every_recorded_run_without_being_told_the_seed() {
    let p = Project::example();
    p.ok(&["up"]);
    for seed in ["7", "8"] {
        p.ok(&[
            "generate", "--seed", seed, "--count", "600", "--rate", "max",
        ]);
    }
    let all = p.ok(&["verify"]);
    let rows = |out: &str, seed: &str| {
        out.lines()
            .filter(|l| l.contains("_fact") && l.trim_end_matches(['│', ' ']).ends_with(seed))
            .count()
    };
    assert_eq!((rows(&all, "7"), rows(&all, "8")), (2, 2), "{all}");
    {
        let db = duckdb::Connection::open(p.path().join(".bqflow/warehouse.duckdb")).unwrap();
        let deleted = db
            .execute(
                "DELETE FROM retail_dw.sales_fact WHERE transaction_id = 'T7-0000000005'",
                [],
            )
            .unwrap();
        assert_eq!(deleted, 1);
    }
    let lost = p.run().args(&["verify"]).code(1);
    assert!(
        lost.stderr.contains("1 acknowledged events are missing"),
        "{}\n{}",
        lost.stdout,
        lost.stderr
    );
    // Asked for one seed only, the other run is not checked.
    p.ok(&["verify", "--seed", "8"]);
}

/// Every rollup equals its own SQL run over the facts, after several generate runs, a
/// `kill -9` in the middle of one and a replay (docs/materialized-views.md). Since the views
/// are functions of the rollups, every metric then equals its value from the raw facts.
#[test]
fn rollups_equal_their_sql_over_the_facts() {
    let p = Project::example();
    p.ok(&["up"]);
    // Simulated time, so the events span many of the day's hours.
    let simulated = ["--clock", "simulated"];
    p.run()
        .args(&["generate", "--count", "4000", "--rate", "max"])
        .args(&simulated)
        .success();
    let count = || {
        let sql = "SELECT COUNT(*) AS n FROM {{ ref(\"sales_fact\") }}";
        let out = p.ok(&["query", "--sql", sql, "--format", "csv"]);
        out.lines().nth(1).unwrap_or("0").parse::<u64>().unwrap()
    };
    let before = count();
    let mut crashing = p
        .run()
        .args(&["generate", "--rate", "20000"])
        .args(&simulated)
        .spawn();
    crashing.wait_for_stderr("Generating into", Duration::from_secs(60));
    // Killed once more rows have landed (a reader loads them too, folding concurrently).
    crashing.wait_until("new sales landing", Duration::from_secs(60), || {
        count() > before
    });
    crashing.kill();
    let resumed = p
        .run()
        .args(&["generate", "--count", "4000", "--rate", "max"])
        .args(&simulated)
        .success();
    assert!(resumed.stderr.contains("Resuming"), "{}", resumed.stderr);
    for rollup in [
        "sales_by_store_product",
        "sales_by_store_hour",
        "sales_by_minute",
        "stock_by_store_product",
    ] {
        let own_sql = p.read(&format!("templates/materialized_views/{rollup}.sql"));
        let stored = format!("SELECT * FROM {{{{ ref(\"{rollup}\") }}}}");
        let compare = format!(
            "SELECT (SELECT COUNT(*) FROM ({stored} EXCEPT ALL ({own_sql}\n)) AS a)
                  + (SELECT COUNT(*) FROM (({own_sql}\n) EXCEPT ALL {stored}) AS b) AS differing,
                    (SELECT COUNT(*) FROM ({stored}) AS c) AS groups"
        );
        let out = p.ok(&["query", "--sql", &compare, "--format", "csv"]);
        let row: Vec<&str> = out.lines().nth(1).expect("one row").split(',').collect();
        assert_eq!(
            row[0], "0",
            "{rollup} differs from its SQL over the facts: {out}"
        );
        assert!(
            row[1].parse::<u64>().unwrap() > 0,
            "{rollup} is empty: {out}"
        );
    }
    p.assert_exactly_once("sales_fact", "transaction_id");
    // So every metric is the same read through the rollups or computed from the facts.
    let names: Vec<String> = p
        .ok(&["query", "--list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert!(names.len() >= 10);
    for name in names {
        let rollups = p.ok(&["query", &name, "--format", "csv"]);
        let facts = p.ok(&["query", &name, "--format", "csv", "--from-facts"]);
        assert_eq!(rollups, facts, "metric `{name}` differs from the facts");
        assert!(rollups.lines().count() > 1, "metric `{name}` is empty");
    }
}

/// Locally `plan --explain` shows the DuckDB statements and folders `up` makes, in its order.
#[test]
fn plan_explain_shows_what_up_runs_locally() {
    let p = Project::example();
    let plan = p.run().args(&["plan", "--explain"]).code(3).stdout;
    for expected in [
        "mkdir -p .bqflow/topics/sales-events",
        "CREATE SCHEMA IF NOT EXISTS \"retail_dw\";",
        "CREATE TABLE \"retail_dw\".\"sales_fact\" (",
        "CREATE TABLE \"retail_dw\".\"sales_by_store_product\" AS",
        "CREATE OR REPLACE VIEW \"retail_dw\".\"hourly_sales\" AS",
    ] {
        assert!(plan.contains(expected), "no `{expected}` in:\n{plan}");
    }
    p.ok(&["up"]);
    let after = p.run().args(&["plan", "--explain"]).code(0).stdout;
    assert!(!after.contains("By hand"), "{after}");
}

/// A rollup whose SQL changes is rebuilt from the facts by `up` (derived data: nothing is
/// lost), and then equals its new SQL.
#[test]
fn a_changed_rollup_is_rebuilt_from_the_facts() {
    let p = Project::example();
    p.ok(&["up"]);
    p.ok(&[
        "generate",
        "--count",
        "6000",
        "--rate",
        "max",
        "--clock",
        "simulated",
    ]);
    p.edit(
        "templates/materialized_views/sales_by_store_product.sql",
        "MAX(s.timestamp) AS newest_sale",
        "MAX(s.timestamp) AS newest_sale,\n  MIN(s.timestamp) AS first_sale",
    );
    let plan = p.run().args(&["plan", "--explain"]).code(3).stdout;
    assert!(
        plan.contains("-/+ replace       materialized view retail_dw.sales_by_store_product")
            && plan.contains("DROP TABLE \"retail_dw\".\"sales_by_store_product\";"),
        "{plan}"
    );
    let up = p.ok(&["up"]);
    assert!(up.contains("rebuilt from its tables"), "{up}");
    p.run().args(&["plan"]).code(0);
    let sql = "SELECT COUNT(*) AS n FROM {{ ref(\"sales_by_store_product\") }} AS r
               JOIN (SELECT store_id, product_id, MIN(timestamp) AS first_sale
                     FROM {{ ref(\"sales_fact\") }} GROUP BY 1, 2) AS f
               ON f.store_id = r.store_id AND f.product_id = r.product_id
               WHERE f.first_sale IS DISTINCT FROM r.first_sale";
    assert_eq!(p.count(sql), 0, "the rebuilt rollup's new column is wrong");
    // Loads after the rebuild fold into the new column too.
    p.ok(&[
        "generate",
        "--count",
        "3000",
        "--rate",
        "max",
        "--clock",
        "simulated",
    ]);
    assert_eq!(p.count(sql), 0);
}
