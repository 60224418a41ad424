//! One `generate` per deployment at a time, and no `teardown` under a running one. Two
//! generators would resume from the same point and publish the same events twice; a teardown
//! would delete the topics, ledger and segments a generator is still writing (and the
//! generator would then write its ledger back). The lock is an OS file lock, so it goes with
//! the process however that ends.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// The file a running `generate` holds locked in the target's state folder.
pub const GENERATE_LOCK: &str = "generate.lock";

/// Takes the lock for `generate`. The lock lives in the target's state folder; `create` makes
/// that (the gcp target's folder holds only local bookkeeping, the local target's is made by
/// `up`). None when the folder does not exist.
pub fn generator(dir: &Path, create: bool) -> Result<Option<File>> {
    take(dir, create, "another `bqflow generate` is writing to")
}

/// Takes the same lock for `teardown`, which then keeps any `generate` from starting.
pub fn teardown(dir: &Path) -> Result<Option<File>> {
    take(dir, false, "a `bqflow generate` is writing to")
}

fn take(dir: &Path, create: bool, who: &str) -> Result<Option<File>> {
    if create {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Runtime(anyhow::anyhow!("creating {}: {e}", dir.display())))?;
    }
    if !dir.is_dir() {
        return Ok(None);
    }
    let path = dir.join(GENERATE_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(anyhow::Error::from)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::usage(format!(
            "{who} {} (lock {}); stop it first",
            dir.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Runtime(e.into())),
    }
}
