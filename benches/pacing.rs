//! Pacing accuracy at 500 events/s: our pacer (absolute schedule, sleep + yield for the last
//! fraction of a millisecond) beside the naive loop measured in the same run (`sleep(1/rate)`
//! per event, whose oversleep accumulates).
//!
//! `cargo bench --bench pacing [-- SECONDS]` (default 60 per variant).

use std::thread::sleep;
use std::time::{Duration, Instant};

use bqflow::generate::{Pace, Pacer};

const RATE: f64 = 500.0;

/// CPU time of this thread in ns (Linux `schedstat`), to show what the spinning costs.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn report(name: &str, stamps: &[Instant], cpu: Option<u64>) {
    let (first, last) = (stamps[0], stamps[stamps.len() - 1]);
    let span = (last - first).as_secs_f64();
    let achieved = (stamps.len() - 1) as f64 / span;
    // Full 100 ms windows from the first emission.
    let windows = (span / 0.1) as usize;
    let mut counts = vec![0u32; windows.max(1)];
    for s in stamps {
        let w = ((*s - first).as_secs_f64() / 0.1) as usize;
        if w < windows {
            counts[w] += 1;
        }
    }
    let mean = counts.iter().map(|&c| f64::from(c)).sum::<f64>() / counts.len() as f64;
    let max = counts.iter().copied().max().unwrap_or(0);
    let mut gaps: Vec<f64> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let cpu = cpu.map_or("n/a".to_string(), |ns| {
        format!("{:.1} %", ns as f64 / 1e9 / span * 100.0)
    });
    println!(
        "{name:<22} {:>6} events  achieved {achieved:>8.2}/s  error {:>+6.2} %  max 100 ms window {max} = {:.2}x mean ({mean:.1})  gap p50 {:.3} ms p99 {:.3} ms max {:.3} ms  cpu {cpu}",
        stamps.len(),
        (achieved - RATE) / RATE * 100.0,
        f64::from(max) / mean,
        gaps[gaps.len() / 2],
        gaps[gaps.len() * 99 / 100],
        gaps[gaps.len() - 1],
    );
}

fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(60.0);
    let n = (RATE * secs) as usize;
    println!("target {RATE} events/s for {secs} s per variant");

    let mut stamps = Vec::with_capacity(n);
    let cpu0 = cpu_ns();
    let mut pacer = Pacer::new(Pace::Rate(RATE), Instant::now());
    for i in 0..n as u64 {
        pacer.wait_for(i, 0);
        stamps.push(Instant::now());
    }
    let cpu = cpu_ns().zip(cpu0).map(|(b, a)| b - a);
    report("pacer (ours)", &stamps, cpu);

    stamps.clear();
    let cpu0 = cpu_ns();
    for _ in 0..n {
        sleep(Duration::from_secs_f64(1.0 / RATE));
        stamps.push(Instant::now());
    }
    let cpu = cpu_ns().zip(cpu0).map(|(b, a)| b - a);
    report("naive sleep (baseline)", &stamps, cpu);
}
