//! `generate --target gcp` against the loopback Pub/Sub fake (release build of the real
//! binary), each figure beside a baseline from the same run:
//!
//! 1. throughput: batched publishing (1 000 messages per request, 16 in flight) vs one message
//!    per request;
//! 2. rate accuracy: `--rate 500` and `--rate 20000` over a duration (default 60 s each);
//! 3. loss: 10 % of publish requests failing (429, 503, resets, lost responses): every event
//!    must be stored at least once; duplicates are counted.
//!
//! `cargo bench --bench publish [-- SECONDS]`

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gcp_fakes::{Config, Fakes, FaultKind, FaultRule, Faults};

fn create_topics(fakes: &Fakes, project: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for t in ["sales-events", "inventory-events"] {
            let url = format!("{}/v1/projects/{project}/topics/{t}", fakes.pubsub_url());
            let status = reqwest::Client::new()
                .put(url)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success());
        }
    });
}

/// Runs `generate`; returns (wall time, stdout).
fn generate(
    dir: &Path,
    fakes: &Fakes,
    project: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(["--target", "gcp", "generate"])
        .args(args)
        .envs(fakes.env())
        // Only Pub/Sub is called; the other services just need an endpoint that answers.
        .env("BIGQUERY_EMULATOR_HOST", fakes.pubsub_url())
        .env("STORAGE_EMULATOR_HOST", fakes.pubsub_url())
        .env("GOOGLE_CLOUD_PROJECT", project)
        .envs(env.iter().copied())
        .output()
        .expect("run bqflow");
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "generate {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (elapsed, stdout)
}

/// The `(N/s)` figure of generate's summary line.
fn reported_rate(stdout: &str) -> f64 {
    stdout
        .split("s (")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

fn fakes(project: &str, faults: Faults, keep: bool) -> Fakes {
    let f = Fakes::start(Config {
        faults,
        keep_messages: keep,
        record_bodies: false,
        ..Config::new(project)
    })
    .expect("fakes");
    create_topics(&f, project);
    f
}

fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    assert!(
        Command::new(env!("CARGO_BIN_EXE_bqflow"))
            .arg("init")
            .arg(dir.path())
            .status()
            .unwrap()
            .success()
    );
    let dir = dir.path();
    let pid = std::process::id();

    // 1. Throughput.
    let project = format!("bqpub-a-{pid}");
    let f = fakes(&project, Faults::none(), false);
    let n = 1_000_000u64;
    let (wall, out) = generate(
        dir,
        &f,
        &project,
        &[],
        &[
            "--rate",
            "max",
            "--count",
            &n.to_string(),
            "--clock",
            "simulated",
        ],
    );
    let batched = n as f64 / wall.as_secs_f64();
    assert!(out.contains("acknowledged by Pub/Sub"), "{out}");
    let project = format!("bqpub-b-{pid}");
    let f = fakes(&project, Faults::none(), false);
    let m = 20_000u64;
    let (wall_one, _) = generate(
        dir,
        &f,
        &project,
        &[("BQFLOW_PUBLISH_BATCH", "1")],
        &[
            "--rate",
            "max",
            "--count",
            &m.to_string(),
            "--clock",
            "simulated",
        ],
    );
    let single = m as f64 / wall_one.as_secs_f64();
    println!("publish throughput to the loopback Pub/Sub fake (whole command, wall clock):");
    println!(
        "  batched, 1000 per request     {batched:>10.0} messages/s  ({n} in {:.1} s)",
        wall.as_secs_f64()
    );
    println!(
        "  one per request (baseline)    {single:>10.0} messages/s  ({m} in {:.1} s)",
        wall_one.as_secs_f64()
    );
    println!(
        "  ratio                         {:>10.1}x",
        batched / single
    );

    // 2. Rate accuracy.
    println!("rate accuracy over {secs} s:");
    for rate in [500u64, 20_000] {
        let project = format!("bqpub-r{rate}-{pid}");
        let f = fakes(&project, Faults::none(), true);
        let (_, out) = generate(
            dir,
            &f,
            &project,
            &[],
            &[
                "--rate",
                &rate.to_string(),
                "--duration",
                &format!("{secs}s"),
            ],
        );
        let achieved = reported_rate(&out);
        // What Pub/Sub actually stored over the requested duration, not the generator's word.
        let stored = f.published("sales-events").len() + f.published("inventory-events").len();
        let received = stored as f64 / secs as f64;
        println!(
            "  --rate {rate:<6} reported {achieved:>9.1}/s  error {:+.2} %   stored by Pub/Sub {received:>9.1}/s  error {:+.2} %",
            (achieved / rate as f64 - 1.0) * 100.0,
            (received / rate as f64 - 1.0) * 100.0
        );
    }

    // 3. Loss under failing requests.
    let project = format!("bqpub-f-{pid}");
    let faults = Faults::none()
        .with_seed(3)
        .with_rule(
            FaultRule::probability(FaultKind::Unavailable, 0.03)
                .only(["pubsub.projects.topics.publish"]),
        )
        .with_rule(
            FaultRule::probability(FaultKind::TooManyRequests, 0.03)
                .only(["pubsub.projects.topics.publish"]),
        )
        .with_rule(
            FaultRule::probability(FaultKind::ConnectionReset, 0.02)
                .only(["pubsub.projects.topics.publish"]),
        )
        .with_rule(
            FaultRule::probability(FaultKind::ResponseLost, 0.02)
                .only(["pubsub.projects.topics.publish"]),
        );
    let f = fakes(&project, faults, true);
    let total = 300_000u64;
    let (_, out) = generate(
        dir,
        &f,
        &project,
        &[("BQFLOW_PUBLISH_BATCH", "200")],
        &[
            "--rate",
            "max",
            "--count",
            &total.to_string(),
            "--clock",
            "simulated",
        ],
    );
    let stats = f.stats();
    let publishes = stats
        .by_method
        .get("pubsub.projects.topics.publish")
        .copied()
        .unwrap_or(0);
    let failed: usize = stats.faults.values().sum();
    let (mut stored, mut distinct) = (0usize, 0usize);
    for topic in ["sales-events", "inventory-events"] {
        let messages = f.published(topic);
        stored += messages.len();
        let ids: HashSet<Vec<u8>> = messages
            .iter()
            .map(|m| {
                m.data
                    .split(|&b| b == b',')
                    .next()
                    .unwrap_or_default()
                    .to_vec()
            })
            .collect();
        distinct += ids.len();
    }
    println!(
        "{total} events with {failed} of {publishes} publish requests failing ({:.1} %):",
        failed as f64 * 100.0 / publishes as f64
    );
    println!(
        "  distinct events stored {distinct} of {total} (lost {}), duplicates {}  (baseline: none lost, none duplicated)",
        total as i64 - distinct as i64,
        stored - distinct
    );
    let summary = out.lines().last().unwrap_or_default().trim().to_string();
    println!("  generate: {summary}");
}
