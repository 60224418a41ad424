//! `up` and `teardown` of the example spec on the gcp target, with 100 ms of latency injected
//! on every request to every peer (bqemulator and gcp-storage-emulator behind proxies, the
//! Pub/Sub and Dataflow fakes). Reports wall time, requests and sequential request rounds,
//! beside a one-request-at-a-time baseline (`BQFLOW_CONCURRENCY=1`) measured in the same run.
//!
//! `cargo bench --bench gcp_provision [-- LATENCY_MS]` (default 100; starts the emulators).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gcp_fakes::{Config, DataflowTiming, Fakes, Faults, Service, Upstream};

fn emulators() -> (String, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/emulators");
    let out = Command::new(script)
        .arg("start")
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/emulators");
    assert!(out.status.success(), "scripts/emulators start failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .expect("export line")
            .to_string()
    };
    (var("BIGQUERY_EMULATOR_HOST"), var("STORAGE_EMULATOR_HOST"))
}

struct Figures {
    wall: Duration,
    requests: usize,
    rounds: usize,
    max_in_flight: usize,
}

fn run(dir: &Path, fakes: &Fakes, project: &str, concurrency: &str, args: &[&str]) -> Figures {
    fakes.clear_log();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(["--target", "gcp"])
        .args(args)
        .envs(fakes.env())
        .env("GOOGLE_CLOUD_PROJECT", project)
        .env("BQFLOW_CONCURRENCY", concurrency)
        .env("BQFLOW_POLL_MS", "100")
        .output()
        .expect("run bqflow");
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "bqflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = fakes.stats();
    Figures {
        wall,
        requests: stats.requests,
        rounds: stats.rounds,
        max_in_flight: stats.max_in_flight,
    }
}

fn main() {
    let latency: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let (bq, gcs) = emulators();
    let dir = tempfile::tempdir().expect("temp dir");
    let init = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .args(["init"])
        .arg(dir.path())
        .output()
        .expect("init");
    assert!(init.status.success());
    println!("up and teardown of the example spec, {latency} ms injected per request:");
    for (label, concurrency) in [
        ("concurrent (default)", "16"),
        ("one at a time (baseline)", "1"),
    ] {
        let project = format!("bqbench-{concurrency}-{}", std::process::id());
        let fakes = Fakes::start(Config {
            faults: Faults::none().with_latency(Duration::from_millis(latency)),
            dataflow: DataflowTiming {
                start: Some(Duration::from_millis(100)),
                drain: Some(Duration::from_millis(300)),
                cancel: Some(Duration::from_millis(100)),
            },
            upstreams: vec![
                Upstream::new("bigquery", &bq, Service::BigQuery),
                Upstream::new("storage", &gcs, Service::Storage),
            ],
            record_bodies: false,
            ..Config::new(&project)
        })
        .expect("fakes");
        let up = run(dir.path(), &fakes, &project, concurrency, &["up"]);
        let down = run(
            dir.path(),
            &fakes,
            &project,
            concurrency,
            &["teardown", "--yes"],
        );
        for (what, f) in [("up", &up), ("teardown", &down)] {
            println!(
                "  {what:<9} {label:<26} {:>6.2} s  {:>4} requests  {:>4} sequential rounds  max {:>2} in flight",
                f.wall.as_secs_f64(),
                f.requests,
                f.rounds,
                f.max_in_flight
            );
        }
    }
}
