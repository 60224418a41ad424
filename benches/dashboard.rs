//! The example dashboard over a large warehouse, through the real binary (release build):
//!
//! 1. refresh: one full refresh of every panel (`dashboard --export`, the "took" figure the page
//!    shows, and the command's wall time), beside the sum of the same queries run one by one
//!    through `bqflow query` — what a user would otherwise do;
//! 2. live: the dashboard served with a page open (refresh every second) for a few refreshes:
//!    each refresh's time and the process's peak memory (VmHWM), beside the peak memory of one
//!    `bqflow query` of the heaviest panel.
//!
//! `cargo bench --bench dashboard [-- SALES_ROWS]` (default 10 000 000 sales rows, about
//! 22 million events to generate first).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bqflow::dashboard::board;
use bqflow::spec::Project;
use bqflow::sql::{Dialect, Renderer};

fn bqflow(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run bqflow");
    assert!(
        out.status.success(),
        "bqflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Peak resident memory of a running process, in MB (from /proc).
fn peak_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs a command to its end, sampling its peak memory; returns (seconds, peak MB).
fn measured(dir: &Path, args: &[&str]) -> (f64, f64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run bqflow");
    let mut peak = 0.0f64;
    loop {
        if let Some(mb) = peak_mb(child.id()) {
            peak = peak.max(mb);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (start.elapsed().as_secs_f64(), peak)
}

fn took(text: &str) -> Vec<f64> {
    text.split("took ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let events = (sales_target * 22 / 10).to_string();
    let start = Instant::now();
    bqflow(
        dir,
        &[
            "generate",
            "--rate",
            "max",
            "--clock",
            "simulated",
            "--count",
            &events,
        ],
    );
    let sales = bqflow(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "--sql",
            "SELECT count(*) FROM {{ ref(\"sales_fact\") }}",
        ],
    );
    let sales = sales.lines().nth(1).unwrap_or_default().to_string();
    println!(
        "warehouse: {sales} sales rows ({events} events generated in {:.0} s)",
        start.elapsed().as_secs_f64()
    );

    // 1. One full refresh, three times.
    let mut refresh = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        bqflow(dir, &["dashboard", "--export", "report.html"]);
        wall.push(start.elapsed().as_secs_f64());
        let page = std::fs::read_to_string(dir.join("report.html")).expect("report");
        refresh.extend(took(&page));
    }
    // The same queries (with the panels' parameters), one `bqflow query` each.
    let project = Project::load(&dir.join("project.yaml")).expect("spec");
    let renderer = Renderer::new(&project, Dialect::DuckDb, "").expect("renderer");
    let board = board::load(&project, &renderer, None).expect("board");
    let spec = &project.spec.dashboards[0];
    let mut one_by_one = Vec::new();
    let mut heaviest = (0.0f64, Vec::<String>::new());
    for q in &board.queries {
        let mut args = vec!["query".to_string(), q.name.clone()];
        let panel = spec.panels.iter().find(|p| p.query.as_str() == q.name);
        for (k, v) in panel.map(|p| &p.params).into_iter().flatten() {
            args.push("-p".into());
            args.push(format!("{k}={v}"));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut runs = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            bqflow(dir, &refs);
            runs.push(start.elapsed().as_secs_f64());
        }
        let t = median(runs);
        if t > heaviest.0 {
            heaviest = (t, args.clone());
        }
        one_by_one.push((q.name.clone(), t));
    }
    let sum: f64 = one_by_one.iter().map(|(_, t)| t).sum();
    println!(
        "full refresh of `{}` ({} panels, {} distinct queries), median of 3:",
        board.name,
        board.panels.len(),
        board.queries.len()
    );
    println!(
        "  refresh (queries + drawing, as the page shows)  {:>7.2} s  (target < 1 s)",
        median(refresh.clone())
    );
    println!(
        "  `dashboard --export` wall time                  {:>7.2} s",
        median(wall)
    );
    println!(
        "  baseline: the same queries via `bqflow query`   {:>7.2} s  (sum of {} commands)",
        sum,
        one_by_one.len()
    );
    for (name, t) in &one_by_one {
        println!("    {name:<24} {t:>6.2} s");
    }
    println!(
        "  ratio refresh/baseline                          {:>7.2}",
        median(refresh) / sum
    );

    // 2. Live, with a page open: the refresh loop's own times and the process's memory.
    bqflow(dir, &["validate"]);
    let spec_text = std::fs::read_to_string(dir.join("project.yaml")).unwrap();
    std::fs::write(
        dir.join("project.yaml"),
        spec_text.replacen("refresh: 5s", "refresh: 1s", 1),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(["dashboard", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("readiness line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let live: Vec<f64> = runtime.block_on(async {
        let mut response = reqwest::Client::new()
            .get(format!("{url}events"))
            .send()
            .await
            .expect("event stream");
        let mut text = String::new();
        let until = Instant::now() + Duration::from_secs(30);
        while took(&text).len() < 8 && Instant::now() < until {
            match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
        // The first message is the startup refresh; the rest ran with the page open.
        took(&text).into_iter().skip(1).collect()
    });
    let server_peak = peak_mb(server.id()).unwrap_or(0.0);
    let _ = server.kill();
    let _ = server.wait();
    let heavy: Vec<&str> = heaviest.1.iter().map(String::as_str).collect();
    let (_, query_peak) = measured(dir, &heavy);
    println!(
        "live, a page open, refresh every second ({} refreshes):",
        live.len()
    );
    println!(
        "  refresh time                                    median {:.2} s, max {:.2} s",
        median(live.clone()),
        live.iter().copied().fold(0.0, f64::max)
    );
    println!("  dashboard process peak memory (VmHWM)           {server_peak:>7.0} MB");
    println!(
        "  baseline: `bqflow {}` peak memory   {query_peak:>7.0} MB",
        heavy.join(" ")
    );
}
