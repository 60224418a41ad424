//! What the servers saw: every request, every discovery violation, and per-request timing
//! (for concurrency and the number of sequential rounds a client needed).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::faults::FaultKind;

/// One request as received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Arrival order across all servers, from 0.
    pub seq: usize,
    /// Server name: `pubsub`, `dataflow`, `serviceusage`, `cloudresourcemanager`, or an
    /// upstream's name.
    pub server: String,
    /// Discovery method id; `None` when the path matched no method.
    pub method_id: Option<String>,
    pub http_method: String,
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Parsed JSON body (`null` when none, or when `Config::record_bodies` is off).
    pub body: Value,
    pub fault: Option<FaultKind>,
    /// Status sent; `None` when the connection was reset or the client went away.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// Anything but GET: what "no write happened" assertions look at.
    pub fn is_write(&self) -> bool {
        self.http_method != "GET"
    }
}

/// A request that failed discovery validation (it also got a 400 or 404).
#[derive(Clone, Debug)]
pub struct Violation {
    pub server: String,
    pub method_id: Option<String>,
    pub http_method: String,
    pub path: String,
    pub query: String,
    pub problems: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.method_id.as_deref().unwrap_or("no method");
        let q = if self.query.is_empty() { "" } else { "?" };
        write!(
            f,
            "[{}] {} {}{q}{} ({id}): {}",
            self.server,
            self.http_method,
            self.path,
            self.query,
            self.problems.join("; ")
        )
    }
}

/// When one request was in flight, relative to the start of the fakes.
#[derive(Clone, Debug)]
pub struct Span {
    pub server: String,
    pub method_id: Option<String>,
    pub start: Duration,
    pub end: Duration,
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub requests: usize,
    /// Requests per method id (`?` for unmatched paths).
    pub by_method: BTreeMap<String, usize>,
    /// Injected faults per [`FaultKind::label`].
    pub faults: BTreeMap<String, usize>,
    pub violations: usize,
    /// Most requests in flight at once, across all servers.
    pub max_in_flight: usize,
    /// Length of the longest chain of requests each of which started after the previous one
    /// ended: the sequential round trips a client needed. With a fixed injected latency,
    /// wall time is about `rounds × latency`.
    pub rounds: usize,
}

#[derive(Default)]
struct Inner {
    requests: Vec<RecordedRequest>,
    violations: Vec<Violation>,
    spans: Vec<Span>,
    faults: BTreeMap<String, usize>,
    in_flight: usize,
    max_in_flight: usize,
}

pub(crate) struct Log {
    epoch: Instant,
    record_bodies: bool,
    inner: Mutex<Inner>,
}

/// Tracks one request in flight; records its span when dropped (also when the connection
/// was reset and the request future dropped).
pub(crate) struct InFlight<'a> {
    log: &'a Log,
    server: String,
    method_id: Option<String>,
    start: Duration,
}

impl InFlight<'_> {
    pub fn set_method(&mut self, id: &str) {
        self.method_id = Some(id.to_string());
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let end = self.log.epoch.elapsed();
        let mut inner = self.log.lock();
        inner.in_flight -= 1;
        inner.spans.push(Span {
            server: std::mem::take(&mut self.server),
            method_id: self.method_id.take(),
            start: self.start,
            end,
        });
    }
}

impl Log {
    pub fn new(record_bodies: bool) -> Log {
        Log {
            epoch: Instant::now(),
            record_bodies,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the log from the next assertion.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn begin(&self, server: &str) -> InFlight<'_> {
        let mut inner = self.lock();
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        InFlight {
            log: self,
            server: server.to_string(),
            method_id: None,
            start: self.epoch.elapsed(),
        }
    }

    /// Records a request; returns its `seq` for [`Log::finish`].
    pub fn request(&self, mut req: RecordedRequest) -> usize {
        if !self.record_bodies {
            req.body = Value::Null;
        }
        let mut inner = self.lock();
        req.seq = inner.requests.len();
        if let Some(kind) = req.fault {
            *inner.faults.entry(kind.label().to_string()).or_default() += 1;
        }
        inner.requests.push(req);
        inner.requests.len() - 1
    }

    pub fn finish(&self, seq: usize, status: u16) {
        if let Some(r) = self.lock().requests.get_mut(seq) {
            r.status = Some(status);
        }
    }

    pub fn violation(&self, v: Violation) {
        self.lock().violations.push(v);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    pub fn spans(&self) -> Vec<Span> {
        self.lock().spans.clone()
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        let in_flight = inner.in_flight;
        *inner = Inner {
            in_flight,
            ..Inner::default()
        };
    }

    pub fn stats(&self) -> Stats {
        let inner = self.lock();
        let mut by_method = BTreeMap::new();
        for r in &inner.requests {
            let id = r.method_id.clone().unwrap_or_else(|| "?".into());
            *by_method.entry(id).or_default() += 1;
        }
        Stats {
            requests: inner.requests.len(),
            by_method,
            faults: inner.faults.clone(),
            violations: inner.violations.len(),
            max_in_flight: inner.max_in_flight,
            rounds: rounds(&inner.spans),
        }
    }
}

/// Longest chain of spans where each starts at or after the previous one's end.
/// Sweeping spans by start while folding in those that ended by then is O(n log n).
pub fn rounds(spans: &[Span]) -> usize {
    let mut by_start: Vec<usize> = (0..spans.len()).collect();
    by_start.sort_by_key(|&i| spans[i].start);
    let mut by_end: Vec<usize> = (0..spans.len()).collect();
    by_end.sort_by_key(|&i| spans[i].end);
    let mut chain = vec![0usize; spans.len()];
    let (mut best_ended, mut e, mut longest) = (0, 0, 0);
    for &i in &by_start {
        while e < by_end.len() && spans[by_end[e]].end <= spans[i].start {
            best_ended = best_ended.max(chain[by_end[e]]);
            e += 1;
        }
        chain[i] = best_ended + 1;
        longest = longest.max(chain[i]);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64) -> Span {
        Span {
            server: String::new(),
            method_id: None,
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
        }
    }

    #[test]
    fn rounds_count_the_longest_sequential_chain() {
        assert_eq!(rounds(&[]), 0);
        // Three parallel, then two sequential after them.
        let spans = [
            span(0, 10),
            span(0, 10),
            span(1, 9),
            span(10, 20),
            span(21, 30),
        ];
        assert_eq!(rounds(&spans), 3);
        // Fully overlapping: one round.
        assert_eq!(rounds(&[span(0, 10), span(5, 15), span(9, 20)]), 1);
    }
}
