//! Replacing a small file so that a crash or power cut leaves either the old contents or the
//! new, never a torn or empty file: write a temp file beside it, fsync it, rename it over the
//! old one, fsync the folder (the rename itself must survive). The ledger and the cursor mirror
//! are written this way; topic segments are sealed the same way in `topic_log.rs`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

pub fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_new_contents_replace_the_old_and_no_temp_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        super::replace(&path, b"old").unwrap();
        super::replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
