//! The example dashboard over a large warehouse, through the real binary (release build):
//!
//! 1. refresh: one full refresh of every panel (`dashboard --export`: the "took" figure the page
//!    shows, and the command's wall time), beside the sum of the same queries run one by one
//!    through `bqflow query` — what a user would otherwise do;
//! 2. live: the dashboard served with a page open (refresh every second) for a few refreshes:
//!    each refresh's time and the process's peak memory (VmHWM), beside the peak memory of one
//!    `bqflow query` of the heaviest panel query;
//! 3. soak: `generate --rate 5000` and the dashboard (a page open, refresh every 2 s) side by
//!    side: generate's exit, refreshes with a problem or a failed panel, and the age of the
//!    newest event at each refresh (target within 2 s).
//!
//! `cargo bench --bench dashboard [-- SALES_ROWS [SOAK_SECONDS]]` (defaults 10 000 000 sales
//! rows — about 22 million events to generate first — and 600 s).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bqflow::dashboard::board;
use bqflow::spec::Project;
use bqflow::sql::{Dialect, Renderer};
use common::{bqflow, generate_max, serve_dashboard};
use serde_json::Value;

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sales_target = numbers.first().copied().unwrap_or(10_000_000);
    let soak_seconds = numbers.get(1).copied().unwrap_or(600);

    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    bqflow(dir, &["init", "."]);
    bqflow(dir, &["up"]);
    let events = sales_target * 22 / 10;
    let took = generate_max(dir, events);
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
    println!(
        "warehouse: {} sales rows ({events} events generated in {:.0} s)",
        sales.lines().nth(1).unwrap_or_default(),
        took.as_secs_f64()
    );
    let heaviest = refresh(dir);
    live(dir, &heaviest);
    soak(soak_seconds);
}

/// One full refresh, three times, beside the same queries one `bqflow query` at a time.
/// Returns the arguments of the slowest query.
fn refresh(dir: &Path) -> Vec<String> {
    let (mut took_s, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let start = Instant::now();
        bqflow(dir, &["dashboard", "--export", "report.html"]);
        wall.push(start.elapsed().as_secs_f64());
        let page = std::fs::read_to_string(dir.join("report.html")).expect("report");
        took_s.extend(took(&page));
    }
    let project = Project::load(&dir.join("project.yaml")).expect("spec");
    let renderer = Renderer::new(&project, Dialect::DuckDb, "").expect("renderer");
    let board = board::load(&project, &renderer, None).expect("board");
    let panels = &project.spec.dashboards[0].panels;
    let mut one_by_one = Vec::new();
    let mut heaviest = (0.0f64, Vec::new());
    for q in &board.queries {
        let mut args = vec!["query".to_string(), q.name.clone()];
        let panel = panels.iter().find(|p| p.query.as_str() == q.name);
        for (k, v) in panel.map(|p| &p.params).into_iter().flatten() {
            args.extend(["-p".to_string(), format!("{k}={v}")]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let runs = (0..3)
            .map(|_| {
                let start = Instant::now();
                bqflow(dir, &refs);
                start.elapsed().as_secs_f64()
            })
            .collect();
        let t = median(runs);
        if t > heaviest.0 {
            heaviest = (t, args.clone());
        }
        one_by_one.push((q.name.clone(), t));
    }
    let sum: f64 = one_by_one.iter().map(|(_, t)| t).sum();
    let refresh = median(took_s);
    println!(
        "full refresh of `{}` ({} panels, {} distinct queries), median of 3:",
        board.name,
        board.panels.len(),
        board.queries.len()
    );
    println!("  refresh (queries + drawing, as the page shows)  {refresh:>7.2} s  (target < 1 s)");
    println!(
        "  `dashboard --export` wall time                  {:>7.2} s",
        median(wall)
    );
    println!(
        "  baseline: the same queries via `bqflow query`   {sum:>7.2} s  (sum of {} commands)",
        one_by_one.len()
    );
    for (name, t) in &one_by_one {
        println!("    {name:<24} {t:>6.2} s");
    }
    println!(
        "  ratio refresh/baseline                          {:>7.2}",
        refresh / sum
    );
    heaviest.1
}

/// A page open on the served dashboard: the refresh loop's own times and its memory.
fn live(dir: &Path, heaviest: &[String]) {
    let spec = std::fs::read_to_string(dir.join("project.yaml")).unwrap();
    std::fs::write(
        dir.join("project.yaml"),
        spec.replacen("refresh: 5s", "refresh: 1s", 1),
    )
    .unwrap();
    let (mut server, url) = serve_dashboard(dir);
    let started = Instant::now();
    let mut times = Vec::new();
    // The first message is the startup refresh; the rest ran with the page open.
    read_events(&url, |message| {
        times.extend(took(message["status"].as_str().unwrap_or_default()));
        times.len() < 9 && started.elapsed() < Duration::from_secs(60)
    });
    let server_peak = peak_mb(server.id()).unwrap_or(f64::NAN);
    let _ = server.kill();
    let _ = server.wait();
    let live: Vec<f64> = times.into_iter().skip(1).collect();
    let heavy: Vec<&str> = heaviest.iter().map(String::as_str).collect();
    let query_peak = peak_of(dir, &heavy);
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
        "  baseline: `bqflow {}` peak memory {query_peak:>7.0} MB",
        heavy.join(" ")
    );
}

/// The dashboard and a steady generator side by side on a fresh project.
fn soak(seconds: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    bqflow(dir, &["init", "."]);
    let spec = std::fs::read_to_string(dir.join("project.yaml")).unwrap();
    std::fs::write(
        dir.join("project.yaml"),
        spec.replacen("refresh: 5s", "refresh: 2s", 1),
    )
    .unwrap();
    bqflow(dir, &["up"]);
    let (mut server, url) = serve_dashboard(dir);
    let duration = format!("{seconds}s");
    let mut generate = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(["generate", "--rate", "5000", "--duration", &duration])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("generate");
    let started = Instant::now();
    let (mut ages, mut problems, mut failed, mut refreshes) = (Vec::new(), 0, 0, 0);
    read_events(&url, |message| {
        refreshes += 1;
        let status = message["status"].as_str().unwrap_or_default();
        problems += usize::from(status.contains("class=\"problem"));
        failed += message["panels"]
            .as_array()
            .map_or(0, |p| p.iter().filter(|p| p["failed"] == true).count());
        // After the first seconds, while events flow.
        if started.elapsed() > Duration::from_secs(5)
            && let Some(age) = status
                .split("newest event <b>")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<f64>().ok())
        {
            ages.push(age);
        }
        started.elapsed() < Duration::from_secs(seconds)
    });
    let exit = generate.wait().expect("generate");
    let mut stderr = String::new();
    if let Some(mut e) = generate.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let _ = server.kill();
    let _ = server.wait();
    ages.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ages.get(((ages.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("soak: `generate --rate 5000` beside the dashboard for {seconds} s:");
    println!(
        "  generate                                        {}",
        if exit.success() {
            "exit 0".to_string()
        } else {
            format!(
                "FAILED ({exit}): {}",
                stderr.lines().last().unwrap_or_default()
            )
        }
    );
    println!(
        "  refreshes / with a problem / failed panels      {refreshes} / {problems} / {failed}"
    );
    println!(
        "  age of the newest event at a refresh            p50 {:.2} s  p99 {:.2} s  max {:.2} s  (target <= 2 s)",
        pct(0.5),
        pct(0.99),
        ages.last().copied().unwrap_or(f64::NAN)
    );
}

/// Feeds each server-sent refresh of the dashboard at `url` to `each` until it returns false
/// (or the stream stalls for 30 s).
fn read_events(url: &str, mut each: impl FnMut(&Value) -> bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut response = reqwest::Client::new()
            .get(format!("{url}events"))
            .send()
            .await
            .expect("event stream");
        let mut buffer = String::new();
        loop {
            let Ok(Ok(Some(chunk))) =
                tokio::time::timeout(Duration::from_secs(30), response.chunk()).await
            else {
                return;
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if let Ok(message) = serde_json::from_str::<Value>(&data)
                    && !each(&message)
                {
                    return;
                }
            }
        }
    });
}

/// "took 0.8 s" → 0.8, for every occurrence.
fn took(text: &str) -> Vec<f64> {
    text.split("took ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory of a running process, in MB (from /proc).
fn peak_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs a command to its end, sampling its peak memory (MB) until it exits.
fn peak_of(dir: &Path, args: &[&str]) -> f64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run bqflow");
    let mut peak = 0.0f64;
    while child.try_wait().expect("wait").is_none() {
        if let Some(mb) = peak_mb(child.id()) {
            peak = peak.max(mb);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    peak
}
