//! The DuckDB warehouse file. DuckDB lets one process at a time open a file for writing, and
//! users run `generate` and `query` side by side, so every command holds the warehouse briefly
//! and retries (with jitter) while another process has it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duckdb::Connection;

/// Bookkeeping lives in its own schema, out of the way of the dataset.
pub const META: &str = "_bqflow";

pub struct Warehouse {
    pub conn: Connection,
    pub path: PathBuf,
}

pub fn path_in(root: &Path) -> PathBuf {
    root.join("warehouse.duckdb")
}

fn is_lock_conflict(e: &duckdb::Error) -> bool {
    let text = e.to_string();
    text.contains("lock") && (text.contains("Conflicting") || text.contains("Could not set"))
}

/// Who holds the lock, from DuckDB's message ("Conflicting lock is held in /usr/bin/duckdb
/// (PID 4242) by user ann"), so a user knows which terminal to look at.
fn holder(e: &duckdb::Error) -> String {
    let text = e.to_string();
    text.split_once("held in ")
        .map(|(_, rest)| {
            rest.split(". See")
                .next()
                .unwrap_or(rest)
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "another process".into())
}

pub use crate::backend::Busy;

/// How long a command waits for another to release the warehouse. Loads and queries hold it
/// for milliseconds to seconds; a minute covers a slow metric over a large table.
pub fn lock_timeout() -> Duration {
    crate::settings::get().lock_timeout
}

/// Longest pause between two attempts to open a busy warehouse. Writers let go between
/// bounded loads for longer than this (see `loader::HOLD_GAP`), so a waiting reader gets in.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(25);

impl Warehouse {
    /// Opens (creating if `create`) the warehouse, waiting out other processes' locks for up
    /// to `BQFLOW_LOCK_TIMEOUT_MS` (default a minute).
    pub fn open(root: &Path, create: bool) -> Result<Warehouse> {
        Self::open_within(root, create, lock_timeout()).map_err(|e| match e.downcast::<Busy>() {
            Ok(busy) => anyhow::anyhow!(
                "{busy}, which held it for more than {:?}: wait for it to finish (a long query, or a `duckdb` shell left open?), or raise BQFLOW_LOCK_TIMEOUT_MS",
                lock_timeout()
            ),
            Err(e) => e,
        })
    }

    /// Opens the warehouse, waiting at most `wait` for another process to let go; past that,
    /// the error is a [`Busy`] (a zero wait tries once).
    pub fn open_within(root: &Path, create: bool, wait: Duration) -> Result<Warehouse> {
        let path = path_in(root);
        if !create && !path.exists() {
            bail!(
                "nothing is provisioned on the local target ({} does not exist): run `bqflow up` first",
                path.display()
            );
        }
        let deadline = Instant::now()
            .checked_add(wait)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(366 * 86_400));
        let mut pause = Duration::from_millis(2);
        loop {
            match Connection::open_with_flags(&path, locked_down()?) {
                Ok(conn) => {
                    let wh = Warehouse { conn, path };
                    wh.conn
                        .execute_batch(&format!(
                            "CREATE SCHEMA IF NOT EXISTS {META}; {BOOKKEEPING}"
                        ))
                        .context("preparing the warehouse's bookkeeping tables")?;
                    return Ok(wh);
                }
                Err(e) if is_lock_conflict(&e) && Instant::now() < deadline => {
                    std::thread::sleep(
                        (pause + jitter(pause))
                            .min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                Err(e) if is_lock_conflict(&e) => {
                    return Err(Busy {
                        holder: holder(&e),
                        path,
                    }
                    .into());
                }
                Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
            }
        }
    }

    /// Runs `f` inside one transaction: all of it commits, or none of it.
    pub fn transaction<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN TRANSACTION")?;
        match f(&self.conn) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// The warehouse runs SQL from the spec and from `query --sql`: it reads and writes its own
/// file and nothing else — no other files, no network, no extensions installed or loaded on
/// a query's behalf (the setting cannot be turned back on from SQL).
fn locked_down() -> Result<duckdb::Config> {
    Ok(duckdb::Config::default()
        .enable_external_access(false)?
        .enable_autoload_extension(false)?
        .with("autoinstall_known_extensions", "false")?)
}

/// Up to `base` of random extra wait, so processes retrying together spread out.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    Duration::from_nanos(nanos % (base.as_nanos() as u64 + 1))
}

/// - `resources`: what `up` created, with the settings it applied (the local target's "cloud").
/// - `consumed`: segments each subscription has loaded; written in the same transaction as the
///   rows, which is what makes loading exactly-once.
/// - `cursor`: the highest generator sequence loaded per topic and producer, so a restarted
///   generator resumes exactly after it.
const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS _bqflow.resources (
    kind VARCHAR NOT NULL, name VARCHAR NOT NULL, fields VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL, PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS _bqflow.consumed (
    subscription VARCHAR NOT NULL, segment VARCHAR NOT NULL, records BIGINT NOT NULL,
    loaded BIGINT NOT NULL, dead_lettered BIGINT NOT NULL, sealed_at TIMESTAMP NOT NULL,
    loaded_at TIMESTAMP NOT NULL, PRIMARY KEY (subscription, segment));
CREATE TABLE IF NOT EXISTS _bqflow.cursor (
    topic VARCHAR NOT NULL, producer VARCHAR NOT NULL, last_seq UBIGINT NOT NULL,
    PRIMARY KEY (topic, producer));
";

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly-once loading rests on this: rows appended with the Appender inside a
    /// transaction vanish with a rollback, together with the bookkeeping.
    #[test]
    fn appended_rows_roll_back_with_the_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path(), true).unwrap();
        wh.conn
            .execute_batch("CREATE TABLE t (id VARCHAR)")
            .unwrap();
        let failed: Result<()> = wh.transaction(|conn| {
            let mut app = conn.appender("t")?;
            app.append_row(["a"])?;
            app.append_row(["b"])?;
            app.flush()?;
            conn.execute("INSERT INTO _bqflow.cursor VALUES ('t', 'p', 1)", [])?;
            anyhow::bail!("crash before commit")
        });
        assert!(failed.is_err());
        let count = |sql: &str| wh.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT count(*) FROM t"), 0);
        assert_eq!(count("SELECT count(*) FROM _bqflow.cursor"), 0);
        wh.transaction(|conn| {
            let mut app = conn.appender("t")?;
            app.append_row(["c"])?;
            Ok(())
        })
        .unwrap();
        assert_eq!(count("SELECT count(*) FROM t"), 1);
    }
}
