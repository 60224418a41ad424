//! What a target has acknowledged, per event stream: the id numbers (as ranges) and the point
//! to resume from. `verify` compares the ranges with what landed; `generate` resumes after the
//! point. Kept as a small JSON file next to the target's other local state, written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Sorted, non-overlapping, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RangeSet(pub Vec<(u64, u64)>);

impl RangeSet {
    pub fn insert(&mut self, lo: u64, hi: u64) {
        let mut merged = (lo, hi);
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for &(a, b) in &self.0 {
            if b.saturating_add(1) < merged.0 || merged.1.saturating_add(1) < a {
                out.push((a, b));
            } else {
                merged = (merged.0.min(a), merged.1.max(b));
            }
        }
        out.push(merged);
        out.sort_unstable();
        self.0 = out;
    }

    /// Inserts sorted ids, collapsing runs into ranges first.
    pub fn insert_ids(&mut self, ids: &[u64]) {
        let mut i = 0;
        while i < ids.len() {
            let lo = ids[i];
            let mut hi = lo;
            while i + 1 < ids.len() && ids[i + 1] == hi + 1 {
                i += 1;
                hi = ids[i];
            }
            self.insert(lo, hi);
            i += 1;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }
}

/// One producer's (one model's) record.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Acknowledged ids per stream: [sales, inventory].
    pub acked: [RangeSet; 2],
    /// Per stream, the sequence number everything up to which is acknowledged.
    pub resume: [Option<u64>; 2],
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(skip)]
    path: PathBuf,
    /// By producer id (the model's seed and sizes).
    pub producers: BTreeMap<String, Entry>,
}

impl Ledger {
    pub fn load(path: &Path) -> Result<Ledger> {
        let mut ledger: Ledger = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ledger::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        ledger.path = path.to_path_buf();
        Ok(ledger)
    }

    pub fn entry(&mut self, producer: &str) -> &mut Entry {
        self.producers.entry(producer.to_string()).or_default()
    }

    pub fn save(&self) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Durably: the ledger is what `verify` counts against and where `generate` resumes.
        crate::durable::replace(&self.path, &serde_json::to_vec_pretty(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_count() {
        let mut r = RangeSet::default();
        r.insert_ids(&[5, 6, 7, 9]);
        r.insert(8, 8);
        r.insert(1, 2);
        assert_eq!(r.0, vec![(1, 2), (5, 9)]);
        r.insert(3, 4);
        assert_eq!(r.0, vec![(1, 9)]);
        assert_eq!(r.count(), 9);
    }

    #[test]
    fn a_ledger_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gcp/ledger.json");
        let mut l = Ledger::load(&path).unwrap();
        l.entry("seed=1").acked[0].insert(1, 10);
        l.entry("seed=1").resume = [Some(20), None];
        l.save().unwrap();
        let back = Ledger::load(&path).unwrap();
        assert_eq!(back.producers["seed=1"].acked[0].count(), 10);
        assert_eq!(back.producers["seed=1"].resume, [Some(20), None]);
    }
}
