//! `generate` into the local target. The generator thread only appends to in-memory batches;
//! a sealing thread makes them durable segments (the fsync never stalls the pace), and a
//! loading thread moves sealed segments into the warehouse every few hundred milliseconds, so
//! `query` in another terminal sees events within about a second.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use super::loader::{self, LoadReport, PipelineSink};
use super::topic_log::{Batch, TopicLog};
use super::warehouse::Warehouse;
use crate::generate::Stream;
use crate::generate::run::{Message, Sink};

/// Seal at least this often, so events become loadable quickly.
const SEAL_EVERY: Duration = Duration::from_millis(100);
/// …or when a batch grows this large, to bound memory and what a crash can lose.
const SEAL_RECORDS: u64 = 20_000;
const SEAL_BYTES: usize = 4 << 20;
/// How often the loader thread moves sealed segments into the warehouse.
const LOAD_EVERY: Duration = Duration::from_millis(250);

/// The first error of a background thread, surfaced on the generator's next call.
type Failure = Arc<Mutex<Option<anyhow::Error>>>;

pub struct LocalSink {
    batches: [Batch; 2],
    last_seal: Instant,
    to_sealer: Option<SyncSender<(usize, Batch)>>,
    sealer: Option<JoinHandle<()>>,
    loader: Option<JoinHandle<LoadReport>>,
    stop_loader: Arc<AtomicBool>,
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
        // A few batches may queue while a seal is under way; more means the disk cannot keep
        // up, and the generator then waits rather than growing memory without bound.
        let (to_sealer, from_generator) = mpsc::sync_channel::<(usize, Batch)>(8);
        let sealer = {
            let (failure, dirty, producer) = (failure.clone(), dirty.clone(), producer.to_string());
            std::thread::Builder::new()
                .name("bqflow-seal".into())
                .spawn(move || seal_loop(logs, &producer, from_generator, &dirty, &failure))?
        };
        let stop_loader = Arc::new(AtomicBool::new(false));
        let loader = {
            let (failure, stop, root) = (failure.clone(), stop_loader.clone(), root.to_path_buf());
            std::thread::Builder::new()
                .name("bqflow-load".into())
                .spawn(move || load_loop(&root, &sinks, &dirty, &stop, &failure))?
        };
        Ok(LocalSink {
            batches: [Batch::default(), Batch::default()],
            last_seal: Instant::now(),
            to_sealer: Some(to_sealer),
            sealer: Some(sealer),
            loader: Some(loader),
            stop_loader,
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
        Ok(format!(
            "{} rows loaded into the warehouse, {} dead-lettered",
            report.loaded, report.dead_lettered
        ))
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
    failure: &Failure,
) {
    for (stream, batch) in batches {
        match logs[stream].seal(&batch, producer) {
            Ok(_) => dirty.store(true, Ordering::Release),
            Err(e) => {
                fail(failure, e);
                return;
            }
        }
    }
}

fn load_loop(
    root: &Path,
    sinks: &[PipelineSink],
    dirty: &AtomicBool,
    stop: &AtomicBool,
    failure: &Failure,
) -> LoadReport {
    let mut total = LoadReport::default();
    let load = |total: &mut LoadReport| -> Result<()> {
        let wh = Warehouse::open(root, false)?;
        *total +=
            loader::load_pending(&wh, root, sinks).context("loading into the local warehouse")?;
        Ok(())
    };
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if (dirty.swap(false, Ordering::Acquire) || stopping)
            && let Err(e) = load(&mut total)
        {
            fail(failure, e);
            return total;
        }
        if stopping {
            return total;
        }
        std::thread::sleep(LOAD_EVERY);
    }
}
