//! `bqflow dashboard` on the local target: the page in a real browser, the page and `generate`
//! side by side, exports, and every way the spec or the flags can be wrong.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::Browser;
use crate::support::{Project, Running};

/// The example with a one-second refresh, provisioned, with a compressed day of events.
fn streamed() -> Project {
    let p = Project::example();
    p.edit("project.yaml", "refresh: 5s", "refresh: 1s");
    p.ok(&["up"]);
    p.ok(&["generate", "--speed", "20000", "--duration", "2s"]);
    p
}

/// Rows of a named query, as `bqflow query` returns them.
fn rows(p: &Project, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = p.ok(&all);
    serde_json::from_str::<Value>(&out)
        .expect("query JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn distinct(rows: &[Value], column: &str) -> usize {
    let mut seen: Vec<&Value> = rows.iter().map(|r| &r[column]).collect();
    seen.sort_by_key(|v| v.to_string());
    seen.dedup();
    seen.len()
}

/// Starts `dashboard --port 0` and returns it with its URL.
fn serve(p: &Project, extra: &[&str]) -> (Running, String) {
    let mut args = vec!["dashboard", "--port", "0"];
    args.extend_from_slice(extra);
    let mut dashboard = p.run().args(&args).spawn();
    let line = dashboard.wait_for_line("http://", Duration::from_secs(120));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_string();
    (dashboard, url)
}

/// What the page shows, read from the DOM by the page's own JavaScript context.
const COUNTS: &str = r#"(() => {
  const panel = title => [...document.querySelectorAll('section.panel')]
    .find(s => s.querySelector('h2').textContent === title);
  const count = (title, selector) => panel(title).querySelectorAll(selector).length;
  return {
    tiles: [...document.querySelectorAll('.kind-tile .tile-value')].map(t => t.textContent),
    hourly_points: count('Revenue per hour (UTC)', 'circle.point'),
    categories: count('Revenue by category', 'rect.bar'),
    heat_cells: Number(panel('Revenue by local hour and region').querySelector('svg').dataset.cells),
    segment_bars: count('Revenue by region, doorbusters vs regular', 'rect.bar'),
    best_sellers: count('Best sellers', 'rect.bar'),
    top_stores: count('Top stores', 'rect.bar'),
    alert_rows: count('Stock alerts', 'tbody tr'),
    red_rows: count('Stock alerts', 'tbody tr.hl-red'),
    sell_through_bars: count('Sell-through by product', 'rect.bar'),
    daily_rows: count('Daily sales', 'tbody tr'),
    failed: document.querySelectorAll('section.panel.failed').length,
    problem: document.querySelectorAll('#status .problem').length,
  };
})()"#;

#[test]
fn every_panel_renders_in_a_real_browser_and_updates_in_place() {
    let p = streamed();
    let hourly = rows(&p, &["hourly-sales"]);
    let categories = rows(&p, &["top-categories"]);
    let heat = rows(&p, &["local-hour-by-region"]);
    let segments = rows(&p, &["revenue-by-segment"]);
    let alerts = rows(&p, &["inventory-levels"]);
    let out_of_stock = alerts
        .iter()
        .take(40)
        .filter(|r| r["stock_status"] == "out_of_stock")
        .count();
    let daily = rows(&p, &["daily-sales"]);
    assert!(
        hourly.len() > 3 && !alerts.is_empty(),
        "the stream left too little data"
    );

    let (dashboard, url) = serve(&p, &[]);
    let mut browser = Browser::open(&url);
    // The page applied at least one refresh pushed by the server.
    browser.wait_until(
        "Number(document.body.dataset.updates || 0) >= 1",
        Duration::from_secs(60),
    );
    let shown = browser.eval(COUNTS);
    assert_eq!(shown["failed"], 0, "{shown}");
    assert_eq!(shown["problem"], 0, "{shown}");
    let tiles = shown["tiles"].as_array().expect("tiles");
    assert_eq!(tiles.len(), 4, "{shown}");
    assert!(
        tiles[0].as_str().unwrap().starts_with('$') && tiles[3].as_str().unwrap().ends_with('%'),
        "money and percent tiles: {shown}"
    );
    assert_eq!(shown["hourly_points"], hourly.len(), "{shown}");
    assert_eq!(shown["categories"], categories.len(), "{shown}");
    assert_eq!(shown["heat_cells"], heat.len(), "{shown}");
    // A bar per region, split into a segment per product segment present.
    let regions = distinct(&segments, "region");
    let pairs = segments
        .iter()
        .map(|r| (r["region"].to_string(), r["product_segment"].to_string()))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(
        shown["segment_bars"],
        regions * distinct(&segments, "product_segment"),
        "{shown}"
    );
    assert!(pairs <= regions * 2);
    assert_eq!(shown["best_sellers"], 10, "{shown}");
    assert_eq!(shown["top_stores"], 10, "{shown}");
    assert_eq!(shown["sell_through_bars"], 10, "{shown}");
    assert_eq!(shown["alert_rows"], alerts.len().min(40), "{shown}");
    assert_eq!(shown["red_rows"], out_of_stock, "{shown}");
    assert_eq!(shown["daily_rows"], daily.len().min(12), "{shown}");

    // More events: the revenue tile changes in place, without a reload.
    let before = tiles[0].as_str().unwrap().to_string();
    browser.eval("window.marker = 'same page'");
    p.ok(&["generate", "--count", "5000", "--rate", "max"]);
    browser.wait_until(
        &format!("document.querySelector('#p0 .tile-value').textContent !== {before:?}"),
        Duration::from_secs(60),
    );
    assert_eq!(
        browser.eval("window.marker"),
        "same page",
        "the page reloaded"
    );
    let delta = browser.eval("document.querySelector('#p0 .tile-delta').textContent");
    assert!(
        delta
            .as_str()
            .unwrap_or_default()
            .contains("since the last refresh"),
        "{delta}"
    );
    assert_eq!(browser.eval(COUNTS)["failed"], 0);
    drop(browser);
    let stopped = dashboard.interrupt();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
}

/// Reads the server-sent events of a dashboard as they come: (seconds since start, message).
fn read_events(url: &str, until: Duration) -> Vec<(f64, Value)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let started = Instant::now();
        let mut response = reqwest::Client::new()
            .get(format!("{url}events"))
            .send()
            .await
            .expect("open the event stream");
        let mut buffer = String::new();
        let mut messages = Vec::new();
        while started.elapsed() < until {
            let left = until.saturating_sub(started.elapsed());
            let Ok(Ok(Some(chunk))) = tokio::time::timeout(left, response.chunk()).await else {
                break;
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if !data.is_empty() {
                    let value = serde_json::from_str(&data).expect("event JSON");
                    messages.push((started.elapsed().as_secs_f64(), value));
                }
            }
        }
        messages
    })
}

/// "newest event <b>0.6 s ago</b>" → 0.6.
fn newest_age(status: &str) -> Option<f64> {
    let rest = status.split("newest event <b>").nth(1)?;
    let (number, unit) = rest.split_once(' ')?;
    unit.starts_with("s ago").then(|| number.parse().ok())?
}

/// A plain HTTP/1.0 GET with the given Host header: the raw answer.
fn get(url: &str, host: &str) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let request = format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[test]
fn generate_and_the_dashboard_run_together_with_fresh_data_and_no_errors() {
    let p = Project::example();
    p.edit("project.yaml", "refresh: 5s", "refresh: 1s");
    p.ok(&["up"]);
    let (_dashboard, url) = serve(&p, &[]);
    // Only requests addressed to the dashboard itself are answered (no DNS rebinding), and
    // the page may load nothing but its own stylesheet and script.
    let own = get(
        &url,
        url.trim_start_matches("http://").trim_end_matches('/'),
    );
    assert!(
        own.starts_with("HTTP/1.0 200") || own.starts_with("HTTP/1.1 200"),
        "{own}"
    );
    assert!(
        own.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'; script-src 'self'")
    );
    let foreign = get(&url, "attacker.example:80");
    assert!(foreign.contains(" 403 "), "{foreign}");
    let generate = p
        .run()
        .args(&["generate", "--rate", "3000", "--duration", "10s"])
        .spawn();
    let messages = read_events(&url, Duration::from_secs(11));
    let done = generate.finish();
    assert_eq!(
        done.code, 0,
        "generate failed beside the dashboard: {}",
        done.stderr
    );
    assert!(messages.len() >= 5, "too few refreshes: {}", messages.len());
    let mut checked = 0;
    for (at, m) in &messages {
        let status = m["status"].as_str().unwrap();
        assert!(!status.contains("class=\"problem"), "at {at:.1}s: {status}");
        let failed: Vec<&Value> = m["panels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["failed"] == true)
            .collect();
        assert!(failed.is_empty(), "at {at:.1}s: {failed:?}");
        // Once events flow (the first seconds set up the stream), they show within 2 s.
        if (3.0..9.0).contains(at) {
            let age = newest_age(status).unwrap_or_else(|| panic!("no age at {at:.1}s: {status}"));
            assert!(age <= 2.0, "newest event {age} s old at {at:.1}s");
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} refreshes while generating");
}

#[test]
fn export_writes_one_self_contained_page() {
    let p = streamed();
    let out = p.ok(&["dashboard", "--export", "report.html"]);
    assert!(out.contains("13 panels"), "{out}");
    let page = p.read("report.html");
    assert_eq!(page.matches("<section class=\"panel").count(), 13);
    assert_eq!(
        page.matches("<svg").count(),
        7,
        "the seven charts are inline SVG"
    );
    assert!(page.contains("<style>") && !page.contains("<script"));
    for external in ["http:", "https:", "src=", "href=", "url(", "@import"] {
        assert!(
            !page.contains(external),
            "the export refers outside itself: {external}"
        );
    }
    assert!(!std::path::Path::new(&p.path().join("report.html.partial")).exists());
}

#[test]
fn a_busy_port_and_a_public_bind_are_reported() {
    let p = Project::example();
    // Before `up` there is nothing to show: an error, not a page of errors.
    p.run()
        .args(&["dashboard", "--port", "0"])
        .code(1)
        .clean_error()
        .stderr_has(&["run `bqflow up` first"]);
    p.ok(&["up"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let done = p.run().args(&["dashboard", "--port", &port]).code(2);
    done.clean_error().stderr_has(&[
        &format!("port {port} on 127.0.0.1 is already in use"),
        "--port",
    ]);
    assert_eq!(done.stderr.trim().lines().count(), 1, "{}", done.stderr);

    let (dashboard, url) = serve(&p, &["--bind", "0.0.0.0"]);
    assert!(
        dashboard
            .stderr()
            .contains("warning: serving on 0.0.0.0: anyone who can reach this machine"),
        "{}",
        dashboard.stderr()
    );
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
    p.run().args(&["dashboard", "--bind", "localhost"]).code(2);
}

#[test]
fn a_warehouse_held_by_another_process_never_fails_generate() {
    let p = Project::example();
    p.ok(&["up"]);
    // A notebook or `duckdb` shell keeps the warehouse open longer than bqflow's lock timeout.
    let holder = duckdb::Connection::open(p.path().join(".bqflow/warehouse.duckdb")).expect("open");
    let done = p
        .run()
        .env("BQFLOW_LOCK_TIMEOUT_MS", "1500")
        .args(&["generate", "--count", "3000", "--rate", "1000"])
        .success();
    assert!(
        done.stdout.contains("loads with the next bqflow command")
            || done.stderr.contains("loads with the next bqflow command"),
        "{}\n{}",
        done.stdout,
        done.stderr
    );
    drop(holder);
    // Nothing was lost: the next command loads the sealed segments.
    let sales = p.scalar("SELECT count(*) FROM {{ ref(\"sales_fact\") }}");
    let inventory = p.scalar("SELECT count(*) FROM {{ ref(\"inventory_fact\") }}");
    let total: u64 = sales.parse::<u64>().unwrap() + inventory.parse::<u64>().unwrap();
    assert_eq!(total, 3000);
}

#[test]
fn looker_link_names_every_view_the_dashboard_reads() {
    let p = Project::example();
    let link = || {
        p.run()
            .env("GOOGLE_CLOUD_PROJECT", "my-shop")
            .args(&["--target", "gcp", "dashboard", "--looker"])
            .success()
            .stdout
    };
    let out = link();
    let url = out.trim();
    assert!(
        url.starts_with(
            "https://lookerstudio.google.com/reporting/create?r.reportName=Black%20Friday"
        ),
        "{url}"
    );
    for view in [
        "revenue_summary",
        "hourly_sales",
        "inventory_levels",
        "regional_hourly_sales",
    ] {
        assert!(
            url.contains(&format!("tableId={view}")),
            "{view} missing: {url}"
        );
    }
    assert!(url.contains("ds.ds0.connector=bigQuery&ds.ds0.type=TABLE&ds.ds0.projectId=my-shop"));
    // With a template, its id is the report to copy.
    p.edit(
        "project.yaml",
        "looker: { report_name",
        "looker: { template_report_id: 1a2b-3c4d, report_name",
    );
    assert!(link().contains("?c.reportId=1a2b-3c4d&r.reportName="));
    p.run()
        .args(&["dashboard", "--looker"])
        .code(2)
        .clean_error()
        .stderr_has(&["--target gcp"]);
    p.run()
        .args(&["dashboard", "no-such-board"])
        .code(2)
        .clean_error()
        .stderr_has(&[
            "no dashboard named `no-such-board`",
            "declared: black-friday",
        ]);
}

#[test]
fn a_query_that_fails_shows_its_error_in_its_own_panel_only() {
    let p = streamed();
    // Fine over empty tables (validate passes), fails once there are rows.
    p.edit(
        "project.yaml",
        "  - name: local-hour-by-region\n",
        "  - name: broken\n    sql: SELECT CAST(name AS {{ type(\"INT64\") }}) AS n FROM {{ ref(\"products_dim\") }}\n  - name: local-hour-by-region\n",
    );
    p.edit(
        "project.yaml",
        "      - { title: Units sold,",
        "      - { title: Broken, query: broken, chart: tile, value: n }\n      - { title: Units sold,",
    );
    p.ok(&["validate"]);
    let done = p
        .run()
        .args(&["dashboard", "--export", "report.html"])
        .code(1);
    assert!(
        done.stderr.contains("these panels show an error: Broken"),
        "{}",
        done.stderr
    );
    let page = p.read("report.html");
    assert_eq!(page.matches(" failed\" id=").count(), 1, "one failed panel");
    let broken = page.split("<h2>Broken</h2>").nth(1).unwrap();
    assert!(broken.contains("Query `broken` failed") && broken.contains("Conversion Error"));
    assert_eq!(
        page.matches("<svg").count(),
        7,
        "the other panels still draw"
    );
}

#[test]
fn a_reader_answers_while_a_large_backlog_is_still_loading() {
    let p = Project::example();
    p.ok(&["up"]);
    // A backlog: events sealed while another process kept the warehouse.
    let holder = duckdb::Connection::open(p.path().join(".bqflow/warehouse.duckdb")).expect("open");
    p.run()
        .env("BQFLOW_LOCK_TIMEOUT_MS", "500")
        .args(&[
            "generate",
            "--count",
            "1000000",
            "--rate",
            "max",
            "--clock",
            "simulated",
        ])
        .success();
    drop(holder);
    // A query loads for at most a second, then answers with what is loaded, and says so.
    let first = p
        .run()
        .args(&[
            "query",
            "--format",
            "csv",
            "--sql",
            "SELECT count(*) FROM {{ ref(\"sales_fact\") }}",
        ])
        .success();
    assert!(
        first.stderr.contains("still waiting to be loaded"),
        "{}",
        first.stderr
    );
    let partial: u64 = first.stdout.lines().nth(1).unwrap().parse().unwrap();
    // Nothing is lost: verify loads the rest and finds every event once.
    p.ok(&["verify"]);
    let all: u64 = p
        .scalar("SELECT count(*) FROM {{ ref(\"sales_fact\") }}")
        .parse()
        .unwrap();
    assert!(partial < all, "{partial} of {all}");
}
