//! `generate` into the local target. The generator thread only appends to in-memory batches;
//! a sealing thread makes them durable segments (the fsync never stalls the pace), and a
//! loading thread moves sealed segments into the warehouse every few hundred milliseconds, so
//! `query` in another terminal sees events within about half a second.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use super::loader::{self, Budget, LoadReport, PipelineSink};
use super::topic_log::{Batch, TopicLog};
use super::warehouse::{Busy, Warehouse, lock_timeout};
use crate::generate::Stream;
use crate::generate::run::{Message, Sink};

/// Seal at least this often, so events become loadable quickly.
const SEAL_EVERY: Duration = Duration::from_millis(100);
/// …or when a batch grows this large, to bound memory and what a crash can lose.
const SEAL_RECORDS: u64 = 20_000;
const SEAL_BYTES: usize = 4 << 20;
/// How often the loader thread moves sealed segments into the warehouse.
const LOAD_EVERY: Duration = Duration::from_millis(250);
/// How long one attempt to open the warehouse waits for another process to let go; the
/// loader tries again after `HOLD_GAP`, keeping the progress line current meanwhile.
const OPEN_WAIT: Duration = Duration::from_millis(200);

/// The first error of a background thread, surfaced on the generator's next call.
type Failure = Arc<Mutex<Option<anyhow::Error>>>;

pub struct LocalSink {
    batches: [Batch; 2],
    last_seal: Instant,
    to_sealer: Option<SyncSender<(usize, Batch)>>,
    sealer: Option<JoinHandle<()>>,
    loader: Option<JoinHandle<LoadReport>>,
    stop_loader: Arc<AtomicBool>,
    status: Arc<Status>,
    failure: Failure,
}

impl LocalSink {
    /// `topics` are the sales and inventory topics; `sinks` the pipelines the loader feeds.
    pub fn start(
        root: &Path,
        topics: [&str; 2],
        producer: &str,
        sinks: Vec<PipelineSink>,
    ) -> Result<LocalSink> {
        let logs = [
            TopicLog::open(root, topics[0])?,
            TopicLog::open(root, topics[1])?,
        ];
        let failure: Failure = Arc::default();
        let dirty = Arc::new(AtomicBool::new(false));
        let status = Arc::new(Status::default());
        // A few batches may queue while a seal is under way; more means the disk cannot keep
        // up, and the generator then waits rather than growing memory without bound.
        let (to_sealer, from_generator) = mpsc::sync_channel::<(usize, Batch)>(8);
        let sealer = {
            let (failure, dirty, producer) = (failure.clone(), dirty.clone(), producer.to_string());
            let status = status.clone();
            std::thread::Builder::new()
                .name("bqflow-seal".into())
                .spawn(move || {
                    seal_loop(logs, &producer, from_generator, &dirty, &status, &failure)
                })?
        };
        let stop_loader = Arc::new(AtomicBool::new(false));
        let loader = {
            let (failure, stop, root) = (failure.clone(), stop_loader.clone(), root.to_path_buf());
            let status = status.clone();
            std::thread::Builder::new()
                .name("bqflow-load".into())
                .spawn(move || load_loop(&root, &sinks, &dirty, &stop, &status, &failure))?
        };
        Ok(LocalSink {
            batches: [Batch::default(), Batch::default()],
            last_seal: Instant::now(),
            to_sealer: Some(to_sealer),
            sealer: Some(sealer),
            loader: Some(loader),
            stop_loader,
            status,
            failure,
        })
    }

    fn check(&self) -> Result<()> {
        match self.failure.lock().expect("failure slot").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn hand_off(&mut self, stream: usize) -> Result<()> {
        let batch = std::mem::take(&mut self.batches[stream]);
        if batch.records() > 0 {
            let sender = self
                .to_sealer
                .as_ref()
                .ok_or_else(|| anyhow!("sink already finished"))?;
            sender
                .send((stream, batch))
                .map_err(|_| anyhow!("the sealing thread stopped"))?;
        }
        Ok(())
    }
}

impl Sink for LocalSink {
    fn send(&mut self, m: Message<'_>) -> Result<()> {
        let (message, seq) = (m.data, m.seq);
        let i = match m.stream {
            Stream::Sales => 0,
            Stream::Inventory => 1,
        };
        let batch = &mut self.batches[i];
        batch.push(message, Some(seq));
        if batch.records() >= SEAL_RECORDS || batch.bytes() >= SEAL_BYTES {
            self.hand_off(i)?;
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<()> {
        self.check()?;
        if self.last_seal.elapsed() >= SEAL_EVERY {
            self.last_seal = Instant::now();
            self.hand_off(0)?;
            self.hand_off(1)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<String> {
        self.hand_off(0)?;
        self.hand_off(1)?;
        drop(self.to_sealer.take());
        if let Some(sealer) = self.sealer.take() {
            sealer
                .join()
                .map_err(|_| anyhow!("the sealing thread panicked"))?;
        }
        self.stop_loader.store(true, Ordering::Relaxed);
        let report = match self.loader.take() {
            Some(loader) => loader
                .join()
                .map_err(|_| anyhow!("the loading thread panicked"))?,
            None => LoadReport::default(),
        };
        self.check()?;
        let sealed = self.status.sealed.load(Ordering::Relaxed);
        let mine = report.loaded + report.dead_lettered;
        if let Some(holder) = self.status.left_for.lock().expect("status").take() {
            return Ok(format!(
                "{mine} of {sealed} events loaded into the warehouse ({} dead-lettered); the rest is sealed in the topic logs and loads with the next bqflow command (the warehouse stayed in use by {holder})",
                report.dead_lettered
            ));
        }
        // Whoever opens the warehouse first loads what is sealed (a dashboard, a query).
        let others = if sealed > mine {
            format!(
                ", {} by another bqflow reading the warehouse",
                sealed - mine
            )
        } else {
            String::new()
        };
        Ok(format!(
            "{} rows loaded into the warehouse{others}, {} dead-lettered",
            report.loaded, report.dead_lettered
        ))
    }

    fn progress(&self) -> String {
        self.status.line().unwrap_or_default()
    }
}

impl Drop for LocalSink {
    fn drop(&mut self) {
        // On an error path: stop the threads; sealed segments stay for the next load.
        self.stop_loader.store(true, Ordering::Relaxed);
        drop(self.to_sealer.take());
    }
}

fn fail(failure: &Failure, e: anyhow::Error) {
    failure.lock().expect("failure slot").get_or_insert(e);
}

fn seal_loop(
    logs: [TopicLog; 2],
    producer: &str,
    batches: Receiver<(usize, Batch)>,
    dirty: &AtomicBool,
    status: &Status,
    failure: &Failure,
) {
    for (stream, batch) in batches {
        match logs[stream].seal(&batch, producer) {
            Ok(_) => {
                status.sealed.fetch_add(batch.records(), Ordering::Relaxed);
                dirty.store(true, Ordering::Release);
            }
            Err(e) => {
                fail(failure, e);
                return;
            }
        }
    }
}

/// Moves sealed segments into the warehouse until stopped, holding it at most `loader::HOLD`
/// at a time. While another process has the warehouse, it waits and says so on the progress
/// line; nothing is lost meanwhile, the segments are durable. At the end it loads what is left,
/// or, if the warehouse stays busy past the lock timeout, leaves it for the next command that
/// opens the warehouse.
fn load_loop(
    root: &Path,
    sinks: &[PipelineSink],
    dirty: &AtomicBool,
    stop: &AtomicBool,
    status: &Status,
    failure: &Failure,
) -> LoadReport {
    let mut total = LoadReport::default();
    let mut backlog = false;
    let mut busy_since: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if dirty.swap(false, Ordering::Acquire) || backlog || stopping {
            match Warehouse::open_within(root, false, OPEN_WAIT) {
                Ok(wh) => {
                    match loader::load_pending(&wh, root, sinks, Budget::For(loader::HOLD)) {
                        Ok(report) if !report.misfits.is_empty() => {
                            fail(failure, anyhow::anyhow!("{}", report.misfits.join("\n")));
                            return total;
                        }
                        Ok(report) => {
                            backlog = report.left > 0;
                            total += report;
                        }
                        Err(e) => {
                            fail(failure, e.context("loading into the local warehouse"));
                            return total;
                        }
                    }
                    busy_since = None;
                    status.set(None);
                }
                Err(e) => match e.downcast::<Busy>() {
                    Ok(busy) => {
                        backlog = true;
                        let since = *busy_since.get_or_insert_with(Instant::now);
                        status.set(Some(format!(
                            "loading waits {:.0}s: warehouse in use by {}",
                            since.elapsed().as_secs_f64(),
                            busy.holder
                        )));
                        if stopping && since.elapsed() >= lock_timeout() {
                            status.left_for_later(busy.holder);
                            return total;
                        }
                    }
                    Err(e) => {
                        fail(failure, e);
                        return total;
                    }
                },
            }
        }
        if stopping && !backlog {
            return total;
        }
        std::thread::sleep(if backlog {
            loader::HOLD_GAP
        } else {
            LOAD_EVERY
        });
    }
}

/// What the sealer and the loader tell the progress line and the final summary.
#[derive(Default)]
struct Status {
    /// Records sealed into the topic logs by this run.
    sealed: AtomicU64,
    line: Mutex<Option<String>>,
    /// Set when `generate` ended with segments still waiting for a busy warehouse.
    left_for: Mutex<Option<String>>,
}

impl Status {
    fn set(&self, line: Option<String>) {
        *self.line.lock().expect("status") = line;
    }
    fn line(&self) -> Option<String> {
        self.line.lock().expect("status").clone()
    }
    fn left_for_later(&self, holder: String) {
        *self.left_for.lock().expect("status") = Some(holder);
    }
}
