//! Scalar `exp`, `sigmoid` and `tanh` for f32, without libm.
//!
//! libm's scalar `expf`/`tanhf` took a fifth of an LSTM step's time. These are branch-free
//! arithmetic, the scalar twins of the SIMD versions in [`super::simd`] (same constants and
//! steps), for the element-wise passes' portable code. Accuracy: `exp` within 2 ulp on its
//! range; `sigmoid` and `tanh` within 2e-7 absolute. f64 keeps libm.

/// `exp(x)` for f32: range reduction by ln 2, a degree-6 polynomial, and the exponent put
/// back through the bits. Inputs beyond ±87 saturate (to 0 or about 6e37).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest by adding and subtracting 1.5·2²³ (plain arithmetic, so it
    // vectorises; `f32::round` does not).
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 87.0);
    let shifted = x * LOG2E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    // exp(r) on |r| ≤ ln2/2 (Taylor coefficients; the truncation error is below 1 ulp).
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2ⁿ from the bits: `shifted` holds n in its low mantissa bits (its bits are those of
    // 1.5·2²³ plus n). Integer arithmetic on the bits vectorises; a float-to-int cast does not.
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUNDER.to_bits())
        .wrapping_add(127);
    let scale = f32::from_bits(biased << 23);
    p * scale
}

#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    // tanh(x) = sign(x)·(1 − e)/(1 + e), e = exp(−2|x|): no overflow, no cancellation blow-up.
    let e = exp_f32(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_and_tanh_match_libm() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        let mut x = -30.0f32;
        while x < 30.0 {
            let exact_exp = (x as f64).exp();
            let rel = ((exp_f32(x) as f64 - exact_exp) / exact_exp).abs();
            worst.0 = worst.0.max(rel);
            worst.1 = worst
                .1
                .max((sigmoid_f32(x) as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs());
            worst.2 = worst.2.max((tanh_f32(x) as f64 - (x as f64).tanh()).abs());
            x += 0.000_731;
        }
        assert!(
            worst.0 < 3.0 * f32::EPSILON as f64,
            "exp relative error {}",
            worst.0
        );
        assert!(worst.1 < 2e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 2e-7, "tanh error {}", worst.2);
        assert_eq!(exp_f32(-200.0), exp_f32(-87.0));
        assert!(tanh_f32(50.0) == 1.0 && tanh_f32(-50.0) == -1.0 && tanh_f32(0.0) == 0.0);
    }
}
