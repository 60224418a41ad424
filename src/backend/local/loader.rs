//! The local "pipeline": moves sealed topic segments into warehouse tables, exactly once.
//!
//! For each pipeline, unconsumed segments are loaded in one transaction together with the
//! record of their consumption (`_bqflow.consumed`) and the generator cursor. A crash before
//! the commit loads nothing; after it, the segments are known as consumed and are skipped. Valid
//! messages are appended to the table, malformed ones to the dead-letter table with the reason,
//! as Google's Dataflow template does. A segment file is deleted once every subscription that
//! reads its topic — named in the spec or recorded by an earlier `up` — has consumed it (or
//! kept it past its message retention, as Pub/Sub would).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use duckdb::appender_params_from_iter;
use duckdb::types::{TimeUnit, Value};

use super::record::{Cell, RowSchema};
use super::shape;
use super::topic_log::{Damaged, Segment, TopicLog};
use super::warehouse::{META, Warehouse};
use super::{cursor, rollup};
use crate::plan::{ColumnDef, MaterializedViewDef, PipelineDef};

/// One transaction loads segments until it holds this many records (or 32 segments): large
/// enough to amortise the commit, small enough (~0.2 s) that a bounded load can stop soon.
const RECORDS_PER_TRANSACTION: u64 = 60_000;
const SEGMENTS_PER_TRANSACTION: usize = 32;

/// How long a loader holds the warehouse while working off a backlog, and how long it then
/// lets go: longer than a waiting reader's retry pause (`warehouse::MAX_RETRY_PAUSE` with
/// jitter), so a dashboard or `query` in another terminal gets in between two holds.
pub const HOLD: Duration = Duration::from_millis(500);
pub const HOLD_GAP: Duration = Duration::from_millis(60);

/// How long one warehouse session may go on loading. Other processes (a dashboard, `query`)
/// wait while it does, so a load with a backlog commits in bounded steps and lets go in between.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Load everything pending in one session (tests; `settle` loads everything in bounded
    /// steps instead, so other processes get in between).
    Everything,
    /// Stop starting transactions after this long.
    For(Duration),
}

pub struct PipelineSink {
    pub def: PipelineDef,
    /// The table's columns as the spec declares them; rows are appended by these names.
    pub columns: Vec<ColumnDef>,
    pub schema: RowSchema,
    /// Materialized views over the table, folded in with each batch (`rollup.rs`).
    pub rollups: Vec<MaterializedViewDef>,
}

impl PipelineSink {
    pub fn new(def: PipelineDef, columns: Vec<ColumnDef>) -> PipelineSink {
        let schema = RowSchema::new(&columns);
        PipelineSink {
            def,
            columns,
            rollups: Vec::new(),
            schema,
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    pub segments: u64,
    pub loaded: u64,
    pub dead_lettered: u64,
    /// Segments still waiting when the budget ran out.
    pub left: u64,
    /// Pipelines not loaded because their table no longer fits the spec: one message each.
    pub misfits: Vec<String>,
}

impl std::ops::AddAssign for LoadReport {
    fn add_assign(&mut self, o: Self) {
        self.segments += o.segments;
        self.loaded += o.loaded;
        self.dead_lettered += o.dead_lettered;
        for m in o.misfits {
            if !self.misfits.contains(&m) {
                self.misfits.push(m);
            }
        }
    }
}

/// Why a pipeline's table cannot take its events, or None when it can (`shape.rs`).
fn misfit(wh: &Warehouse, sink: &PipelineSink) -> Result<Option<String>> {
    let def = &sink.def;
    let actual = shape::actual(wh, &def.dataset, &def.table)?;
    let reasons = shape::misfits(&actual, &sink.columns);
    Ok((!reasons.is_empty()).then(|| {
        format!(
            "not loading topic `{}` into `{}.{}`: the table no longer fits the spec ({}); its events wait in the topic until it does (see `bqflow plan`)",
            def.topic,
            def.dataset,
            def.table,
            reasons.join("; ")
        )
    }))
}

/// Loads pending segments of every pipeline, one transaction per pipeline in turn (so a
/// backlog on one topic does not hold back the other), until nothing is pending or the budget
/// is spent.
pub fn load_pending(
    wh: &Warehouse,
    root: &Path,
    sinks: &[PipelineSink],
    budget: Budget,
) -> Result<LoadReport> {
    let started = Instant::now();
    let mut total = LoadReport::default();
    let mut queues = Vec::new();
    for sink in sinks {
        let Ok(log) = TopicLog::open(root, &sink.def.topic) else {
            continue;
        };
        if let Some(why) = misfit(wh, sink)? {
            total.misfits.push(why);
            continue;
        }
        log.remove_stale_temps();
        let consumed = consumed_by(wh, &sink.def.subscription)?;
        let pending: VecDeque<String> = log
            .sealed()?
            .into_iter()
            .filter(|s| !consumed.contains(s))
            .collect();
        queues.push((sink, log, pending));
    }
    let spent = || match budget {
        Budget::Everything => false,
        Budget::For(limit) => started.elapsed() >= limit,
    };
    // The first round always runs: every session makes progress on every pipeline.
    let mut first = true;
    while queues.iter().any(|(_, _, q)| !q.is_empty()) && (first || !spent()) {
        for (sink, log, pending) in &mut queues {
            if pending.is_empty() || (!first && spent()) {
                continue;
            }
            let segments = next_transaction(log, pending)?;
            total += wh
                .transaction(|_| load_batch(wh, sink, &log.name, &segments))
                .with_context(|| {
                    format!(
                        "loading topic `{}` into `{}`",
                        sink.def.topic, sink.def.table
                    )
                })?;
        }
        first = false;
    }
    total.left = queues.iter().map(|(_, _, q)| q.len() as u64).sum();
    if total.segments > 0 {
        // Before any consumed segment goes: see `cursor.rs` for why this order.
        cursor::mirror(wh, root)?;
    }
    remove_fully_consumed(wh, root, sinks)?;
    Ok(total)
}

/// The next segments to load in one transaction, taken off the front of `pending`.
fn next_transaction(log: &TopicLog, pending: &mut VecDeque<String>) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut records = 0;
    while records < RECORDS_PER_TRANSACTION && segments.len() < SEGMENTS_PER_TRANSACTION {
        let Some(name) = pending.pop_front() else {
            break;
        };
        let segment = match log.read(&name) {
            Ok(segment) => segment,
            // Never loaded with rows missing, never marked consumed: set aside and said.
            Err(e) if e.is::<Damaged>() => {
                let aside = log.set_aside(&name)?;
                tracing::warn!(
                    "{e}; its records were not loaded and it was moved to {}",
                    aside.display()
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        records += segment.header.records;
        segments.push(segment);
    }
    Ok(segments)
}

fn consumed_by(wh: &Warehouse, subscription: &str) -> Result<HashSet<String>> {
    let mut stmt = wh.conn.prepare(&format!(
        "SELECT segment FROM {META}.consumed WHERE subscription = ?"
    ))?;
    let names = stmt.query_map([subscription], |r| r.get::<_, String>(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

fn load_batch(
    wh: &Warehouse,
    sink: &PipelineSink,
    topic: &str,
    segments: &[Segment],
) -> Result<LoadReport> {
    let conn = &wh.conn;
    let def = &sink.def;
    let mut report = LoadReport::default();
    let now_us = chrono::Utc::now().timestamp_micros();
    let mut cursors: BTreeMap<&str, u64> = BTreeMap::new();
    {
        // By name: the table's column order may differ from the spec's (a column added later
        // goes last), and appending by position would put one column's values in another.
        let names: Vec<&str> = sink.columns.iter().map(|c| c.name.as_str()).collect();
        // With rollups, the batch is staged first so they can be folded from it alone.
        let mut rows = if sink.rollups.is_empty() {
            conn.appender_with_columns_to_db(&def.table, &def.dataset, &names)?
        } else {
            rollup::stage(conn, &def.dataset, &def.table)?;
            conn.appender_with_columns_to_catalog_and_db("_bqflow_batch", "temp", "main", &names)?
        };
        let mut dead = conn.appender_with_columns_to_db(
            &def.dead_letter_table,
            &def.dataset,
            &[
                "timestamp",
                "payloadString",
                "payloadBytes",
                "errorMessage",
                "stacktrace",
            ],
        )?;
        let mut row: Vec<Cell> = Vec::with_capacity(8);
        for seg in segments {
            let (mut loaded, mut bad) = (0u64, 0u64);
            for message in seg.records() {
                match sink.schema.parse(message, &mut row) {
                    Ok(()) => {
                        rows.append_row(appender_params_from_iter(row.iter()))?;
                        loaded += 1;
                    }
                    Err(reason) => {
                        let text = String::from_utf8_lossy(message).into_owned();
                        dead.append_row(appender_params_from_iter([
                            Value::Timestamp(TimeUnit::Microsecond, now_us),
                            Value::Text(text),
                            Value::Blob(message.to_vec()),
                            Value::Text(reason),
                            Value::Null,
                        ]))?;
                        bad += 1;
                    }
                }
            }
            conn.execute(
                &format!("INSERT INTO {META}.consumed VALUES (?, ?, ?, ?, ?, make_timestamp(?), make_timestamp(?))"),
                duckdb::params![def.subscription, seg.name, seg.header.records, loaded, bad, seg.header.sealed_us, now_us],
            )?;
            if let Some(seq) = seg.header.last_seq {
                let c = cursors.entry(seg.header.producer.as_str()).or_default();
                *c = (*c).max(seq);
            }
            report.segments += 1;
            report.loaded += loaded;
            report.dead_lettered += bad;
        }
        rows.flush()?;
        dead.flush()?;
    }
    if !sink.rollups.is_empty() {
        rollup::fold(conn, &def.dataset, &def.table, &sink.rollups)?;
    }
    for (producer, seq) in cursors {
        conn.execute(
            &format!(
                "INSERT INTO {META}.cursor VALUES (?, ?, ?)
                 ON CONFLICT (topic, producer) DO UPDATE SET last_seq = greatest(last_seq, excluded.last_seq)"
            ),
            duckdb::params![topic, producer, seq],
        )?;
    }
    Ok(report)
}

/// Deletes segment files every reader of their topic has consumed (see `readers`). Topics no
/// pipeline of the spec reads are not looked at: their segments stay until teardown.
fn remove_fully_consumed(wh: &Warehouse, root: &Path, sinks: &[PipelineSink]) -> Result<()> {
    let topics: BTreeMap<&str, ()> = sinks.iter().map(|s| (s.def.topic.as_str(), ())).collect();
    let now_us = chrono::Utc::now().timestamp_micros();
    for topic in topics.keys() {
        let Ok(log) = TopicLog::open(root, topic) else {
            continue;
        };
        let readers = readers(wh, topic, sinks)?;
        let consumed = readers
            .iter()
            .map(|(s, _)| consumed_by(wh, s))
            .collect::<Result<Vec<_>>>()?;
        for name in log.sealed()? {
            let sealed_us = sealed_at(&name);
            let done = readers.iter().zip(&consumed).all(|((_, keep), set)| {
                set.contains(&name)
                    || sealed_us.is_some_and(|t| ((now_us - t).max(0) as u128) > keep.as_micros())
            });
            if done {
                log.remove(&name)?;
            }
        }
    }
    prune_consumed(wh, root, sinks)
}

/// Every subscription that reads `topic`, with how long it keeps what it has not consumed:
/// the spec's pipelines, and subscriptions recorded by an earlier `up` that the spec no longer
/// names (as on Pub/Sub, a subscription keeps its backlog until it is deleted, for as long as
/// its message retention). A segment goes when each of them has consumed it or let it expire.
fn readers(wh: &Warehouse, topic: &str, sinks: &[PipelineSink]) -> Result<Vec<(String, Duration)>> {
    const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86_400);
    // The spec's own pipelines keep their segments until they load them, however long that
    // takes (a table that no longer fits the spec holds its events back): nothing expires.
    const UNTIL_LOADED: Duration = Duration::MAX;
    let mut readers: Vec<(String, Duration)> = sinks
        .iter()
        .filter(|s| s.def.topic == topic)
        .map(|s| (s.def.subscription.clone(), UNTIL_LOADED))
        .collect();
    let mut stmt = wh.conn.prepare(&format!(
        "SELECT name, fields FROM {META}.resources WHERE kind = 'subscription'"
    ))?;
    let recorded = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in recorded {
        let (name, fields) = row?;
        let fields: BTreeMap<String, String> = serde_json::from_str(&fields).unwrap_or_default();
        if fields.get("topic").map(String::as_str) != Some(topic) {
            continue;
        }
        let keep = fields
            .get("message_retention")
            .and_then(|r| humantime::parse_duration(r).ok())
            .unwrap_or(DEFAULT_RETENTION);
        if !readers.iter().any(|(s, _)| *s == name) {
            readers.push((name, keep));
        }
    }
    Ok(readers)
}

/// When a segment was sealed, from its name (`<µs hex>-<pid>-<n>.seg`).
fn sealed_at(name: &str) -> Option<i64> {
    i64::from_str_radix(name.split('-').next()?, 16).ok()
}

/// How long consumption records outlive their segment files: long enough for `status` to show
/// the last load, short enough that the set read on every load stays small.
const KEEP_RECORDS_US: i64 = 3600 * 1_000_000;

/// Drops consumption records of segments whose files are gone (they can never be loaded
/// again, so they need no skipping) once they are an hour old.
fn prune_consumed(wh: &Warehouse, root: &Path, sinks: &[PipelineSink]) -> Result<()> {
    let mut still_there: HashSet<String> = HashSet::new();
    for s in sinks {
        if let Ok(log) = TopicLog::open(root, &s.def.topic) {
            still_there.extend(log.sealed()?);
        }
    }
    let cutoff = chrono::Utc::now().timestamp_micros() - KEEP_RECORDS_US;
    let mut stmt = wh.conn.prepare(&format!(
        "SELECT DISTINCT segment FROM {META}.consumed WHERE loaded_at < make_timestamp(?)"
    ))?;
    let old: Vec<String> = stmt
        .query_map([cutoff], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let gone: Vec<&String> = old.iter().filter(|s| !still_there.contains(*s)).collect();
    if gone.is_empty() {
        return Ok(());
    }
    wh.transaction(|conn| {
        let mut delete = conn.prepare(&format!("DELETE FROM {META}.consumed WHERE segment = ?"))?;
        for segment in gone {
            delete.execute([segment])?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_records_of_deleted_segments_are_pruned_and_the_rest_kept() {
        let root = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(root.path(), true).unwrap();
        let log = TopicLog::create(root.path(), "sales-events").unwrap();
        let mut batch = super::super::topic_log::Batch::default();
        batch.push(b"{}", Some(1));
        let kept_file = log.seal(&batch, "p").unwrap().unwrap();
        let old = chrono::Utc::now().timestamp_micros() - 2 * KEEP_RECORDS_US;
        let new = chrono::Utc::now().timestamp_micros();
        for (segment, at) in [
            ("gone-old.seg", old),
            ("gone-new.seg", new),
            (kept_file.as_str(), old),
        ] {
            wh.conn
                .execute(
                    &format!("INSERT INTO {META}.consumed VALUES ('s', ?, 1, 1, 0, make_timestamp(?), make_timestamp(?))"),
                    duckdb::params![segment, at, at],
                )
                .unwrap();
        }
        let def = crate::plan::PipelineDef {
            name: "p".into(),
            subscription: "s".into(),
            topic: "sales-events".into(),
            dataset: "d".into(),
            table: "t".into(),
            dead_letter_table: "t_error_records".into(),
            via: crate::spec::types::Via::Dataflow,
            max_workers: None,
            machine_type: None,
            flex_template: None,
        };
        let sinks = [PipelineSink::new(def, vec![])];
        prune_consumed(&wh, root.path(), &sinks).unwrap();
        let left = consumed_by(&wh, "s").unwrap();
        assert!(
            !left.contains("gone-old.seg"),
            "an old record of a deleted segment stayed"
        );
        assert!(
            left.contains("gone-new.seg"),
            "a recent record went too early"
        );
        assert!(
            left.contains(&kept_file),
            "the record of a segment still on disk went"
        );
    }
}

#[cfg(test)]
mod bounded_tests {
    use super::*;
    use crate::plan::ColumnDef;

    fn sink(topic: &str, table: &str) -> PipelineSink {
        PipelineSink::new(
            PipelineDef {
                name: format!("{table}-ingest"),
                subscription: format!("{topic}-sub"),
                topic: topic.into(),
                dataset: "d".into(),
                table: table.into(),
                dead_letter_table: format!("{table}_error_records"),
                via: crate::spec::types::Via::Dataflow,
                max_workers: None,
                machine_type: None,
                flex_template: None,
            },
            vec![ColumnDef {
                name: "id".into(),
                bigquery_type: "STRING".into(),
                duckdb_type: "VARCHAR".into(),
                required: true,
                repeated: false,
                description: None,
                fields: vec![],
            }],
        )
    }

    /// A warehouse with schema `d` and, per name, a table of one REQUIRED `id` column and its
    /// dead-letter table.
    fn warehouse_with(tables: &[&str]) -> (tempfile::TempDir, Warehouse) {
        let root = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(root.path(), true).unwrap();
        let mut ddl = String::from("CREATE SCHEMA d;");
        for t in tables {
            ddl.push_str(&format!(
                "CREATE TABLE d.{t} (id VARCHAR NOT NULL);
                 CREATE TABLE d.{t}_error_records (timestamp TIMESTAMP, payloadString VARCHAR, payloadBytes BLOB, errorMessage VARCHAR, stacktrace VARCHAR);"
            ));
        }
        wh.conn.execute_batch(&ddl).unwrap();
        (root, wh)
    }

    /// A segment cut short on disk is set aside and reported; nothing of it is loaded or
    /// marked consumed, and the segments around it load as usual.
    #[test]
    fn a_torn_segment_is_set_aside_and_never_marked_consumed() {
        let (root, wh) = warehouse_with(&["a"]);
        let log = TopicLog::create(root.path(), "ta").unwrap();
        let mut names = Vec::new();
        for s in 0..3 {
            let mut batch = super::super::topic_log::Batch::default();
            for i in 0..100 {
                batch.push(format!(r#"{{"id":"s{s}-{i}"}}"#).as_bytes(), None);
            }
            names.push(log.seal(&batch, "p").unwrap().unwrap());
        }
        let torn = root.path().join("topics/ta").join(&names[1]);
        let bytes = std::fs::read(&torn).unwrap();
        std::fs::write(&torn, &bytes[..bytes.len() / 2]).unwrap();

        let report =
            load_pending(&wh, root.path(), &[sink("ta", "a")], Budget::Everything).unwrap();
        assert_eq!((report.segments, report.loaded), (2, 200));
        assert!(!consumed_by(&wh, "ta-sub").unwrap().contains(&names[1]));
        assert!(root.path().join("damaged/ta").join(&names[1]).exists());
        let rows: i64 = wh
            .conn
            .query_row("SELECT count(*) FROM d.a WHERE id LIKE 's1-%'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rows, 0, "rows of the torn segment were loaded");
    }

    /// A subscription an earlier `up` made, that the spec no longer names, still has to
    /// consume a segment (or let it expire) before the segment goes.
    #[test]
    fn segments_wait_for_every_recorded_reader_of_their_topic() {
        let (root, wh) = warehouse_with(&["a"]);
        wh.conn
            .execute_batch(&format!(
                "INSERT INTO {META}.resources VALUES ('subscription', 'audit-sub',
                   '{{\"topic\":\"ta\",\"message_retention\":\"7days\"}}', now()::TIMESTAMP);"
            ))
            .unwrap();
        let log = TopicLog::create(root.path(), "ta").unwrap();
        let mut batch = super::super::topic_log::Batch::default();
        batch.push(br#"{"id":"x"}"#, None);
        let name = log.seal(&batch, "p").unwrap().unwrap();
        load_pending(&wh, root.path(), &[sink("ta", "a")], Budget::Everything).unwrap();
        assert_eq!(
            log.sealed().unwrap(),
            vec![name.clone()],
            "deleted before audit-sub read it"
        );
        wh.conn
            .execute(
                &format!("INSERT INTO {META}.consumed VALUES ('audit-sub', ?, 1, 1, 0, now()::TIMESTAMP, now()::TIMESTAMP)"),
                [&name],
            )
            .unwrap();
        load_pending(&wh, root.path(), &[sink("ta", "a")], Budget::Everything).unwrap();
        assert!(
            log.sealed().unwrap().is_empty(),
            "kept after every reader consumed it"
        );
    }

    /// A load with its budget spent stops after one transaction per pipeline, says how much is
    /// left, and the next load goes on from there: nothing lost, nothing twice.
    #[test]
    fn a_spent_budget_stops_the_load_between_transactions_and_the_next_one_resumes() {
        let (root, wh) = warehouse_with(&["a", "b"]);
        let mut seq = 0;
        for topic in ["ta", "tb"] {
            let log = TopicLog::create(root.path(), topic).unwrap();
            // Three transactions' worth per topic.
            for _ in 0..3 {
                let mut batch = super::super::topic_log::Batch::default();
                for _ in 0..RECORDS_PER_TRANSACTION {
                    seq += 1;
                    batch.push(format!(r#"{{"id":"x{seq}"}}"#).as_bytes(), Some(seq));
                }
                log.seal(&batch, "p").unwrap();
            }
        }
        let sinks = [sink("ta", "a"), sink("tb", "b")];
        let first = load_pending(&wh, root.path(), &sinks, Budget::For(Duration::ZERO)).unwrap();
        assert_eq!(first.segments, 2, "one transaction for each pipeline");
        assert_eq!(first.left, 4);
        let rest = load_pending(&wh, root.path(), &sinks, Budget::Everything).unwrap();
        assert_eq!((rest.segments, rest.left), (4, 0));
        let count = |t: &str| {
            wh.conn
                .query_row(&format!("SELECT count(DISTINCT id) FROM d.{t}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap()
        };
        let per_table = 3 * RECORDS_PER_TRANSACTION as i64;
        assert_eq!((count("a"), count("b")), (per_table, per_table));
    }
}
