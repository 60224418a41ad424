//! `generate --target gcp`: events published to Pub/Sub over REST.
//!
//! The generator thread appends each message to its stream's batch (built directly as the JSON
//! request body); a full batch (1 000 messages or ~7 MB) or a 50 ms tick hands it to an async
//! dispatcher, which keeps several publish requests in flight. A failed request is retried with
//! backoff — the same messages, never dropped — until it is acknowledged or the deadline passes.
//! Retrying a request whose response was lost stores its messages twice: delivery is
//! at-least-once, and `verify` counts the duplicates by id.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::FutureExt;
use reqwest::Method;
use tokio::sync::{Semaphore, mpsc};

use super::api::{Api, Repeat, Request};
use super::endpoints::Service;
use crate::generate::Stream;
use crate::generate::ledger::Ledger;
use crate::generate::run::{Message, Sink};

/// Pub/Sub's limits per publish request: 1 000 messages and 10 MB. Bodies stay under 7 MB of
/// JSON (base64 already counted), well inside the limit.
const MAX_MESSAGES: usize = 1000;
const MAX_BODY: usize = 7 << 20;

/// Messages per request: Pub/Sub's maximum, or fewer with `BQFLOW_PUBLISH_BATCH` (the
/// benchmark's one-message-per-request baseline uses 1).
fn batch_size() -> usize {
    crate::settings::get().publish_batch.clamp(1, MAX_MESSAGES)
}
/// A batch waits at most this long for more messages, so slow rates still flow promptly.
const LINGER: Duration = Duration::from_millis(50);
/// How long one batch may keep failing before the run gives up (its events stay unacknowledged
/// and are published again by the next run).
fn publish_deadline() -> Duration {
    crate::settings::get().publish_deadline
}
fn in_flight() -> usize {
    crate::settings::get().publish_in_flight
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    acked: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
}

/// One publish request's worth of messages for one stream.
struct Batch {
    stream: usize,
    /// `{"messages":[{"data":"…"},…` — closed when sent.
    body: Vec<u8>,
    messages: usize,
    /// Ids of the valid events in it (ascending), for the acknowledged ranges.
    ids: Vec<u64>,
    /// Order of the batch within its stream, for the resume point.
    number: u64,
    last_seq: u64,
}

impl Batch {
    fn new(stream: usize, number: u64) -> Batch {
        let mut body = Vec::with_capacity(256 << 10);
        body.extend_from_slice(b"{\"messages\":[");
        Batch {
            stream,
            body,
            messages: 0,
            ids: Vec::new(),
            number,
            last_seq: 0,
        }
    }

    fn fits(&self, data: &[u8], max_messages: usize) -> bool {
        self.messages < max_messages && self.body.len() + data.len() * 4 / 3 + 16 < MAX_BODY
    }

    fn push(&mut self, m: &Message<'_>) {
        if self.messages > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(b"{\"data\":\"");
        let start = self.body.len();
        self.body.resize(start + m.data.len().div_ceil(3) * 4, 0);
        let written = BASE64
            .encode_slice(m.data, &mut self.body[start..])
            .expect("sized for base64");
        self.body.truncate(start + written);
        self.body.extend_from_slice(b"\"}");
        self.messages += 1;
        self.last_seq = m.seq;
        if let Some(id) = m.id {
            self.ids.push(id);
        }
    }

    fn close(mut self) -> Batch {
        self.body.extend_from_slice(b"]}");
        self
    }
}

/// Acknowledgements, and the ledger they are recorded in.
struct Acks {
    ledger: Ledger,
    producer: String,
    /// Per stream: batch numbers acknowledged out of order, with their last sequence number.
    done: [BTreeMap<u64, u64>; 2],
    /// Per stream: every batch below this number is acknowledged.
    next: [u64; 2],
    last_saved: Instant,
}

impl Acks {
    fn record(&mut self, batch: &Batch) -> Result<()> {
        let entry = self.ledger.entry(&self.producer);
        entry.acked[batch.stream].insert_ids(&batch.ids);
        self.done[batch.stream].insert(batch.number, batch.last_seq);
        // Advance the resume point over the acknowledged prefix of batches.
        while let Some(seq) = self.done[batch.stream].remove(&self.next[batch.stream]) {
            self.next[batch.stream] += 1;
            let entry = self.ledger.entry(&self.producer);
            entry.resume[batch.stream] =
                Some(entry.resume[batch.stream].map_or(seq, |r| r.max(seq)));
        }
        if self.last_saved.elapsed() >= Duration::from_secs(1) {
            self.last_saved = Instant::now();
            self.ledger.save()?;
        }
        Ok(())
    }
}

pub struct PubSubSink {
    topics: [String; 2],
    batches: [Option<Batch>; 2],
    max_messages: usize,
    numbers: [u64; 2],
    opened: [Instant; 2],
    to_dispatcher: Option<mpsc::Sender<Batch>>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
    counters: Arc<[Counters; 2]>,
    acks: Arc<Mutex<Acks>>,
    failure: Arc<Mutex<Option<anyhow::Error>>>,
}

impl PubSubSink {
    pub fn start(
        api: Arc<Api>,
        project: &str,
        topics: [&str; 2],
        ledger: Ledger,
        producer: &str,
    ) -> Result<PubSubSink> {
        let counters: Arc<[Counters; 2]> = Arc::default();
        let failure: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
        let acks = Arc::new(Mutex::new(Acks {
            ledger,
            producer: producer.to_string(),
            done: Default::default(),
            next: [0, 0],
            last_saved: Instant::now(),
        }));
        let (tx, rx) = mpsc::channel::<Batch>(in_flight() * 2);
        let paths = topics.map(|t| format!("{}:publish", super::pubsub::topic_path(project, t)));
        let dispatcher = crate::runtime::get().spawn(dispatch(
            api,
            paths,
            rx,
            counters.clone(),
            acks.clone(),
            failure.clone(),
        ));
        Ok(PubSubSink {
            topics: topics.map(String::from),
            batches: [None, None],
            max_messages: batch_size(),
            numbers: [0, 0],
            opened: [Instant::now(); 2],
            to_dispatcher: Some(tx),
            dispatcher: Some(dispatcher),
            counters,
            acks,
            failure,
        })
    }

    fn check(&self) -> Result<()> {
        match lock(&self.failure).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn hand_off(&mut self, stream: usize) -> Result<()> {
        if let Some(batch) = self.batches[stream].take() {
            let sender = self
                .to_dispatcher
                .as_ref()
                .ok_or_else(|| anyhow!("publisher already finished"))?;
            // Waits when the dispatcher is saturated: back-pressure instead of unbounded memory.
            sender
                .blocking_send(batch.close())
                .map_err(|_| anyhow!("the publisher stopped"))?;
        }
        Ok(())
    }
}

impl Sink for PubSubSink {
    fn send(&mut self, m: Message<'_>) -> Result<()> {
        let stream = match m.stream {
            Stream::Sales => 0,
            Stream::Inventory => 1,
        };
        if self.batches[stream]
            .as_ref()
            .is_some_and(|b| !b.fits(m.data, self.max_messages))
        {
            self.hand_off(stream)?;
        }
        if self.batches[stream].is_none() {
            self.batches[stream] = Some(Batch::new(stream, self.numbers[stream]));
            self.numbers[stream] += 1;
            self.opened[stream] = Instant::now();
        }
        self.batches[stream].as_mut().expect("just made").push(&m);
        self.counters[stream].sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn tick(&mut self) -> Result<()> {
        self.check()?;
        for stream in 0..2 {
            if self.batches[stream].is_some() && self.opened[stream].elapsed() >= LINGER {
                self.hand_off(stream)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<String> {
        self.hand_off(0)?;
        self.hand_off(1)?;
        drop(self.to_dispatcher.take());
        if let Some(dispatcher) = self.dispatcher.take() {
            crate::runtime::block_on(dispatcher)
                .map_err(|e| anyhow!("the publisher failed: {e}"))?;
        }
        lock(&self.acks).ledger.save()?;
        self.check()?;
        let per_topic: Vec<String> = (0..2)
            .map(|i| {
                format!(
                    "{} {}",
                    self.topics[i],
                    self.counters[i].acked.load(Ordering::Relaxed)
                )
            })
            .collect();
        let retried: u64 = self
            .counters
            .iter()
            .map(|c| c.retried.load(Ordering::Relaxed))
            .sum();
        Ok(format!(
            "acknowledged by Pub/Sub: {} ({retried} requests retried)",
            per_topic.join(", ")
        ))
    }

    /// Per topic: sent / acknowledged, requests retried, messages failed.
    fn progress(&self) -> String {
        (0..2)
            .map(|i| {
                let c = &self.counters[i];
                format!(
                    "{} {}/{} acked, {} retried, {} failed",
                    self.topics[i],
                    c.acked.load(Ordering::Relaxed),
                    c.sent.load(Ordering::Relaxed),
                    c.retried.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed)
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl Drop for PubSubSink {
    fn drop(&mut self) {
        if let Ok(acks) = self.acks.lock() {
            let _ = acks.ledger.save();
        }
    }
}

/// Receives batches and publishes them, `in_flight()` at a time.
async fn dispatch(
    api: Arc<Api>,
    paths: [String; 2],
    mut batches: mpsc::Receiver<Batch>,
    counters: Arc<[Counters; 2]>,
    acks: Arc<Mutex<Acks>>,
    failure: Arc<Mutex<Option<anyhow::Error>>>,
) {
    let permits = Arc::new(Semaphore::new(in_flight()));
    let mut running = tokio::task::JoinSet::new();
    while let Some(batch) = batches.recv().await {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        let (api, path, counters, acks, task_failure) = (
            api.clone(),
            paths[batch.stream].clone(),
            counters.clone(),
            acks.clone(),
            failure.clone(),
        );
        running.spawn(async move {
            let stream = batch.stream;
            // A bug that panics in here must not leave the batch counted neither acknowledged
            // nor failed (and `generate` reporting success): it counts as failed.
            let outcome = AssertUnwindSafe(async {
                publish(&api, &path, &batch, &counters[stream]).await?;
                counters[stream]
                    .acked
                    .fetch_add(batch.messages as u64, Ordering::Relaxed);
                lock(&acks).record(&batch)
            })
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(anyhow!(
                    "publishing a batch of {} messages to {path} stopped on an internal error ({}); they count as failed",
                    batch.messages,
                    panic_text(&panic)
                ))
            });
            if let Err(e) = outcome {
                counters[stream]
                    .failed
                    .fetch_add(batch.messages as u64, Ordering::Relaxed);
                lock(&task_failure).get_or_insert(e);
            }
            drop(permit);
        });
        // Reap finished tasks as we go.
        while let Some(done) = running.try_join_next() {
            reaped(done, &failure);
        }
    }
    while let Some(done) = running.join_next().await {
        reaped(done, &failure);
    }
}

/// A task that ended without reporting (cancelled, or a panic outside the guarded part).
fn reaped(done: Result<(), tokio::task::JoinError>, failure: &Mutex<Option<anyhow::Error>>) {
    if let Err(e) = done {
        lock(failure).get_or_insert(anyhow!("a publishing task ended unexpectedly: {e}"));
    }
}

/// A lock whose holder panicked still guards counts that are whole: take it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Publishes one batch, retrying transient failures with backoff until the deadline.
async fn publish(api: &Api, path: &str, batch: &Batch, counters: &Counters) -> Result<()> {
    // Test hook (debug builds only): a bug inside a publishing task, for the test that checks
    // such a batch is reported as failed.
    #[cfg(debug_assertions)]
    if std::env::var_os("BQFLOW_TEST_PANIC_IN_PUBLISH").is_some() {
        panic!("injected by BQFLOW_TEST_PANIC_IN_PUBLISH");
    }
    let deadline = Instant::now() + publish_deadline();
    let mut wait = Duration::from_millis(100);
    loop {
        let req = Request::new(Service::PubSub, Method::POST, path)
            .raw_body(batch.body.clone())
            .repeat(Repeat::Never);
        match api.call(&req).await {
            Ok(response) => {
                let ids = response
                    .get("messageIds")
                    .and_then(|v| v.as_array())
                    .map_or(0, Vec::len);
                if ids != batch.messages {
                    bail!(
                        "Pub/Sub acknowledged {ids} of {} messages in a publish request",
                        batch.messages
                    );
                }
                return Ok(());
            }
            Err(e) if e.transient() && Instant::now() + wait < deadline => {
                counters.retried.fetch_add(1, Ordering::Relaxed);
                tracing::info!("publish retry in {wait:?}: {e}");
                let jitter =
                    Duration::from_nanos(rand::random::<u64>() % (wait.as_nanos() as u64 + 1));
                tokio::time::sleep(wait + jitter).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
            Err(e) => bail!("publishing to {path} failed: {e}"),
        }
    }
}
