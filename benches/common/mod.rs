//! What the benches that run the real binary share.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Runs `bqflow` in `dir`, which must succeed; returns stdout.
pub fn bqflow(dir: &Path, args: &[&str]) -> String {
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

/// Generates `events` events as fast as possible on the simulated clock into `dir`'s target
/// (queryable when it returns); returns how long that took.
#[allow(dead_code)] // not every bench generates
pub fn generate_max(dir: &Path, events: u64) -> std::time::Duration {
    let n = events.to_string();
    let start = std::time::Instant::now();
    bqflow(
        dir,
        &[
            "generate",
            "--rate",
            "max",
            "--clock",
            "simulated",
            "--count",
            &n,
        ],
    );
    start.elapsed()
}

/// Starts `bqflow dashboard --port 0` in `dir`; returns it and the URL it serves.
#[allow(dead_code)] // not every bench serves a dashboard
pub fn serve_dashboard(dir: &Path) -> (Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_bqflow"))
        .current_dir(dir)
        .args(["dashboard", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("readiness line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the dashboard's URL")
        .to_string();
    (server, url)
}
