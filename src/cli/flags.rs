//! Value parsers for flags that take a duration or a factor: bounded, so that an extreme value
//! is a clear usage error (exit 2) instead of an arithmetic overflow deep inside a command.

use std::time::Duration;

/// Longer than anyone waits on purpose, short enough that `now + d` never overflows.
const LONGEST: Duration = Duration::from_secs(366 * 86_400);

/// A duration of at most a year (zero allowed).
pub fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 30s, 5m, 1h"))?;
    if d > LONGEST {
        return Err(format!(
            "`{s}` is longer than the longest allowed, 366 days"
        ));
    }
    Ok(d)
}

/// A positive duration of at most a year.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    match duration(s)? {
        d if d.is_zero() => Err("the duration must be positive".into()),
        d => Ok(d),
    }
}

/// The slowest and fastest simulated clock: a thousandth of real time up to a billion times
/// faster (a whole day in well under a millisecond).
const SPEEDS: std::ops::RangeInclusive<f64> = 0.001..=1e9;

pub fn speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if SPEEDS.contains(&f) => Ok(f),
        _ => Err(format!(
            "`{s}` is not a speed factor: give a number from 0.001 to 1000000000, e.g. 60"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_values_are_refused_with_the_limit() {
        assert!(duration("10000000000y").unwrap_err().contains("366 days"));
        assert!(duration("soon").unwrap_err().contains("not a duration"));
        assert_eq!(duration("0s").unwrap(), Duration::ZERO);
        assert!(positive_duration("0s").is_err());
        assert!(speed("1e-300").is_err());
        assert!(speed("inf").is_err());
        assert!(speed("NaN").is_err());
        assert_eq!(speed("60").unwrap(), 60.0);
    }
}
