//! Generator throughput on one thread: the model alone, the model + our encoder into a reused
//! buffer, and a baseline measured in the same run — the same events encoded the obvious way
//! (`format!` + chrono's RFC 3339 formatter into a fresh `String` per event).
//!
//! `cargo bench --bench generator [-- EVENTS]` (default 5 000 000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bqflow::generate::{Event, EventKind, Model, ModelConfig, encode};
use chrono::{DateTime, SecondsFormat};

fn naive(ev: &Event, model: &Model, timestamp_us: i64) -> String {
    let ts = DateTime::from_timestamp_micros(timestamp_us)
        .expect("in range")
        .to_rfc3339_opts(SecondsFormat::Micros, true);
    let seed = model.config().seed;
    match ev.kind {
        EventKind::Sale {
            transaction,
            product,
            store,
            quantity,
            unit_price_cents,
        } => format!(
            r#"{{"transaction_id":"T{seed}-{transaction:010}","product_id":"{}","timestamp":"{ts}","quantity":{quantity},"unit_price":{}.{:02},"store_id":"{}"}}"#,
            model.products()[product as usize].product_id,
            unit_price_cents / 100,
            unit_price_cents % 100,
            model.stores()[store as usize].store_id,
        ),
        EventKind::Inventory {
            event,
            product,
            store,
            quantity_change,
            reason,
        } => format!(
            r#"{{"event_id":"I{seed}-{event:010}","product_id":"{}","timestamp":"{ts}","quantity_change":{quantity_change},"store_id":"{}","reason":"{}"}}"#,
            model.products()[product as usize].product_id,
            model.stores()[store as usize].store_id,
            reason.as_str(),
        ),
    }
}

fn line(name: &str, n: u64, took: Duration, bytes: u64) -> f64 {
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "{name:<28} {n:>10} events in {:>7.3} s = {:>11.0} events/s  {:>6.1} ns/event  {:>7.1} MB/s",
        took.as_secs_f64(),
        rate,
        1e9 / rate,
        bytes as f64 / took.as_secs_f64() / 1e6,
    );
    rate
}

fn main() {
    // `cargo bench` passes `--bench`; the first plain number is the event count.
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let cfg = ModelConfig::default();

    // Sanity: both encoders write the same bytes for the same events.
    let mut m = Model::new(&cfg);
    let mut buf = Vec::new();
    for _ in 0..100_000 {
        let e = m.next_event();
        buf.clear();
        encode(&e, &m, e.model_time_us, &mut buf);
        assert_eq!(buf, naive(&e, &m, e.model_time_us).as_bytes());
    }

    let mut m = Model::new(&cfg);
    let t = Instant::now();
    for _ in 0..n {
        black_box(m.next_event());
    }
    let model = line("model only", n, t.elapsed(), 0);

    let mut m = Model::new(&cfg);
    let (mut buf, mut bytes) = (Vec::with_capacity(256), 0u64);
    let t = Instant::now();
    for _ in 0..n {
        let e = m.next_event();
        buf.clear();
        encode(&e, &m, e.model_time_us, &mut buf);
        bytes += black_box(&buf).len() as u64;
    }
    let ours = line("model + encode (ours)", n, t.elapsed(), bytes);

    let mut m = Model::new(&cfg);
    let mut bytes = 0u64;
    let t = Instant::now();
    for _ in 0..n {
        let e = m.next_event();
        bytes += black_box(naive(&e, &m, e.model_time_us)).len() as u64;
    }
    let baseline = line("model + format! (baseline)", n, t.elapsed(), bytes);
    println!("ratio ours / baseline: {:.2}x", ours / baseline);
    // Encoding cost alone, with the model's share subtracted from both.
    let (ours_ns, base_ns) = (1e9 / ours - 1e9 / model, 1e9 / baseline - 1e9 / model);
    println!(
        "encode alone: ours {ours_ns:.1} ns/event, baseline {base_ns:.1} ns/event ({:.2}x)",
        base_ns / ours_ns
    );
}
