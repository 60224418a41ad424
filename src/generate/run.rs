//! The generate loop: model → pacer → encoder → sink, with live progress, a resume point per
//! stream, malformed-event injection, and a clean stop on Ctrl-C, `--count` or `--duration`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::encode;
use super::malformed::{self, Flaw};
use super::model::{Event, EventKind, Model, Stream};
use super::pacer::{Pace, Pacer, wait_until};

/// Where events go: topic logs, Pub/Sub, a file. Records of one stream keep their order.
pub trait Sink {
    /// Takes one message; `seq` is the model's sequence number (for resuming).
    fn send(&mut self, message: Message<'_>) -> Result<()>;
    /// Called often (every few milliseconds): a chance to seal batches and report progress.
    fn tick(&mut self) -> Result<()>;
    /// Makes everything sent durable (or delivered); called once at the end.
    fn finish(&mut self) -> Result<String>;
    /// Delivery counters for the progress line (e.g. acknowledged and retried), if any.
    fn progress(&self) -> String {
        String::new()
    }
}

/// One message for a sink.
pub struct Message<'a> {
    pub stream: Stream,
    pub data: &'a [u8],
    /// The model's sequence number (for resuming).
    pub seq: u64,
    /// The event's id number (`T{seed}-{id}` / `I{seed}-{id}`); `None` for a malformed
    /// message, which is not expected to land in the facts.
    pub id: Option<u64>,
}

/// The id number an event carries.
pub fn event_id(event: &Event) -> u64 {
    match event.kind {
        EventKind::Sale { transaction, .. } => transaction,
        EventKind::Inventory { event, .. } => event,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clock {
    /// Event time is the wall clock at emission.
    Wall,
    /// Event time is model time, shifted so the first event emitted is at `start` (µs) if given.
    Simulated { start_us: Option<i64> },
}

#[derive(Clone, Debug)]
pub struct Options {
    pub pace: Pace,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub clock: Clock,
    /// Share of extra malformed messages (0 … 1).
    pub malformed: f64,
    /// Highest sequence already delivered, per stream: resume after it.
    pub resume_after: [Option<u64>; 2],
}

#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub sales: u64,
    pub inventory: u64,
    pub malformed: u64,
    pub flaws: Vec<(Flaw, u64)>,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// What the sink reported when it finished (e.g. rows loaded).
    pub delivered: String,
}

impl Summary {
    /// Counts one event sent.
    fn count(&mut self, event: &Event) {
        match event.stream {
            Stream::Sales => self.sales += 1,
            Stream::Inventory => self.inventory += 1,
        }
        self.first_seq.get_or_insert(event.seq);
        self.last_seq = Some(event.seq);
    }

    pub fn total(&self) -> u64 {
        self.sales + self.inventory + self.malformed
    }

    pub fn rate(&self) -> f64 {
        self.total() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Sales => 0,
        Stream::Inventory => 1,
    }
}

/// Live counters, read by the progress display.
pub trait Progress {
    /// `delivery` is the sink's own counters (empty when it has none).
    fn update(&self, summary: &Summary, delivery: &str);
}

pub fn run(
    model: &mut Model,
    sink: &mut dyn Sink,
    opts: &Options,
    stop: &Arc<AtomicBool>,
    progress: &dyn Progress,
) -> Result<Summary> {
    let seed = model.config().seed;
    let mut summary = Summary::default();
    let mut flaws = [0u64; Flaw::ALL.len()];
    let mut message = Vec::with_capacity(512);
    let mut bad = Vec::with_capacity(512);

    let mut event = next_unsent(model, opts);

    let start = Instant::now();
    let mut pacer = Pacer::new(opts.pace, start);
    let shift_us = match opts.clock {
        Clock::Simulated { start_us: Some(s) } => s - event.model_time_us,
        _ => 0,
    };
    let mut emitted: u64 = 0;
    let mut last_tick = start;
    let mut wall_us = chrono::Utc::now().timestamp_micros();
    loop {
        if stop.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        let now = Instant::now();
        if opts.count.is_some_and(|c| summary.total() >= c)
            || opts.duration.is_some_and(|d| now - start >= d)
        {
            break;
        }
        if let Some(due) = pacer.due(emitted, event.model_time_us, now)
            && due > now
        {
            sink.tick()?;
            progress.update(&summary, &sink.progress());
            wait_until(due.min(now + Duration::from_millis(50)));
            wall_us = chrono::Utc::now().timestamp_micros();
            continue;
        }
        let timestamp = match opts.clock {
            Clock::Wall => wall_us,
            Clock::Simulated { .. } => event.model_time_us + shift_us,
        };
        send_event(sink, model, &event, timestamp, &mut message)?;
        summary.count(&event);
        emitted += 1;
        if opts.malformed > 0.0
            && malformed::is_malformed(event.seq, seed, opts.malformed)
            && opts.count.is_none_or(|c| summary.total() < c)
        {
            let flaw = send_malformed(sink, &event, &message, seed, &mut bad)?;
            flaws[Flaw::ALL.iter().position(|f| *f == flaw).unwrap_or(0)] += 1;
            summary.malformed += 1;
            emitted += 1;
        }
        if emitted.is_multiple_of(1024) {
            let now = Instant::now();
            wall_us = chrono::Utc::now().timestamp_micros();
            if now - last_tick >= Duration::from_millis(20) {
                last_tick = now;
                sink.tick()?;
                progress.update(&summary, &sink.progress());
            }
        }
        event = next_unsent(model, opts);
    }
    summary.delivered = sink.finish()?;
    summary.elapsed = start.elapsed();
    summary.flaws = Flaw::ALL
        .iter()
        .copied()
        .zip(flaws)
        .filter(|(_, n)| *n > 0)
        .collect();
    progress.update(&summary, &sink.progress());
    Ok(summary)
}

/// Encodes and sends one event, with its id (`T<seed>-<n>`) for exactly-once checks.
fn send_event(
    sink: &mut dyn Sink,
    model: &Model,
    event: &Event,
    timestamp_us: i64,
    message: &mut Vec<u8>,
) -> Result<()> {
    message.clear();
    encode::encode(event, model, timestamp_us, message);
    sink.send(Message {
        stream: event.stream,
        data: message,
        seq: event.seq,
        id: Some(event_id(event)),
    })
}

/// The model's next event not yet delivered by an earlier run: a resumed run replays the
/// model (same seed, same events) past what was delivered, so nothing is sent twice.
fn next_unsent(model: &mut Model, opts: &Options) -> Event {
    let mut event = model.next_event();
    while already_sent(&event, opts) {
        event = model.next_event();
    }
    event
}

/// Sends a damaged copy of `message` (the generator's `--malformed` share) without an id, so
/// it lands in the dead-letter path; says which flaw it has.
fn send_malformed(
    sink: &mut dyn Sink,
    event: &Event,
    message: &[u8],
    seed: u64,
    bad: &mut Vec<u8>,
) -> Result<Flaw> {
    bad.clear();
    let flaw = malformed::malformed(message, event.seq, seed, bad);
    sink.send(Message {
        stream: event.stream,
        data: bad,
        seq: event.seq,
        id: None,
    })?;
    Ok(flaw)
}

fn already_sent(event: &Event, opts: &Options) -> bool {
    opts.resume_after[stream_index(event.stream)].is_some_and(|last| event.seq <= last)
}
