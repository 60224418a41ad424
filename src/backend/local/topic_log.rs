//! The local "topic": a folder of sealed, immutable segment files. A writer collects records in
//! memory and seals them into a new segment (write a temp file, fsync, rename, fsync the folder),
//! so a reader sees a whole segment or none of it, and a crash loses only the unsealed batch.
//!
//! Segment layout: the magic line, one JSON header line, then records as
//! `u32 little-endian length` + bytes. Records are the raw message payloads (JSON for valid
//! events, anything at all for malformed ones).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"BQFLOWSEG1\n";
const SUFFIX: &str = ".seg";
/// Temp files start with a dot: listing skips them, and a crash leaves nothing that looks sealed.
const TEMP_PREFIX: &str = ".tmp-";

/// Written in each segment's header.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SegmentHeader {
    pub records: u64,
    /// Identifies the generator model that wrote the segment (seed, sizes); empty otherwise.
    #[serde(default)]
    pub producer: String,
    /// Highest generator sequence number in the segment, so a restarted generator resumes
    /// exactly after what was sealed.
    #[serde(default)]
    pub last_seq: Option<u64>,
    /// When the segment was sealed (µs since the Unix epoch).
    pub sealed_us: i64,
    /// Length and checksum (hex, `checksum` below) of the records part, checked before a segment is
    /// loaded (absent in segments sealed by older versions, which are checked by their record
    /// count only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// A segment whose contents do not match its header: cut short by a full disk, damaged on
/// it, or written over. Its records are not loaded; the file is moved aside (`set_aside`).
#[derive(Debug, thiserror::Error)]
#[error("segment {name} of topic `{topic}` is damaged: {reason}")]
pub struct Damaged {
    pub topic: String,
    pub name: String,
    pub reason: String,
}

pub struct Segment {
    pub name: String,
    pub header: SegmentHeader,
    data: Vec<u8>,
    body: usize,
}

impl Segment {
    fn check(&self) -> std::result::Result<(), String> {
        let body = &self.data[self.body..];
        if let Some(bytes) = self.header.bytes
            && bytes != body.len() as u64
        {
            return Err(format!(
                "{} bytes of records where the header says {bytes}",
                body.len()
            ));
        }
        if let Some(sum) = &self.header.checksum
            && *sum != checksum(body)
        {
            return Err("the checksum of its records does not match".into());
        }
        // Every record whole, as many as the header says, nothing after them.
        let (mut at, mut count) = (0usize, 0u64);
        while at < body.len() {
            let Some(len) = body.get(at..at + 4) else {
                return Err(format!("record {} is cut short", count + 1));
            };
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            if at + 4 + len > body.len() {
                return Err(format!("record {} is cut short", count + 1));
            }
            at += 4 + len;
            count += 1;
        }
        if count != self.header.records {
            return Err(format!(
                "{count} records where the header says {}",
                self.header.records
            ));
        }
        Ok(())
    }

    /// The records, in the order they were written.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = self.body;
        let data = &self.data;
        std::iter::from_fn(move || {
            let len = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
            let record = data.get(at + 4..at + 4 + len)?;
            at += 4 + len;
            Some(record)
        })
    }
}

#[derive(Clone, Debug)]
pub struct TopicLog {
    pub name: String,
    dir: PathBuf,
}

impl TopicLog {
    pub fn dir_for(root: &Path, topic: &str) -> PathBuf {
        root.join("topics").join(topic)
    }

    /// Opens an existing topic; publishing to a topic that was never provisioned is an error,
    /// as it is on Pub/Sub.
    pub fn open(root: &Path, topic: &str) -> Result<TopicLog> {
        let dir = Self::dir_for(root, topic);
        if !dir.is_dir() {
            bail!("topic `{topic}` does not exist on the local target: run `bqflow up` first");
        }
        Ok(TopicLog {
            name: topic.to_string(),
            dir,
        })
    }

    pub fn create(root: &Path, topic: &str) -> Result<TopicLog> {
        let dir = Self::dir_for(root, topic);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TopicLog {
            name: topic.to_string(),
            dir,
        })
    }

    /// Names of sealed segments, oldest first.
    pub fn sealed(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in
            fs::read_dir(&self.dir).with_context(|| format!("listing {}", self.dir.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(SUFFIX) && !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads a sealed segment and checks it against its header: length, checksum, and
    /// exactly as many whole records as it says. A mismatch is a `Damaged` error.
    pub fn read(&self, name: &str) -> Result<Segment> {
        let path = self.dir.join(name);
        let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let damaged = |reason: String| Damaged {
            topic: self.name.clone(),
            name: name.to_string(),
            reason,
        };
        let (header, body) = parse_header(&data, &path).map_err(|e| damaged(format!("{e:#}")))?;
        let segment = Segment {
            name: name.to_string(),
            header,
            data,
            body,
        };
        segment.check().map_err(damaged)?;
        Ok(segment)
    }

    /// Moves a damaged segment out of the topic, to `<root>/damaged/<topic>/`, where nothing
    /// loads or deletes it: the records it still holds are kept for a person to look at.
    pub fn set_aside(&self, name: &str) -> Result<PathBuf> {
        let root = self
            .dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.dir);
        let aside = root.join("damaged").join(&self.name);
        fs::create_dir_all(&aside).with_context(|| format!("creating {}", aside.display()))?;
        let to = aside.join(name);
        fs::rename(self.dir.join(name), &to)
            .with_context(|| format!("moving {name} to {}", aside.display()))?;
        Ok(to)
    }

    /// Header only (for resuming the generator and counting backlog): reads the first few
    /// kilobytes, not the records.
    pub fn header(&self, name: &str) -> Result<SegmentHeader> {
        use std::io::Read;
        let path = self.dir.join(name);
        let mut start = Vec::with_capacity(4096);
        File::open(&path)
            .and_then(|f| f.take(4096).read_to_end(&mut start))
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(parse_header(&start, &path)?.0)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Deletes temp files a killed writer left behind (older than a minute, so never a live one).
    pub fn remove_stale_temps(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 60);
            if stale && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Whether a folder holds nothing but segment files (sealed or temporary): a topic folder
/// bqflow made, safe to delete with its contents.
pub fn holds_only_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().all(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            e.path().is_file() && name.ends_with(SUFFIX)
        })
    })
}

/// The header of a segment and the offset where its records start.
fn parse_header(data: &[u8], path: &Path) -> Result<(SegmentHeader, usize)> {
    let rest = data
        .strip_prefix(MAGIC)
        .with_context(|| format!("{} is not a bqflow segment", path.display()))?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .context("segment header is not terminated")?;
    let header = serde_json::from_slice(&rest[..end])
        .with_context(|| format!("bad header in {}", path.display()))?;
    Ok((header, MAGIC.len() + end + 1))
}

/// A 64-bit checksum of the records, eight bytes at a time (a multiply-rotate hash in the
/// manner of FxHash): it catches a cut or changed segment, and costs a fraction of FNV-1a's
/// byte-at-a-time loop on the ingest path, where every byte is hashed twice (seal and load).
fn checksum(records: &[u8]) -> String {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut words = records.chunks_exact(8);
    let mut h = records.len() as u64;
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for &b in words.remainder() {
        h = (h.rotate_left(5) ^ b as u64).wrapping_mul(K);
    }
    format!("{h:016x}")
}

/// Distinguishes segments sealed in the same microsecond by one process.
static SEALED: AtomicU32 = AtomicU32::new(0);

/// Records collected for one segment. Moves to a sealing thread, so the generator never waits
/// on an fsync.
#[derive(Default)]
pub struct Batch {
    buf: Vec<u8>,
    records: u64,
    last_seq: Option<u64>,
}

impl Batch {
    pub fn push(&mut self, record: &[u8], seq: Option<u64>) {
        self.buf
            .extend_from_slice(&(record.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(record);
        self.records += 1;
        if seq.is_some() {
            self.last_seq = self.last_seq.max(seq);
        }
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }
}

impl TopicLog {
    /// Makes a batch durable as one new segment. Returns its name (None for an empty batch).
    pub fn seal(&self, batch: &Batch, producer: &str) -> Result<Option<String>> {
        if batch.records == 0 {
            return Ok(None);
        }
        let sealed_us = chrono::Utc::now().timestamp_micros();
        let header = SegmentHeader {
            records: batch.records,
            producer: producer.to_string(),
            last_seq: batch.last_seq,
            sealed_us,
            bytes: Some(batch.buf.len() as u64),
            checksum: Some(checksum(&batch.buf)),
        };
        let name = format!(
            "{sealed_us:016x}-{:08x}-{:08x}{SUFFIX}",
            std::process::id(),
            SEALED.fetch_add(1, Ordering::Relaxed)
        );
        let temp = self.dir.join(format!("{TEMP_PREFIX}{name}"));
        let write = || -> Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(MAGIC)?;
            serde_json::to_writer(&mut file, &header)?;
            file.write_all(b"\n")?;
            file.write_all(&batch.buf)?;
            file.sync_data()?;
            fs::rename(&temp, self.dir.join(&name))?;
            // The rename itself must survive a power cut.
            File::open(&self.dir)?.sync_all()?;
            Ok(())
        };
        write().with_context(|| format!("sealing a segment in {}", self.dir.display()))?;
        Ok(Some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_segments_round_trip_and_temps_are_invisible() {
        let root = tempfile::tempdir().unwrap();
        let log = TopicLog::create(root.path(), "sales-events").unwrap();
        let mut batch = Batch::default();
        batch.push(b"{\"a\":1}", Some(7));
        batch.push(b"not json\n\xff", None);
        fs::write(log.dir.join(".tmp-x.seg"), b"partial").unwrap();
        let name = log.seal(&batch, "model-a").unwrap().unwrap();
        assert_eq!(
            log.seal(&Batch::default(), "model-a").unwrap(),
            None,
            "nothing pending, nothing sealed"
        );
        assert_eq!(log.sealed().unwrap(), vec![name.clone()]);
        let seg = log.read(&name).unwrap();
        assert_eq!(seg.header.records, 2);
        assert_eq!(seg.header.last_seq, Some(7));
        let records: Vec<&[u8]> = seg.records().collect();
        assert_eq!(records, vec![&b"{\"a\":1}"[..], &b"not json\n\xff"[..]]);
    }

    #[test]
    fn a_cut_or_altered_segment_is_damaged_not_short() {
        let root = tempfile::tempdir().unwrap();
        let log = TopicLog::create(root.path(), "t").unwrap();
        let mut batch = Batch::default();
        for i in 0..10 {
            batch.push(format!("{{\"id\":{i}}}").as_bytes(), Some(i));
        }
        let name = log.seal(&batch, "p").unwrap().unwrap();
        let path = log.dir.join(&name);
        let whole = fs::read(&path).unwrap();
        // Cut short in the middle of a record.
        fs::write(&path, &whole[..whole.len() - 3]).unwrap();
        let err = log.read(&name).err().unwrap();
        let damaged = err.downcast_ref::<Damaged>().expect("a Damaged error");
        assert!(damaged.reason.contains("bytes of records"), "{damaged}");
        // Same length, one byte changed.
        let mut altered = whole.clone();
        *altered.last_mut().unwrap() ^= 1;
        fs::write(&path, &altered).unwrap();
        assert!(
            log.read(&name)
                .err()
                .unwrap()
                .to_string()
                .contains("checksum")
        );
        // An old segment without length and checksum: its record count still catches a cut.
        let legacy = String::from_utf8_lossy(&whole)
            .replacen(",\"bytes\":", ",\"x\":", 1)
            .replacen(",\"checksum\":", ",\"y\":", 1);
        let cut = &legacy.as_bytes()[..legacy.len() - 11];
        fs::write(&path, cut).unwrap();
        let err = log.read(&name).err().unwrap().to_string();
        assert!(
            err.contains("records where the header says 10") || err.contains("cut short"),
            "{err}"
        );
        let aside = log.set_aside(&name).unwrap();
        assert!(aside.starts_with(root.path().join("damaged/t")));
        assert!(log.sealed().unwrap().is_empty());
    }

    #[test]
    fn publishing_to_a_missing_topic_fails() {
        let root = tempfile::tempdir().unwrap();
        let err = TopicLog::open(root.path(), "nope").unwrap_err().to_string();
        assert!(err.contains("run `bqflow up`"), "{err}");
    }
}
