//! The softmax rows of a language model's fused cross-entropy on the host: `log Σ exp` of a
//! row of logits and the row turned into its scaled softmax.
//!
//! In f32 each is written once over a SIMD vector ([`super::simd`]) and runs with the
//! instruction set of the kernel it is given; in f64, and with the portable kernel, plain
//! loops.

use super::elem::Elem;
use super::isa::CpuKernel;
use super::simd::{InstructionSet, SimdF32, Work, exp, load_n, store_n};

/// `log Σ exp(logits)`, computed stably (the maximum taken out first); `scratch` (as long as
/// `logits`) receives `exp(logit − max)`.
pub(crate) fn log_sum_exp_row<E: Elem>(kernel: CpuKernel, logits: &[E], scratch: &mut [E]) -> E {
    assert!(scratch.len() >= logits.len());
    if let (Some(logits), Some(scratch)) = (E::as_f32(logits), E::as_f32_mut(scratch)) {
        // SAFETY: `scratch` is at least as long as `logits` (asserted).
        if let Some(value) = unsafe { kernel.simd(LogSumExp { logits, scratch }) } {
            return E::from(value).expect("f32");
        }
    }
    let max = logits
        .iter()
        .fold(E::neg_infinity(), |m, &v| if v > m { v } else { m });
    let mut sum = E::zero();
    for (e, &v) in scratch.iter_mut().zip(logits) {
        *e = (v - max).exp_activation();
        sum = sum + *e;
    }
    max + sum.ln()
}

/// [`log_sum_exp_row`]'s operands, as work for an instruction set.
struct LogSumExp<'a> {
    logits: &'a [f32],
    scratch: &'a mut [f32],
}

impl Work for LogSumExp<'_> {
    type Output = f32;
    #[inline(always)]
    unsafe fn run<S: InstructionSet>(self) -> f32 {
        // SAFETY: the caller's promise.
        unsafe { log_sum_exp_simd::<S::F32>(self.logits, self.scratch) }
    }
}

#[inline(always)]
unsafe fn log_sum_exp_simd<V: SimdF32>(logits: &[f32], scratch: &mut [f32]) -> f32 {
    let len = logits.len();
    // SAFETY: every access is below `len`, and `scratch` is at least as long (asserted by the
    // caller); the vector instructions are the caller's promise.
    unsafe {
        // The maximum over whole vectors, then the tail's elements one by one (a masked
        // load's zero lanes could otherwise win).
        let whole = len - len % V::LANES;
        let mut maxima = V::splat(f32::NEG_INFINITY);
        for k in (0..whole).step_by(V::LANES) {
            maxima = maxima.max(V::load(logits.as_ptr().add(k)));
        }
        let max = logits[whole..]
            .iter()
            .fold(maxima.reduce_max(), |m, &v| m.max(v));
        let shift = V::splat(max);
        // The sum in a fixed association whatever the vector's width, so that every
        // instruction set gives the same bits: `SUM_LANES` partial sums, partial sum `j`
        // taking the elements `j, j + SUM_LANES, …` in order (one vector of them per
        // `V::LANES`), then added up in order of `j`.
        let vectors = SUM_LANES / V::LANES;
        let mut sums = [V::zero(); SUM_LANES];
        for block in (0..len).step_by(SUM_LANES) {
            for (v, sum) in sums.iter_mut().enumerate().take(vectors) {
                let k = block + v * V::LANES;
                if k >= len {
                    break;
                }
                let n = V::LANES.min(len - k);
                let e = exp(load_n::<V>(logits.as_ptr().add(k), n).sub(shift));
                store_n(e, scratch.as_mut_ptr().add(k), n);
                // Only the row's lanes count.
                *sum = sum.add(load_n::<V>(scratch.as_ptr().add(k), n));
            }
        }
        let mut lanes = [0.0f32; SUM_LANES];
        for (v, sum) in sums.iter().enumerate().take(vectors) {
            sum.store(lanes.as_mut_ptr().add(v * V::LANES));
        }
        max + lanes.iter().fold(0.0f32, |total, &lane| total + lane).ln()
    }
}

/// The partial sums of [`log_sum_exp_row`]'s vectors: a multiple of every vector width (8
/// for AVX2, 16 for AVX-512), so that the sum's association is the same for all.
const SUM_LANES: usize = 16;

/// `row ← exp(row − log_sum_exp) · scale`: a row of logits turned into its softmax, scaled.
pub(crate) fn softmax_gradient_row<E: Elem>(
    kernel: CpuKernel,
    row: &mut [E],
    log_sum_exp: E,
    scale: E,
) {
    if let Some(row) = E::as_f32_mut(row) {
        let shift = num_traits::ToPrimitive::to_f32(&log_sum_exp).expect("f32");
        let scale = num_traits::ToPrimitive::to_f32(&scale).expect("f32");
        // SAFETY: the pass reads and writes only inside the row.
        if unsafe { kernel.simd(SoftmaxRow { row, shift, scale }) }.is_some() {
            return;
        }
    }
    for v in row.iter_mut() {
        *v = (*v - log_sum_exp).exp_activation() * scale;
    }
}

/// [`softmax_gradient_row`]'s operands, as work for an instruction set.
struct SoftmaxRow<'a> {
    row: &'a mut [f32],
    shift: f32,
    scale: f32,
}

impl Work for SoftmaxRow<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<S: InstructionSet>(self) {
        // SAFETY: the instruction set is the caller's promise.
        unsafe { softmax_gradient_simd::<S::F32>(self.row, self.shift, self.scale) }
    }
}

#[inline(always)]
unsafe fn softmax_gradient_simd<V: SimdF32>(row: &mut [f32], shift: f32, scale: f32) {
    let len = row.len();
    // SAFETY: every access is below `len`; the vector instructions are the caller's promise.
    unsafe {
        let (shift, scale) = (V::splat(shift), V::splat(scale));
        for k in (0..len).step_by(V::LANES) {
            let n = V::LANES.min(len - k);
            let ptr = row.as_mut_ptr().add(k);
            store_n(exp(load_n::<V>(ptr, n).sub(shift)).mul(scale), ptr, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made-up values in about [-4, 4].
    fn values(len: usize, seed: usize) -> Vec<f32> {
        crate::cpu::made_up_values(len, seed, 4.0)
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn simd_softmax_rows_match_the_plain_loops() {
        let kernels = CpuKernel::available();
        for &len in &[1usize, 7, 16, 33, 1000] {
            // All negative logits, so that a masked lane's zero would be a wrong maximum.
            let logits: Vec<f32> = values(len, 6).iter().map(|v| v - 10.0).collect();
            let mut scratch = vec![0.0; len];
            let reference = log_sum_exp_row(CpuKernel::Gemm, &logits, &mut scratch);
            let exact = {
                let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
                max + logits
                    .iter()
                    .map(|&v| (v as f64 - max).exp())
                    .sum::<f64>()
                    .ln()
            };
            assert!(
                (reference as f64 - exact).abs() < 1e-5,
                "plain log-sum-exp, {len}"
            );
            let mut reference_row = logits.clone();
            softmax_gradient_row(CpuKernel::Gemm, &mut reference_row, reference, 0.5);
            // The tile kernels' instruction sets give the same bits (the sum's association
            // does not depend on the vector's width).
            let simd: Vec<u32> = kernels
                .iter()
                .filter(|&&kernel| kernel != CpuKernel::Gemm)
                .map(|&kernel| log_sum_exp_row(kernel, &logits, &mut vec![0.0; len]).to_bits())
                .collect();
            assert!(
                simd.windows(2).all(|pair| pair[0] == pair[1]),
                "{len}: {simd:?}"
            );
            for &kernel in &kernels {
                let mut scratch_simd = vec![0.0; len];
                let value = log_sum_exp_row(kernel, &logits, &mut scratch_simd);
                assert!(
                    (value - reference).abs() < 1e-5,
                    "{kernel:?} log-sum-exp, {len}"
                );
                assert!(
                    max_difference(&scratch_simd, &scratch) < 1e-6,
                    "{kernel:?} exps, {len}"
                );
                let mut row = logits.clone();
                softmax_gradient_row(kernel, &mut row, reference, 0.5);
                assert!(
                    max_difference(&row, &reference_row) < 1e-7,
                    "{kernel:?} softmax, {len}"
                );
            }
        }
    }
}
