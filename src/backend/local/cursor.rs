//! Where a restarted `generate` resumes: after the highest generator sequence number already
//! sealed into a topic, whether that segment still waits or was loaded (the warehouse's
//! `_bqflow.cursor` table records loaded ones, in the same transaction as their rows).
//!
//! The table is mirrored to `cursor.json` beside the warehouse after every load, so `generate`
//! can start while another process (a notebook, a `duckdb` shell) keeps the warehouse open.
//! The mirror is written after the load commits and before the consumed segment files are
//! deleted, so the mirror together with the segments still on disk never says less than the
//! table: resuming from them never repeats an event.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::topic_log::TopicLog;
use super::warehouse::{Busy, META, Warehouse};

pub const CURSOR_FILE: &str = "cursor.json";

/// topic → producer → last sequence loaded.
type Cursors = BTreeMap<String, BTreeMap<String, u64>>;

/// Writes the cursor table to `cursor.json`, durably.
pub fn mirror(wh: &Warehouse, root: &Path) -> Result<()> {
    let cursors = from_table(wh)?;
    crate::durable::replace(
        &root.join(CURSOR_FILE),
        &serde_json::to_vec_pretty(&cursors)?,
    )
}

/// Per topic, the sequence to resume after. Reads the warehouse when it can have it within a
/// moment, else the mirror (waiting for the warehouse only if there is no mirror yet).
pub fn resume_points(root: &Path, topics: [&str; 2], producer: &str) -> Result<[Option<u64>; 2]> {
    let loaded = match Warehouse::open_within(root, false, Duration::from_secs(2)) {
        Ok(wh) => from_table(&wh)?,
        Err(e) if e.is::<Busy>() => match from_mirror(root)? {
            Some(cursors) => cursors,
            None => from_table(&Warehouse::open(root, false)?)?,
        },
        Err(e) => return Err(e),
    };
    let point = |topic: &str| -> Result<Option<u64>> {
        let loaded = loaded.get(topic).and_then(|p| p.get(producer)).copied();
        Ok(loaded.max(sealed(root, topic, producer)?))
    };
    Ok([point(topics[0])?, point(topics[1])?])
}

fn from_table(wh: &Warehouse) -> Result<Cursors> {
    let mut stmt = wh
        .conn
        .prepare(&format!(
            "SELECT topic, producer, last_seq FROM {META}.cursor"
        ))
        .context("reading the generator cursor")?;
    let mut cursors = Cursors::new();
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, u64>(2)?,
        ))
    })? {
        let (topic, producer, seq) = row?;
        cursors.entry(topic).or_default().insert(producer, seq);
    }
    Ok(cursors)
}

/// Every generator producer whose events were loaded (the seed is in the id), for `verify`.
/// Read from the mirror, written after every load.
pub fn producers(root: &Path) -> Result<Vec<String>> {
    let mut producers: Vec<String> = from_mirror(root)?
        .unwrap_or_default()
        .into_values()
        .flat_map(|by_producer| by_producer.into_keys())
        .collect();
    producers.sort();
    producers.dedup();
    Ok(producers)
}

fn from_mirror(root: &Path) -> Result<Option<Cursors>> {
    let path = root.join(CURSOR_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The highest sequence of `producer` in the topic's sealed segments.
fn sealed(root: &Path, topic: &str, producer: &str) -> Result<Option<u64>> {
    let log = TopicLog::open(root, topic)?;
    let mut sealed: Option<u64> = None;
    for name in log.sealed()? {
        let header = log.header(&name)?;
        if header.producer == producer {
            sealed = sealed.max(header.last_seq);
        }
    }
    Ok(sealed)
}
