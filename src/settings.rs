//! The `BQFLOW_*` environment knobs, read once at start-up into validated settings (the "low
//! args → high args" step ripgrep takes for its flags). A malformed value is a usage error
//! naming the variable, never a silent default. The README lists every knob.
//!
//! The CLI calls `init` before any command runs; library users (benchmarks) that never do get
//! the environment read on first use, with defaults for malformed values.

use std::sync::OnceLock;
use std::time::Duration;

/// One knob: its variable, what it means, its default, and its bounds.
struct Knob {
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    unit: &'static str,
}

const PUBLISH_BATCH: Knob = Knob {
    var: "BQFLOW_PUBLISH_BATCH",
    default: 1000,
    range: 1..=1000,
    unit: "messages per Pub/Sub publish request",
};
const PUBLISH_IN_FLIGHT: Knob = Knob {
    var: "BQFLOW_PUBLISH_IN_FLIGHT",
    default: 16,
    range: 1..=1024,
    unit: "publish requests in flight",
};
const PUBLISH_DEADLINE_MS: Knob = Knob {
    var: "BQFLOW_PUBLISH_DEADLINE_MS",
    default: 600_000,
    range: 1..=86_400_000,
    unit: "ms one batch may keep failing",
};
/// BigQuery allows 100 requests/s per method and user; 16 at once stays well inside while a
/// wide plan finishes in a few round trips.
const CONCURRENCY: Knob = Knob {
    var: "BQFLOW_CONCURRENCY",
    default: 16,
    range: 1..=256,
    unit: "gcp requests `up` and `teardown` make at once",
};
const POLL_MS: Knob = Knob {
    var: "BQFLOW_POLL_MS",
    default: 5000,
    range: 1..=600_000,
    unit: "ms between job state polls",
};
const RETRY_MIN_DELAY_MS: Knob = Knob {
    var: "BQFLOW_RETRY_MIN_DELAY_MS",
    default: 200,
    range: 1..=60_000,
    unit: "ms first retry delay",
};
const RETRY_DEADLINE_MS: Knob = Knob {
    var: "BQFLOW_RETRY_DEADLINE_MS",
    default: 120_000,
    range: 0..=86_400_000,
    unit: "ms a request keeps being retried",
};
const REQUEST_TIMEOUT_MS: Knob = Knob {
    var: "BQFLOW_REQUEST_TIMEOUT_MS",
    default: 60_000,
    range: 1..=3_600_000,
    unit: "ms one HTTP request may take",
};
const LOCK_TIMEOUT_MS: Knob = Knob {
    var: "BQFLOW_LOCK_TIMEOUT_MS",
    default: 60_000,
    range: 0..=86_400_000,
    unit: "ms a command waits for the local warehouse",
};

/// Every knob, for the README check and `--help`-style listings.
const ALL: [&Knob; 9] = [
    &PUBLISH_BATCH,
    &PUBLISH_IN_FLIGHT,
    &PUBLISH_DEADLINE_MS,
    &CONCURRENCY,
    &POLL_MS,
    &RETRY_MIN_DELAY_MS,
    &RETRY_DEADLINE_MS,
    &REQUEST_TIMEOUT_MS,
    &LOCK_TIMEOUT_MS,
];

/// The names of every knob.
pub fn names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|k| k.var)
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub publish_batch: usize,
    pub publish_in_flight: usize,
    pub publish_deadline: Duration,
    pub concurrency: usize,
    pub poll: Duration,
    pub retry_min_delay: Duration,
    pub retry_deadline: Duration,
    pub request_timeout: Duration,
    pub lock_timeout: Duration,
}

impl Settings {
    /// Reads every knob through `lookup`; the first malformed one is the error.
    fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let value = |k: &Knob| -> Result<u64, String> {
            let Some(text) = lookup(k.var).filter(|v| !v.trim().is_empty()) else {
                return Ok(k.default);
            };
            match text.trim().parse::<u64>() {
                Ok(n) if k.range.contains(&n) => Ok(n),
                _ => Err(format!(
                    "environment variable {}=`{text}`: give a whole number from {} to {} ({}; default {})",
                    k.var,
                    k.range.start(),
                    k.range.end(),
                    k.unit,
                    k.default
                )),
            }
        };
        let ms = |k: &Knob| value(k).map(Duration::from_millis);
        Ok(Settings {
            publish_batch: value(&PUBLISH_BATCH)? as usize,
            publish_in_flight: value(&PUBLISH_IN_FLIGHT)? as usize,
            publish_deadline: ms(&PUBLISH_DEADLINE_MS)?,
            concurrency: value(&CONCURRENCY)? as usize,
            poll: ms(&POLL_MS)?,
            retry_min_delay: ms(&RETRY_MIN_DELAY_MS)?,
            retry_deadline: ms(&RETRY_DEADLINE_MS)?,
            request_timeout: ms(&REQUEST_TIMEOUT_MS)?,
            lock_timeout: ms(&LOCK_TIMEOUT_MS)?,
        })
    }

    fn defaults() -> Settings {
        Settings::read(|_| None).expect("defaults are in range")
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Reads and validates the environment; the CLI calls it first. An error names the variable.
pub fn init() -> Result<(), String> {
    let settings = Settings::read(|k| std::env::var(k).ok())?;
    let _ = SETTINGS.set(settings);
    Ok(())
}

/// The settings (read from the environment on first use when `init` was not called).
pub fn get() -> &'static Settings {
    SETTINGS.get_or_init(|| {
        Settings::read(|k| std::env::var(k).ok()).unwrap_or_else(|_| Settings::defaults())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_or_out_of_range_knob_is_an_error_naming_it() {
        let with = |var: &'static str, value: &'static str| {
            Settings::read(move |k| (k == var).then(|| value.to_string()))
        };
        let err = with("BQFLOW_RETRY_DEADLINE_MS", "2m").unwrap_err();
        assert!(err.contains("BQFLOW_RETRY_DEADLINE_MS=`2m`"), "{err}");
        assert!(with("BQFLOW_PUBLISH_BATCH", "5000").is_err());
        assert!(with("BQFLOW_CONCURRENCY", "0").is_err());
        let ok = with("BQFLOW_POLL_MS", "50").unwrap();
        assert_eq!(ok.poll, Duration::from_millis(50));
        assert_eq!(ok.publish_batch, 1000);
    }

    #[test]
    fn the_readme_lists_every_knob() {
        let readme = include_str!("../README.md");
        for name in names() {
            assert!(readme.contains(name), "README.md does not mention {name}");
        }
    }
}
