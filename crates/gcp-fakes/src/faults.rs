//! Fault injection: what goes wrong, for which methods, and when.
//!
//! Decisions are deterministic. A rule counts the requests it applies to (1-based, per server,
//! in arrival order) and fires on listed request numbers, on every k-th, always, or with a
//! probability drawn from a hash of (seed, rule, number): the same seed and the same request
//! order give the same faults, without a shared random generator.
//!
//! ```
//! use gcp_fakes::{FaultKind, FaultRule, Faults};
//! use std::time::Duration;
//! // The first two topic creates get a 503; 10 % of publishes get a 429; 100 ms per request.
//! let faults = Faults::none()
//!     .with_latency(Duration::from_millis(100))
//!     .with_seed(7)
//!     .with_rule(FaultRule::nth(FaultKind::Unavailable, [1, 2]).only(["pubsub.projects.topics.create"]))
//!     .with_rule(FaultRule::probability(FaultKind::TooManyRequests, 0.1).only(["*.publish"]));
//! ```

use std::time::Duration;

/// One kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// 429 `RESOURCE_EXHAUSTED`; the request is not applied.
    TooManyRequests,
    /// 503 `UNAVAILABLE`; not applied.
    Unavailable,
    /// 500 `INTERNAL`; not applied.
    Internal,
    /// BigQuery's rate limit: 403 with `errors[0].reason = "rateLimitExceeded"`; not applied.
    RateLimitExceeded,
    /// 403 `PERMISSION_DENIED`, reason `accessDenied`: the caller lacks a permission. Not
    /// transient; not applied.
    PermissionDenied,
    /// 501 `UNIMPLEMENTED`: what an emulator answers for a method it lacks (the Pub/Sub
    /// emulator has no IAM); not applied.
    Unimplemented,
    /// The TCP connection is reset (RST) before any response; not applied.
    ConnectionReset,
    /// Applied, then the connection is reset: the client cannot know it succeeded.
    ResponseLost,
    /// Applied, and the response is held back this long (beyond a client's timeout).
    Slow(Duration),
}

impl FaultKind {
    /// Stable name for counters: `429`, `503`, `500`, `403-rate-limit`, `501`, `reset`,
    /// `response-lost`, `slow`.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::Unavailable => "503",
            FaultKind::Internal => "500",
            FaultKind::RateLimitExceeded => "403-rate-limit",
            FaultKind::PermissionDenied => "403-denied",
            FaultKind::Unimplemented => "501",
            FaultKind::ConnectionReset => "reset",
            FaultKind::ResponseLost => "response-lost",
            FaultKind::Slow(_) => "slow",
        }
    }

    /// Parses a label (as printed by [`FaultKind::label`]); `slow` takes `slow:MS`.
    pub fn parse(s: &str) -> Option<FaultKind> {
        Some(match s {
            "429" => FaultKind::TooManyRequests,
            "503" => FaultKind::Unavailable,
            "500" => FaultKind::Internal,
            "403" | "403-rate-limit" => FaultKind::RateLimitExceeded,
            "403-denied" | "denied" => FaultKind::PermissionDenied,
            "501" => FaultKind::Unimplemented,
            "reset" => FaultKind::ConnectionReset,
            "response-lost" | "lost" => FaultKind::ResponseLost,
            _ => {
                let ms = s.strip_prefix("slow:")?.parse().ok()?;
                FaultKind::Slow(Duration::from_millis(ms))
            }
        })
    }
}

/// When a rule fires, counting the requests it applies to from 1.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// On these request numbers.
    Nth(Vec<u64>),
    /// On every k-th request (k, 2k, ...).
    Every(u64),
    /// With this probability, decided by hashing (seed, rule index, request number).
    Probability(f64),
    Always,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub trigger: Trigger,
    /// Method-id patterns with `*` wildcards (`*.create`, `pubsub.*`); empty means all.
    pub methods: Vec<String>,
    /// Stop after injecting this many faults.
    pub max: Option<u64>,
}

impl FaultRule {
    pub fn new(kind: FaultKind, trigger: Trigger) -> FaultRule {
        FaultRule {
            kind,
            trigger,
            methods: Vec::new(),
            max: None,
        }
    }

    pub fn nth(kind: FaultKind, numbers: impl IntoIterator<Item = u64>) -> FaultRule {
        FaultRule::new(kind, Trigger::Nth(numbers.into_iter().collect()))
    }

    pub fn every(kind: FaultKind, k: u64) -> FaultRule {
        FaultRule::new(kind, Trigger::Every(k.max(1)))
    }

    pub fn probability(kind: FaultKind, p: f64) -> FaultRule {
        FaultRule::new(kind, Trigger::Probability(p))
    }

    pub fn always(kind: FaultKind) -> FaultRule {
        FaultRule::new(kind, Trigger::Always)
    }

    /// Restricts the rule to method ids matching any of these patterns.
    pub fn only<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> FaultRule {
        self.methods = patterns.into_iter().map(Into::into).collect();
        self
    }

    pub fn at_most(mut self, n: u64) -> FaultRule {
        self.max = Some(n);
        self
    }

    fn applies_to(&self, method_id: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|p| glob(p, method_id))
    }
}

/// A server's fault configuration: latency added to every request, and rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub latency: Duration,
    pub seed: u64,
    /// Checked in order; the first rule that fires decides the request's fault.
    pub rules: Vec<FaultRule>,
}

impl Faults {
    pub fn none() -> Faults {
        Faults::default()
    }

    pub fn with_latency(mut self, latency: Duration) -> Faults {
        self.latency = latency;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Faults {
        self.seed = seed;
        self
    }

    pub fn with_rule(mut self, rule: FaultRule) -> Faults {
        self.rules.push(rule);
        self
    }
}

/// Faults plus the per-rule counters of one server.
pub(crate) struct FaultPlan {
    pub faults: Faults,
    seen: Vec<u64>,
    fired: Vec<u64>,
}

impl FaultPlan {
    pub fn new(faults: Faults) -> FaultPlan {
        let n = faults.rules.len();
        FaultPlan {
            faults,
            seen: vec![0; n],
            fired: vec![0; n],
        }
    }

    /// Decides the fault for one request. Every applicable rule counts the request, even
    /// when an earlier rule already fired, so "the 3rd create" means the 3rd create seen.
    pub fn decide(&mut self, method_id: &str) -> Option<FaultKind> {
        let mut chosen = None;
        for (i, rule) in self.faults.rules.iter().enumerate() {
            if !rule.applies_to(method_id) {
                continue;
            }
            self.seen[i] += 1;
            let n = self.seen[i];
            if chosen.is_some() || rule.max.is_some_and(|m| self.fired[i] >= m) {
                continue;
            }
            let fire = match &rule.trigger {
                Trigger::Nth(ns) => ns.contains(&n),
                Trigger::Every(k) => n.is_multiple_of(*k),
                Trigger::Probability(p) => unit(self.faults.seed, i as u64, n) < *p,
                Trigger::Always => true,
            };
            if fire {
                self.fired[i] += 1;
                chosen = Some(rule.kind);
            }
        }
        chosen
    }
}

/// A uniform number in [0, 1) from splitmix64 over the inputs.
fn unit(seed: u64, rule: u64, n: u64) -> f64 {
    let mut x =
        seed ^ rule.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// `*` matches any run of characters, everything else itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*.create", "pubsub.projects.topics.create"));
        assert!(glob("pubsub.*", "pubsub.projects.topics.create"));
        assert!(!glob("*.create", "pubsub.projects.topics.get"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
    }

    #[test]
    fn nth_counts_only_matching_methods() {
        let mut plan = FaultPlan::new(
            Faults::none()
                .with_rule(FaultRule::nth(FaultKind::Unavailable, [2]).only(["*.create"])),
        );
        assert_eq!(plan.decide("x.create"), None);
        assert_eq!(plan.decide("x.get"), None);
        assert_eq!(plan.decide("x.create"), Some(FaultKind::Unavailable));
        assert_eq!(plan.decide("x.create"), None);
    }

    #[test]
    fn probability_is_deterministic_and_roughly_right() {
        let run = |seed| {
            let mut plan = FaultPlan::new(
                Faults::none()
                    .with_seed(seed)
                    .with_rule(FaultRule::probability(FaultKind::TooManyRequests, 0.25)),
            );
            (0..4000)
                .map(|_| plan.decide("m").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let hits = run(1).iter().filter(|h| **h).count();
        assert!((800..1200).contains(&hits), "{hits}");
    }

    #[test]
    fn at_most_caps_injections() {
        let mut plan = FaultPlan::new(
            Faults::none().with_rule(FaultRule::always(FaultKind::Internal).at_most(2)),
        );
        let fired = (0..5).filter(|_| plan.decide("m").is_some()).count();
        assert_eq!(fired, 2);
    }
}
