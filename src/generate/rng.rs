//! Deterministic randomness for the generator.
//!
//! Streams must be identical on every platform and every dependency version, so only the raw
//! `next_u64` of `ChaCha8Rng` is used: the range/float/exponential helpers of `rand` may change
//! their algorithms between releases, and libm's `ln`/`exp` may differ in the last bit between
//! platforms. Everything here is built from IEEE-754 `+ - * / sqrt`, which are correctly rounded
//! (Rust never contracts them into FMAs), so the results are bit-identical everywhere.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random stream. `stream` separates independent uses of one seed (catalogue, events).
pub(crate) struct Rand(ChaCha8Rng);

impl Rand {
    pub(crate) fn new(seed: u64, stream: u64) -> Rand {
        let mut key = [0u8; 32];
        let mut state = seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F);
        for chunk in key.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            chunk.copy_from_slice(&mix64(state).to_le_bytes());
        }
        Rand(ChaCha8Rng::from_seed(key))
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub(crate) fn f64(&mut self) -> f64 {
        unit(self.u64())
    }

    /// Uniform integer in [0, n); multiply-high, bias below n / 2^64 (irrelevant here).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    #[inline]
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Standard exponential variate (mean 1), for Poisson inter-arrival gaps.
    #[inline]
    pub(crate) fn exp1(&mut self) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        -det_ln(1.0 - self.f64())
    }
}

/// SplitMix64 finaliser: a fast, well-mixing bijection on u64.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Hash of (seed, a, b): stateless randomness for values that must not depend on event order
/// (opening stock of a shelf) or on the model's stream (malformed-event injection).
#[inline]
pub(crate) fn hash3(seed: u64, a: u64, b: u64) -> u64 {
    mix64(mix64(mix64(seed ^ 0x5851_F42D_4C95_7F2D) ^ a) ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Maps 64 random bits to [0, 1).
#[inline]
pub(crate) fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Natural logarithm for finite x > 0 (normal range), accurate to a few ulp, platform-independent.
pub(crate) fn det_ln(x: f64) -> f64 {
    const LN2: f64 = std::f64::consts::LN_2;
    const SQRT2: f64 = std::f64::consts::SQRT_2;
    debug_assert!(x > 0.0 && x.is_finite() && x.is_normal());
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    // Mantissa scaled into [1, 2), then folded into [sqrt(1/2), sqrt(2)) so the series converges fast.
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | (1023u64 << 52));
    if m > SQRT2 {
        m *= 0.5;
        exponent += 1;
    }
    // ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), |s| <= 0.172, so s^2 <= 0.0295.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = s;
    let mut k = 3.0;
    while k < 24.0 {
        term *= s2;
        sum += term / k;
        k += 2.0;
    }
    exponent as f64 * LN2 + 2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn det_ln_matches_libm() {
        let mut r = Rand::new(1, 2);
        for _ in 0..100_000 {
            let x = (1.0 - r.f64()) * 10f64.powi(r.below(40) as i32 - 20);
            let (a, b) = (det_ln(x), x.ln());
            assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{x}: {a} vs {b}");
        }
        assert_eq!(det_ln(1.0), 0.0);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..8)
            .scan(Rand::new(42, 1), |r, _| Some(r.u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rand::new(42, 1), |r, _| Some(r.u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rand::new(42, 2), |r, _| Some(r.u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn exponential_has_mean_one_and_below_is_in_range() {
        let mut r = Rand::new(7, 0);
        let n = 200_000;
        let mean = (0..n).map(|_| r.exp1()).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            seen[r.below(7) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{seen:?}"
        );
    }
}
