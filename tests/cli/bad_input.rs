//! Bad input, as users write it: each case must fail with exit code 2, a message that names the
//! problem, its place (`file:line:col`, or the flag), no panic, and nothing half-created.

use crate::support::Project;

/// Where the error must point: the first line of `file` containing `line_with`, at the column
/// where `column_at` starts on that line (or only the line, when the parser reports the end).
struct At {
    file: &'static str,
    line_with: &'static str,
    column_at: Option<&'static str>,
}

fn at(file: &'static str, line_with: &'static str, column_at: &'static str) -> Option<At> {
    Some(At {
        file,
        line_with,
        column_at: Some(column_at),
    })
}

fn location(p: &Project, at: &At) -> String {
    let text = p.read(at.file);
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(at.line_with))
        .unwrap_or_else(|| panic!("`{}` not in {}", at.line_with, at.file));
    match at.column_at {
        Some(c) => {
            let col = line[..line
                .find(c)
                .unwrap_or_else(|| panic!("`{c}` not on line `{line}`"))]
                .chars()
                .count()
                + 1;
            format!("{}:{}:{col}", at.file, i + 1)
        }
        None => format!("{}:{}:", at.file, i + 1),
    }
}

struct Case {
    name: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    message: &'static [&'static str],
    at: Option<At>,
}

const SPEC: &str = "project.yaml";

fn spec_cases() -> Vec<Case> {
    vec![
        Case {
            name: "yaml syntax",
            file: SPEC,
            from: "clustering: [store_id, product_id]\n\n  - name: inventory_fact",
            to: "clustering: [store_id, product_id\n\n  - name: inventory_fact",
            message: &["error:"],
            at: None,
        },
        Case {
            name: "unknown key",
            file: SPEC,
            from: "    topic: sales-events\n    ack_deadline: 60s",
            to: "    topic: sales-events\n    ack_deadlin: 60s",
            message: &["unknown field `ack_deadlin`"],
            at: at(SPEC, "ack_deadlin:", "ack_deadlin"),
        },
        Case {
            name: "wrong type",
            file: SPEC,
            from: "  stores: 24",
            to: "  stores: many",
            message: &["expected a whole number"],
            at: at(SPEC, "stores: many", "many"),
        },
        Case {
            name: "invalid topic name",
            file: SPEC,
            from: "  - name: inventory-events\n    message_retention: 1d",
            to: "  - name: inventory-events\n    message_retention: 1d\n  - name: goog-events",
            message: &[
                "invalid topic name `goog-events`",
                "must not start with `goog`",
            ],
            at: at(SPEC, "goog-events", "goog-events"),
        },
        Case {
            name: "subscription to a missing topic",
            file: SPEC,
            from: "    topic: sales-events\n",
            to: "    topic: sale-events\n",
            message: &[
                "subscription `sales-events-to-bq` refers to topic `sale-events`",
                "did you mean `sales-events`?",
            ],
            at: at(SPEC, "topic: sale-events", "sale-events"),
        },
        Case {
            name: "pipeline into a missing table",
            file: SPEC,
            from: "    table: sales_fact\n",
            to: "    table: sales_facts\n",
            message: &[
                "pipeline `sales-ingest` refers to table `sales_facts`",
                "did you mean `sales_fact`?",
            ],
            at: at(SPEC, "table: sales_facts", "sales_facts"),
        },
        Case {
            name: "invalid dataset name",
            file: SPEC,
            from: "  name: retail_dw",
            to: "  name: retail-dw",
            message: &["invalid dataset name `retail-dw`", "not `-`"],
            at: at(SPEC, "name: retail-dw", "retail-dw"),
        },
        Case {
            name: "invalid label key",
            file: SPEC,
            from: "  team: retail-analytics",
            to: "  Team: retail-analytics",
            message: &["invalid label key `Team`", "lowercase"],
            at: at(SPEC, "Team:", "Team"),
        },
        Case {
            name: "reserved label",
            file: SPEC,
            from: "  team: retail-analytics",
            to: "  team: retail-analytics\n  managed-by: terraform",
            message: &["label `managed-by` is set by bqflow"],
            at: at(SPEC, "managed-by: terraform", "managed-by"),
        },
        Case {
            name: "duplicate view",
            file: SPEC,
            from: "  - { name: daily_sales, description: \"Sales per day\" }",
            to: "  - { name: daily_sales, description: \"Sales per day\" }\n  - { name: daily_sales }",
            message: &[
                "duplicate table or view `daily_sales`",
                "first declared at line",
            ],
            at: at(SPEC, "- { name: daily_sales }", "daily_sales"),
        },
        Case {
            name: "bad duration",
            file: SPEC,
            from: "    topic: sales-events\n    ack_deadline: 60s",
            to: "    topic: sales-events\n    ack_deadline: 60 parsecs",
            message: &["invalid duration `60 parsecs`"],
            at: at(SPEC, "60 parsecs", "60 parsecs"),
        },
        Case {
            name: "duration out of range",
            file: SPEC,
            from: "    topic: sales-events\n    ack_deadline: 60s",
            to: "    topic: sales-events\n    ack_deadline: 20m",
            message: &["ack_deadline `20m` is out of range", "between 10s and 10m"],
            at: at(SPEC, "ack_deadline: 20m", "20m"),
        },
        Case {
            name: "unset environment variable",
            file: SPEC,
            from: "  env: ${BQFLOW_ENV:-dev}",
            to: "  env: ${BQFLOW_TEST_UNSET_VARIABLE}",
            message: &["environment variable `BQFLOW_TEST_UNSET_VARIABLE` is not set"],
            at: at(SPEC, "BQFLOW_TEST_UNSET_VARIABLE", "${"),
        },
        Case {
            name: "partition on a string column",
            file: SPEC,
            from: "    partitioning: { field: timestamp, granularity: DAY }\n    clustering: [store_id, product_id]\n\n  - name: inventory_fact",
            to: "    partitioning: { field: store_id, granularity: DAY }\n    clustering: [store_id, product_id]\n\n  - name: inventory_fact",
            message: &["cannot partition on `store_id`", "not TIMESTAMP"],
            at: at(SPEC, "field: store_id", "store_id,"),
        },
        Case {
            name: "cluster on a missing column",
            file: SPEC,
            from: "    clustering: [store_id, product_id]\n\n  - name: inventory_fact",
            to: "    clustering: [store_id, sku]\n\n  - name: inventory_fact",
            message: &["the clustering of table `sales_fact` refers to column `sku`"],
            at: at(SPEC, "[store_id, sku]", "sku"),
        },
        Case {
            name: "view without a template",
            file: SPEC,
            from: "  - { name: daily_sales, description: \"Sales per day\" }",
            to: "  - { name: daily_sales, description: \"Sales per day\" }\n  - { name: mystery_metric }",
            message: &["template `templates/views/mystery_metric.sql` does not exist"],
            at: at(SPEC, "mystery_metric", "mystery_metric"),
        },
        Case {
            name: "undefined name in a template",
            file: "templates/views/daily_sales.sql",
            from: "  SUM(r.sales) AS sales,",
            to: "  {{ sales_count }} AS sales,",
            message: &["undefined"],
            at: at(
                "templates/views/daily_sales.sql",
                "sales_count",
                "sales_count",
            ),
        },
        Case {
            name: "ref to a missing table in a template",
            file: "templates/materialized_views/sales_by_minute.sql",
            from: "ref(\"sales_fact\")",
            to: "ref(\"sales_facts\")",
            message: &[
                "no table or view named `sales_facts`",
                "did you mean `sales_fact`?",
            ],
            at: at(
                "templates/materialized_views/sales_by_minute.sql",
                "sales_facts",
                "ref(",
            ),
        },
        Case {
            name: "a materialized view with an aggregate that cannot be merged",
            file: "templates/materialized_views/sales_by_store_product.sql",
            from: "  SUM(s.quantity) AS units,",
            to: "  AVG(s.quantity) AS units,",
            message: &[
                "materialized view `sales_by_store_product` cannot be kept up to date incrementally",
                "AVG cannot be merged batch by batch: keep SUM and COUNT",
            ],
            at: at(
                "templates/materialized_views/sales_by_store_product.sql",
                "AVG(s.quantity)",
                "AVG",
            ),
        },
        Case {
            name: "a materialized view with a window function",
            file: "templates/materialized_views/stock_by_store_product.sql",
            from: "  MAX(i.timestamp) AS last_movement",
            to: "  MAX(i.timestamp) AS last_movement,\n  RANK() OVER (ORDER BY i.store_id) AS store_rank",
            message: &["RANK(…) OVER is a window function"],
            at: at(
                "templates/materialized_views/stock_by_store_product.sql",
                "RANK()",
                "RANK",
            ),
        },
        Case {
            name: "unknown region",
            file: SPEC,
            from: "    region: us-central1",
            to: "    region: us-centrall",
            message: &[
                "unknown region `us-centrall`",
                "did you mean `us-central1`?",
            ],
            at: at(SPEC, "us-centrall", "us-centrall"),
        },
        Case {
            name: "unknown column type",
            file: SPEC,
            from: "      - { name: quantity, type: INT64, mode: REQUIRED }",
            to: "      - { name: quantity, type: INTEGRAL, mode: REQUIRED }",
            message: &["INTEGRAL"],
            at: at(SPEC, "INTEGRAL", "INTEGRAL"),
        },
        Case {
            name: "generator stream to a missing topic",
            file: SPEC,
            from: "    sales: sales-events",
            to: "    sales: sales-stream",
            message: &["generator.streams refers to topic `sales-stream`"],
            at: at(SPEC, "sales: sales-stream", "sales-stream"),
        },
        Case {
            name: "parameter default of the wrong type",
            file: SPEC,
            from: "type: BOOL, default: \"true\" }",
            to: "type: BOOL, default: \"maybe\" }",
            message: &["default of parameter `alerts_only`", "not a BOOL"],
            at: at(SPEC, "\"maybe\"", "\"maybe\""),
        },
        Case {
            name: "duplicate yaml key",
            file: SPEC,
            from: "name: blackfriday\n",
            to: "name: blackfriday\nname: cybermonday\n",
            message: &["duplicate"],
            at: None,
        },
        Case {
            name: "a required column the generator never writes",
            file: SPEC,
            from: "      - { name: store_id, type: STRING, mode: REQUIRED }\n    partitioning: { field: timestamp, granularity: DAY }\n    clustering: [store_id, product_id]\n\n  - name: inventory_fact",
            to: "      - { name: store_id, type: STRING, mode: REQUIRED }\n      - { name: coupon, type: STRING, mode: REQUIRED }\n    partitioning: { field: timestamp, granularity: DAY }\n    clustering: [store_id, product_id]\n\n  - name: inventory_fact",
            message: &["column `coupon` of `sales_fact` is REQUIRED, but sale events never set it"],
            at: at(SPEC, "name: coupon", "coupon"),
        },
        Case {
            name: "a misspelt ref on the first line of a multi-line query",
            file: SPEC,
            from: "      SELECT * FROM {{ ref(\"top_products\") }}\n",
            to: "      SELECT * FROM {{ ref(\"top_prodcts\") }}\n",
            message: &[
                "no table or view named `top_prodcts`",
                "did you mean `top_products`?",
            ],
            at: at(SPEC, "ref(\"top_prodcts\")", "ref("),
        },
        Case {
            name: "parameter used in a view",
            file: "templates/views/daily_sales.sql",
            from: "GROUP BY 1",
            to: "HAVING COUNT(*) > {{ param(\"min\") }}\nGROUP BY 1",
            message: &["views cannot take parameters"],
            at: at("templates/views/daily_sales.sql", "param(", "param("),
        },
    ]
}

#[test]
fn bad_specs_and_templates_fail_with_location_and_create_nothing() {
    let cases = spec_cases();
    assert!(cases.len() >= 20);
    for case in cases {
        eprintln!("case: {}", case.name);
        let p = Project::example();
        p.edit(case.file, case.from, case.to);
        let done = p.run().args(&["up"]).code(2);
        done.clean_error().stderr_has(case.message);
        if let Some(at) = &case.at {
            let loc = location(&p, at);
            assert!(
                done.stderr.contains(&loc),
                "{}: expected location {loc} in:\n{}",
                case.name,
                done.stderr
            );
        } else {
            assert!(
                done.stderr.contains("project.yaml:"),
                "{}: no location in:\n{}",
                case.name,
                done.stderr
            );
        }
        assert!(
            !p.path().join(".bqflow").exists(),
            "{}: `up` created something from a bad spec",
            case.name
        );
        // validate reports the same problem.
        p.run().args(&["validate"]).code(2).stderr_has(case.message);
    }
}

#[test]
fn bad_flags_name_the_flag() {
    let p = Project::example();
    let cases: &[(&[&str], &[&str])] = &[
        (&["generate", "--rate", "0"], &["--rate", "not a rate"]),
        (&["generate", "--rate", "fast"], &["--rate", "not a rate"]),
        (
            &["generate", "--malformed", "1.5"],
            &["--malformed", "from 0 to 1"],
        ),
        (
            &["generate", "--duration", "soon"],
            &["--duration", "not a duration"],
        ),
        (&["generate", "--count", "0"], &["--count"]),
        (
            &["generate", "--clock", "wall", "--speed", "10"],
            &["--speed and --start drive the simulated clock"],
        ),
        (
            &["generate", "--start", "yesterday"],
            &["--start", "not a time"],
        ),
        (
            &["query", "top-prodcts"],
            &[
                "no query named `top-prodcts`",
                "did you mean `top-products`?",
            ],
        ),
        (
            &["query", "top-products", "-p", "top=ten"],
            &["--param top", "not an INT64"],
        ),
        (
            &["query", "top-products", "-p", "nope=1"],
            &["--param `nope`", "no such parameter"],
        ),
        (
            &["query", "top-products", "-p", "top"],
            &["--param `top`", "NAME=VALUE"],
        ),
        (
            &["query", "revenue", "--format", "xml"],
            &["--format", "xml"],
        ),
        (&["--target", "aws", "status"], &["--target", "aws"]),
        (
            &["-f", "missing.yaml", "validate"],
            &["cannot read spec missing.yaml", "no such file"],
        ),
        (&["teardown"], &["needs confirmation", "--yes"]),
        (&["frobnicate"], &["unrecognized subcommand"]),
        // Extremes are refused with the limit, not overflowed into a panic.
        (
            &["generate", "--speed", "1e-300", "--count", "10"],
            &["--speed", "from 0.001 to 1000000000"],
        ),
        (
            &["verify", "--wait", "10000000000years"],
            &["--wait", "366 days"],
        ),
        (
            &["teardown", "--yes", "--drain-timeout", "99999999999d"],
            &["--drain-timeout", "366 days"],
        ),
        (
            &["--project", "a/b:retail-prod", "-t", "gcp", "plan"],
            &["domain-scoped GCP project id"],
        ),
    ];
    p.ok(&["up"]);
    for (args, message) in cases {
        p.run().args(args).code(2).clean_error().stderr_has(message);
    }
}

#[test]
fn gcp_target_needs_a_project_and_says_where_to_set_it() {
    let p = Project::example();
    p.run()
        .args(&["--target", "gcp", "plan"])
        .code(2)
        .clean_error()
        .stderr_has(&["no GCP project", "--project", "GOOGLE_CLOUD_PROJECT"]);
    p.run()
        .args(&["--target", "gcp", "--project", "Bad_Project", "plan"])
        .code(2)
        .stderr_has(&["invalid GCP project id `Bad_Project` from --project"]);
}

/// Dashboards wrong in the spec, or wrong for their queries' columns: `validate` and
/// `dashboard` reject each with its place, before anything is served.
#[test]
fn bad_dashboards_fail_with_location() {
    let cases = [
        Case {
            name: "unknown query",
            file: SPEC,
            from: "{ title: Units sold, query: revenue,",
            to: "{ title: Units sold, query: revenu,",
            message: &[
                "panel `Units sold` refers to query `revenu`, which is not declared",
                "did you mean `revenue`?",
            ],
            at: at(SPEC, "title: Units sold", "revenu,"),
        },
        Case {
            name: "unknown column",
            file: SPEC,
            from: "value: total_revenue, format: money }",
            to: "value: total_revenu, format: money }",
            message: &[
                "query `revenue` has no column `total_revenu`",
                "did you mean `total_revenue`?",
            ],
            at: at(SPEC, "total_revenu,", "total_revenu,"),
        },
        Case {
            name: "a chart that does not fit the column types",
            file: SPEC,
            from: "        x: hour\n",
            to: "        x: hour_utc\n",
            message: &[
                "x axis needs a TIMESTAMP, DATE or number",
                "`hour_utc` is text",
            ],
            at: at(SPEC, "x: hour_utc", "hour_utc"),
        },
        Case {
            name: "a format that does not fit",
            file: SPEC,
            from: "label: category, y: revenue, format: money",
            to: "label: category, y: category, format: money",
            message: &["`y` must be a number", "`category` is text"],
            at: at(SPEC, "y: category", "category, format"),
        },
        Case {
            name: "duplicate panel",
            file: SPEC,
            from: "{ title: Units sold,",
            to: "{ title: Revenue,",
            message: &["duplicate panel `Revenue`"],
            at: at(
                SPEC,
                "{ title: Revenue, query: revenue, chart: tile, value: units",
                "Revenue",
            ),
        },
        Case {
            name: "refresh too fast",
            file: SPEC,
            from: "refresh: 5s",
            to: "refresh: 100ms",
            message: &["refresh `100ms` is out of range", "between 1s and 1h"],
            at: at(SPEC, "refresh: 100ms", "100ms"),
        },
        Case {
            name: "refresh not a duration",
            file: SPEC,
            from: "refresh: 5s",
            to: "refresh: often",
            message: &["invalid duration `often`"],
            at: None,
        },
        Case {
            name: "a mapping the chart needs",
            file: SPEC,
            from: "chart: bar, label: category, y: revenue",
            to: "chart: bar, y: revenue",
            message: &["a bar panel needs `label`"],
            at: at(SPEC, "chart: bar, y: revenue", "bar, y"),
        },
        Case {
            name: "a mapping the chart ignores",
            file: SPEC,
            from: "chart: tile, value: units, format: count }",
            to: "chart: tile, value: units, series: region, format: count }",
            message: &["`series` has no meaning for a tile panel"],
            at: at(SPEC, "series: region, format: count", "region, format"),
        },
        Case {
            name: "a parameter the query does not take",
            file: SPEC,
            from: "query: top-stores, params: { top: \"10\" }",
            to: "query: top-stores, params: { limit: \"10\" }",
            message: &["query `top-stores` has no parameter `limit`"],
            at: at(SPEC, "params: { limit:", "limit:"),
        },
    ];
    for case in cases {
        eprintln!("case: {}", case.name);
        let p = Project::example();
        p.edit(case.file, case.from, case.to);
        for command in [
            &["validate"][..],
            &["dashboard", "--export", "out.html"][..],
        ] {
            let done = p.run().args(command).code(2);
            done.clean_error().stderr_has(case.message);
            let expected = case
                .at
                .as_ref()
                .map_or("project.yaml:".to_string(), |at| location(&p, at));
            assert!(
                done.stderr.contains(&expected),
                "{}: expected location {expected} in:\n{}",
                case.name,
                done.stderr
            );
        }
        assert!(
            !p.path().join("out.html").exists(),
            "{}: exported anyway",
            case.name
        );
    }
}

/// `validate` runs every query over empty tables to learn its columns: never with the power
/// to read or write files (a spec arrives in a pull request, and CI validates it).
#[test]
fn validate_runs_spec_sql_without_file_access() {
    let p = Project::example();
    let secret = p.path().join("project.yaml");
    p.edit(
        SPEC,
        "  - name: daily-sales\n",
        &format!(
            "  - name: sneaky\n    sql: SELECT * FROM read_text('{}')\n  - name: daily-sales\n",
            secret.display()
        ),
    );
    p.run()
        .args(&["validate"])
        .code(2)
        .clean_error()
        .stderr_has(&["DuckDB rejects query `sneaky`", "disabled by configuration"]);
}

/// SQL from a spec stays a query: one SELECT, no second statement, no file or network access,
/// whichever command runs it (a spec arrives in a pull request; CI validates it).
#[test]
fn spec_sql_can_only_read() {
    let p = Project::example();
    p.ok(&["up"]);
    let written = p.path().join("written-by-the-spec.txt");
    p.edit(
        SPEC,
        "  - name: daily-sales\n",
        &format!(
            "  - name: two-statements\n    sql: SELECT 1; COPY (SELECT 'x') TO '{}'\n  - name: daily-sales\n",
            written.display()
        ),
    );
    for command in [&["validate"][..], &["query", "daily-sales"], &["up"]] {
        let done = p.run().args(command).code(2);
        done.clean_error().stderr_has(&[
            "query `two-statements` must be one SELECT (or WITH … SELECT) statement",
            "it holds 2 statements",
        ]);
        let loc = location(
            &p,
            &At {
                file: SPEC,
                line_with: "name: two-statements",
                column_at: None,
            },
        );
        // The sql: key is on the line after the name.
        let line: usize = loc.split(':').nth(1).unwrap().parse().unwrap();
        assert!(
            done.stderr
                .contains(&format!("project.yaml:{}:10", line + 1)),
            "{}",
            done.stderr
        );
    }
    assert!(!written.exists(), "a spec's SQL wrote a file");

    // A view that renders to something else than a query.
    let p = Project::example();
    p.write(
        "templates/views/daily_sales.sql",
        "ATTACH 'elsewhere.db' AS other",
    );
    p.run()
        .args(&["validate"])
        .code(2)
        .clean_error()
        .stderr_has(&[
            "view `daily_sales` must render to one SELECT",
            "it is an ATTACH statement",
            "templates/views/daily_sales.sql:1:1",
        ]);

    // Ad-hoc SQL: one SELECT, and no files outside the warehouse.
    let p = Project::example();
    p.ok(&["up"]);
    p.run()
        .args(&["query", "--sql", "INSTALL httpfs"])
        .code(2)
        .clean_error()
        .stderr_has(&["--sql must be one SELECT", "an INSTALL statement"]);
    let secret = p.path().join("project.yaml");
    p.run()
        .args(&[
            "query",
            "--sql",
            &format!("SELECT * FROM read_text('{}')", secret.display()),
        ])
        .code(1)
        .clean_error()
        .stderr_has(&["disabled by configuration"]);
}

/// Payloads that carry terminal escape sequences are shown inert: `␛` instead of ESC.
#[test]
fn a_dead_letter_payload_with_escape_sequences_prints_inert() {
    let p = Project::example();
    p.ok(&["up"]);
    p.ok(&[
        "generate",
        "--count",
        "3000",
        "--rate",
        "max",
        "--malformed",
        "0.2",
    ]);
    let raw = p.ok(&[
        "query",
        "--format",
        "json",
        "--sql",
        "SELECT payloadString FROM {{ ref(\"sales_fact_error_records\") }}",
    ]);
    assert!(
        raw.contains("\\u001b["),
        "the payloads carry escape sequences: {raw}"
    );
    for format in ["table", "csv"] {
        let shown = p.ok(&[
            "query",
            "--format",
            format,
            "--sql",
            "SELECT payloadString FROM {{ ref(\"sales_fact_error_records\") }}",
        ]);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{format}: {shown}"
        );
        assert!(shown.contains("␛[31mERROR"), "{format}: {shown}");
    }
}

/// A malformed `BQFLOW_*` knob is a usage error naming the variable, not a silent default.
#[test]
fn a_malformed_environment_knob_is_named() {
    let p = Project::example();
    p.run()
        .env("BQFLOW_RETRY_DEADLINE_MS", "2m")
        .args(&["status"])
        .code(2)
        .clean_error()
        .stderr_has(&["BQFLOW_RETRY_DEADLINE_MS=`2m`", "whole number"]);
}
