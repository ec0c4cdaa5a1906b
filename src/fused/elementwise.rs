//! The host's element-wise passes: the gate activations and state update of a step, their
//! gradient, and the softmax rows of the fused cross-entropy.
//!
//! In f32 each pass is written once over a SIMD vector ([`super::simd`]) and compiled for
//! AVX-512 and for AVX2; which of them runs ([`Isa`]) is measured once per process like the
//! products' kernels (see [`elementwise_isa`]) or follows a forced kernel. Rows whose length
//! is not a multiple of the vector go through masked loads and stores, so every element is
//! computed the same way. In f64, and on CPUs without the tile kernels, the passes are plain
//! loops with libm's functions (f64: exact) or the scalar approximations of
//! [`super::fastmath`] (f32).
//!
//! Gate columns are ordered input, forget, output, cell candidate: `z = [i | f | o | g]`, each
//! `H` wide.

use std::any::TypeId;

use super::host::Elem;
use super::kernel::{self, CpuKernel, Isa};
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2F32, Avx512F32};
use super::simd::{SimdF32, load_n, sigmoid, store_n, tanh};

/// The instruction set of the element-wise passes in `E`: forced with the kernel, else the
/// fastest of those this CPU runs at a step's gate pass (timed once per process).
pub(crate) fn elementwise_isa<E: Elem>() -> Isa {
    if !is_f32::<E>() {
        return Isa::Portable; // f64 passes are libm's, whatever the CPU
    }
    let mut trial: Option<GateTrial> = None;
    kernel::plan("element-wise F32 (gates)", |kernel: CpuKernel| {
        trial.get_or_insert_with(GateTrial::new).run(kernel.isa())
    })
    .isa()
}

/// A step's gate pass on a block of rows, for timing the instruction sets.
struct GateTrial {
    gates: Vec<f32>,
    bias: Vec<f32>,
    cell: Vec<f32>,
    hidden: Vec<f32>,
}

impl GateTrial {
    const ROWS: usize = 32;
    const HIDDEN: usize = 256;

    fn new() -> Self {
        let (rows, hidden) = (Self::ROWS, Self::HIDDEN);
        let value = |i: usize| (i * 7919 % 2000) as f32 / 500.0 - 2.0;
        Self {
            gates: (0..rows * 4 * hidden).map(value).collect(),
            bias: (0..4 * hidden).map(value).collect(),
            cell: vec![0.0; rows * hidden],
            hidden: vec![0.0; rows * hidden],
        }
    }

    fn run(&mut self, isa: Isa) {
        let mut gates = self.gates.clone();
        cell_rows(
            isa,
            &mut gates,
            &self.bias,
            &mut self.cell,
            &mut self.hidden,
            Self::HIDDEN,
        );
    }
}

fn is_f32<E: 'static>() -> bool {
    TypeId::of::<E>() == TypeId::of::<f32>()
}

/// `values` as f32, when `E` is f32.
fn as_f32<E: Elem>(values: &[E]) -> &[f32] {
    debug_assert!(is_f32::<E>());
    bytemuck::cast_slice(values)
}

fn as_f32_mut<E: Elem>(values: &mut [E]) -> &mut [f32] {
    debug_assert!(is_f32::<E>());
    bytemuck::cast_slice_mut(values)
}

/// Runs `$simd::<V>(args)` compiled for the vector instructions `isa` names (f32 only).
macro_rules! on_isa {
    ($isa:expr, $simd:ident($($arg:ident: $ty:ty),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) {
                // SAFETY: this function runs only where the CPU has AVX-512 (the caller's isa).
                unsafe { $simd::<Avx512F32>($($arg),*) }
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                // SAFETY: as above, with AVX2 and FMA.
                unsafe { $simd::<Avx2F32>($($arg),*) }
            }
            match $isa {
                // SAFETY: an `Isa` other than `Portable` is only ever one this CPU runs
                // (forced kernels and planned ones are checked by `CpuKernel::is_available`).
                Isa::Avx512 => unsafe { avx512($($arg),*) },
                Isa::Avx2 => unsafe { avx2($($arg),*) },
                Isa::Portable => unreachable!("portable passes take the plain loops"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = ($($arg,)*);
            unreachable!("only x86-64 has SIMD passes")
        }
    }};
}

/// A step's gates, per row: the pre-activations (plus `bias`, when given) become the
/// activations in place; `cell` goes from `c_{t-1}` to `c_t = f·c + i·g`; `activated` gets
/// `o·tanh(c_t)`.
///
/// - `gates`: `[rows, 4H]`; `bias`: `[4H]` or empty; `cell`, `activated`: `[rows, H]`
pub(crate) fn cell_rows<E: Elem>(
    isa: Isa,
    gates: &mut [E],
    bias: &[E],
    cell: &mut [E],
    activated: &mut [E],
    hidden: usize,
) {
    if is_f32::<E>() && isa != Isa::Portable {
        let (gates, bias) = (as_f32_mut(gates), as_f32(bias));
        let (cell, activated) = (as_f32_mut(cell), as_f32_mut(activated));
        return on_isa!(
            isa,
            cell_rows_simd(
                gates: &mut [f32],
                bias: &[f32],
                cell: &mut [f32],
                activated: &mut [f32],
                hidden: usize,
            )
        );
    }
    let width = 4 * hidden;
    for ((z, c), h) in gates
        .chunks_exact_mut(width)
        .zip(cell.chunks_exact_mut(hidden))
        .zip(activated.chunks_exact_mut(hidden))
    {
        if !bias.is_empty() {
            for (v, &b) in z.iter_mut().zip(bias) {
                *v = *v + b;
            }
        }
        for v in &mut z[..3 * hidden] {
            *v = v.sigmoid();
        }
        for v in &mut z[3 * hidden..] {
            *v = v.tanh_activation();
        }
        let (i, rest) = z.split_at(hidden);
        let (f, rest) = rest.split_at(hidden);
        let (o, g) = rest.split_at(hidden);
        for k in 0..hidden {
            let next = f[k] * c[k] + i[k] * g[k];
            c[k] = next;
            h[k] = o[k] * next.tanh_activation();
        }
    }
}

/// [`cell_rows`] on vectors of `V`: one pass over the four gates of each run of units.
#[inline(always)]
unsafe fn cell_rows_simd<V: SimdF32>(
    gates: &mut [f32],
    bias: &[f32],
    cell: &mut [f32],
    activated: &mut [f32],
    hidden: usize,
) {
    let rows = cell.len() / hidden.max(1);
    assert!(gates.len() >= rows * 4 * hidden && activated.len() >= rows * hidden);
    assert!(bias.is_empty() || bias.len() >= 4 * hidden);
    // SAFETY: every access is inside the row's `4H` gates and `H` states (asserted above);
    // the vector instructions are the caller's promise.
    unsafe {
        for row in 0..rows {
            let z = gates.as_mut_ptr().add(row * 4 * hidden);
            let c = cell.as_mut_ptr().add(row * hidden);
            let h = activated.as_mut_ptr().add(row * hidden);
            for k in (0..hidden).step_by(V::LANES) {
                let n = V::LANES.min(hidden - k);
                // One gate at a time, each stored when done: few values live at once, so
                // AVX2's sixteen registers hold them and the constants without spilling.
                let i = sigmoid(pre_activation::<V>(z, bias, k, n));
                store_n(i, z.add(k), n);
                let g = tanh(pre_activation::<V>(z, bias, 3 * hidden + k, n));
                store_n(g, z.add(3 * hidden + k), n);
                let input = i.mul(g);
                let f = sigmoid(pre_activation::<V>(z, bias, hidden + k, n));
                store_n(f, z.add(hidden + k), n);
                let next = f.mul_add(load_n::<V>(c.add(k), n), input);
                store_n(next, c.add(k), n);
                let o = sigmoid(pre_activation::<V>(z, bias, 2 * hidden + k, n));
                store_n(o, z.add(2 * hidden + k), n);
                store_n(o.mul(tanh(next)), h.add(k), n);
            }
        }
    }
}

/// `n` gate pre-activations at `offset` of a row `z`, plus the bias there when there is one.
///
/// (A function, not a closure: a closure is not compiled with its caller's target features,
/// and the intrinsics in it would stay calls.)
#[inline(always)]
unsafe fn pre_activation<V: SimdF32>(z: *const f32, bias: &[f32], offset: usize, n: usize) -> V {
    // SAFETY: by the caller's promise, `offset + n` lies inside the row and the bias.
    unsafe {
        let pre = load_n::<V>(z.add(offset), n);
        match bias.is_empty() {
            true => pre,
            false => pre.add(load_n::<V>(bias.as_ptr().add(offset), n)),
        }
    }
}

/// A step's gates backwards, per row: the activated gates become the gradient of their
/// pre-activations, in place; `grad_cell` goes from the gradient of `c_t` to that of
/// `c_{t-1}`.
///
/// - `gates`: `[rows, 4H]`; `cells`, `previous_cells`: `c_t`, `c_{t-1}`, `[rows, H]`;
///   `grad_activated`: the gradient of `o·tanh(c_t)`, `[rows, H]`; `grad_cell`: `[rows, H]`
pub(crate) fn cell_gradient_rows<E: Elem>(
    isa: Isa,
    gates: &mut [E],
    cells: &[E],
    previous_cells: &[E],
    grad_activated: &[E],
    grad_cell: &mut [E],
    hidden: usize,
) {
    if is_f32::<E>() && isa != Isa::Portable {
        let gates = as_f32_mut(gates);
        let (cells, previous_cells) = (as_f32(cells), as_f32(previous_cells));
        let (grad_activated, grad_cell) = (as_f32(grad_activated), as_f32_mut(grad_cell));
        return on_isa!(
            isa,
            cell_gradient_rows_simd(
                gates: &mut [f32],
                cells: &[f32],
                previous_cells: &[f32],
                grad_activated: &[f32],
                grad_cell: &mut [f32],
                hidden: usize,
            )
        );
    }
    let one = E::one();
    let width = 4 * hidden;
    for (row, z) in gates.chunks_exact_mut(width).enumerate() {
        let range = row * hidden..(row + 1) * hidden;
        let (c, c_prev) = (&cells[range.clone()], &previous_cells[range.clone()]);
        let (dh, dc) = (&grad_activated[range.clone()], &mut grad_cell[range]);
        let (i, rest) = z.split_at_mut(hidden);
        let (f, rest) = rest.split_at_mut(hidden);
        let (o, g) = rest.split_at_mut(hidden);
        for k in 0..hidden {
            let (ik, fk, ok, gk) = (i[k], f[k], o[k], g[k]);
            let tanh = c[k].tanh_activation();
            let dc_total = dc[k] + dh[k] * ok * (one - tanh * tanh);
            i[k] = dc_total * gk * ik * (one - ik);
            f[k] = dc_total * c_prev[k] * fk * (one - fk);
            o[k] = dh[k] * tanh * ok * (one - ok);
            g[k] = dc_total * ik * (one - gk * gk);
            dc[k] = dc_total * fk;
        }
    }
}

#[inline(always)]
unsafe fn cell_gradient_rows_simd<V: SimdF32>(
    gates: &mut [f32],
    cells: &[f32],
    previous_cells: &[f32],
    grad_activated: &[f32],
    grad_cell: &mut [f32],
    hidden: usize,
) {
    let rows = grad_cell.len() / hidden.max(1);
    assert!(gates.len() >= rows * 4 * hidden);
    assert!(
        cells
            .len()
            .min(previous_cells.len())
            .min(grad_activated.len())
            >= rows * hidden
    );
    // SAFETY: as for `cell_rows_simd`.
    unsafe {
        let one = V::splat(1.0);
        for row in 0..rows {
            let z = gates.as_mut_ptr().add(row * 4 * hidden);
            let base = row * hidden;
            let dc_ptr = grad_cell.as_mut_ptr().add(base);
            for k in (0..hidden).step_by(V::LANES) {
                let n = V::LANES.min(hidden - k);
                let i = load_n::<V>(z.add(k), n);
                let f = load_n::<V>(z.add(hidden + k), n);
                let o = load_n::<V>(z.add(2 * hidden + k), n);
                let g = load_n::<V>(z.add(3 * hidden + k), n);
                let tanh_c = tanh(load_n::<V>(cells.as_ptr().add(base + k), n));
                let c_prev = load_n::<V>(previous_cells.as_ptr().add(base + k), n);
                let dh = load_n::<V>(grad_activated.as_ptr().add(base + k), n);
                let dc = load_n::<V>(dc_ptr.add(k), n);
                // dc_total = dc + dh·o·(1 − tanh²c)
                let dc_total = dh.mul(o).mul(one.sub(tanh_c.mul(tanh_c))).add(dc);
                let di = dc_total.mul(g).mul(i.mul(one.sub(i)));
                let df = dc_total.mul(c_prev).mul(f.mul(one.sub(f)));
                let d_o = dh.mul(tanh_c).mul(o.mul(one.sub(o)));
                let dg = dc_total.mul(i).mul(one.sub(g.mul(g)));
                store_n(di, z.add(k), n);
                store_n(df, z.add(hidden + k), n);
                store_n(d_o, z.add(2 * hidden + k), n);
                store_n(dg, z.add(3 * hidden + k), n);
                store_n(dc_total.mul(f), dc_ptr.add(k), n);
            }
        }
    }
}

/// `o·tanh(c)` again, from activated gates and cell states (the projection's input in the
/// backward pass of an LSTMP).
///
/// - `gates`: `[rows, 4H]`; `cells`, `activated`: `[rows, H]`
pub(crate) fn activated_rows<E: Elem>(
    isa: Isa,
    gates: &[E],
    cells: &[E],
    activated: &mut [E],
    hidden: usize,
) {
    if is_f32::<E>() && isa != Isa::Portable {
        let (gates, cells, activated) = (as_f32(gates), as_f32(cells), as_f32_mut(activated));
        return on_isa!(
            isa,
            activated_rows_simd(
                gates: &[f32],
                cells: &[f32],
                activated: &mut [f32],
                hidden: usize
            )
        );
    }
    for ((z, c), h) in gates
        .chunks_exact(4 * hidden)
        .zip(cells.chunks_exact(hidden))
        .zip(activated.chunks_exact_mut(hidden))
    {
        for k in 0..hidden {
            h[k] = z[2 * hidden + k] * c[k].tanh_activation();
        }
    }
}

#[inline(always)]
unsafe fn activated_rows_simd<V: SimdF32>(
    gates: &[f32],
    cells: &[f32],
    activated: &mut [f32],
    hidden: usize,
) {
    let rows = cells.len() / hidden.max(1);
    assert!(gates.len() >= rows * 4 * hidden && activated.len() >= rows * hidden);
    // SAFETY: as for `cell_rows_simd`.
    unsafe {
        for row in 0..rows {
            let o = gates.as_ptr().add(row * 4 * hidden + 2 * hidden);
            let c = cells.as_ptr().add(row * hidden);
            let h = activated.as_mut_ptr().add(row * hidden);
            for k in (0..hidden).step_by(V::LANES) {
                let n = V::LANES.min(hidden - k);
                let value = load_n::<V>(o.add(k), n).mul(tanh(load_n::<V>(c.add(k), n)));
                store_n(value, h.add(k), n);
            }
        }
    }
}

/// `log Σ exp(logits)`, computed stably (the maximum taken out first); `scratch` (as long as
/// `logits`) receives `exp(logit − max)`.
pub(crate) fn log_sum_exp_row<E: Elem>(isa: Isa, logits: &[E], scratch: &mut [E]) -> E {
    assert!(scratch.len() >= logits.len());
    if is_f32::<E>() && isa != Isa::Portable {
        let (logits, scratch) = (as_f32(logits), as_f32_mut(scratch));
        let mut out = 0.0f32;
        let out_ref = &mut out;
        on_isa!(
            isa,
            log_sum_exp_simd(logits: &[f32], scratch: &mut [f32], out_ref: &mut f32)
        );
        return E::from(out).expect("f32");
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

#[inline(always)]
unsafe fn log_sum_exp_simd<V: SimdF32>(logits: &[f32], scratch: &mut [f32], out: &mut f32) {
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
        let mut sums = V::zero();
        for k in (0..len).step_by(V::LANES) {
            let n = V::LANES.min(len - k);
            let e = super::simd::exp(load_n::<V>(logits.as_ptr().add(k), n).sub(shift));
            store_n(e, scratch.as_mut_ptr().add(k), n);
            // Only the row's lanes count.
            sums = sums.add(load_n::<V>(scratch.as_ptr().add(k), n));
        }
        *out = max + sums.reduce_add().ln();
    }
}

/// `row ← exp(row − log_sum_exp) · scale`: a row of logits turned into its softmax, scaled.
pub(crate) fn softmax_gradient_row<E: Elem>(isa: Isa, row: &mut [E], log_sum_exp: E, scale: E) {
    if is_f32::<E>() && isa != Isa::Portable {
        let row = as_f32_mut(row);
        let shift = num_traits::ToPrimitive::to_f32(&log_sum_exp).expect("f32");
        let scale = num_traits::ToPrimitive::to_f32(&scale).expect("f32");
        return on_isa!(
            isa,
            softmax_gradient_simd(row: &mut [f32], shift: f32, scale: f32)
        );
    }
    for v in row.iter_mut() {
        *v = (*v - log_sum_exp).exp_activation() * scale;
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
            store_n(
                super::simd::exp(load_n::<V>(ptr, n).sub(shift)).mul(scale),
                ptr,
                n,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made-up values in about [-4, 4].
    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 8000) as f32 / 1000.0 - 4.0)
            .collect()
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Every instruction set this CPU runs gives the plain loops' values (within the
    /// approximations' 2e-7, a few ulp after the arithmetic), for hidden sizes that leave
    /// partial vectors.
    #[test]
    fn simd_passes_match_the_plain_loops() {
        let isas: Vec<Isa> = CpuKernel::available().iter().map(|k| k.isa()).collect();
        for &hidden in &[1usize, 5, 16, 50, 67] {
            let rows = 3;
            let gates = values(rows * 4 * hidden, 1);
            let bias = values(4 * hidden, 2);
            let cell = values(rows * hidden, 3);
            let reference = {
                let (mut z, mut c, mut h) = (gates.clone(), cell.clone(), vec![0.0; rows * hidden]);
                cell_rows(Isa::Portable, &mut z, &bias, &mut c, &mut h, hidden);
                (z, c, h)
            };
            let grad_activated = values(rows * hidden, 4);
            let grad_cell = values(rows * hidden, 5);
            let reference_backward = {
                let (mut z, mut dc) = (reference.0.clone(), grad_cell.clone());
                cell_gradient_rows(
                    Isa::Portable,
                    &mut z,
                    &reference.1,
                    &cell,
                    &grad_activated,
                    &mut dc,
                    hidden,
                );
                (z, dc)
            };
            let mut reference_activated = vec![0.0; rows * hidden];
            activated_rows(
                Isa::Portable,
                &reference.0,
                &reference.1,
                &mut reference_activated,
                hidden,
            );
            for &isa in &isas {
                let (mut z, mut c, mut h) = (gates.clone(), cell.clone(), vec![0.0; rows * hidden]);
                cell_rows(isa, &mut z, &bias, &mut c, &mut h, hidden);
                assert!(
                    max_difference(&z, &reference.0) < 1e-6,
                    "{isa:?} gates H{hidden}"
                );
                assert!(
                    max_difference(&c, &reference.1) < 1e-5,
                    "{isa:?} cell H{hidden}"
                );
                assert!(
                    max_difference(&h, &reference.2) < 1e-6,
                    "{isa:?} hidden H{hidden}"
                );
                let (mut z, mut dc) = (reference.0.clone(), grad_cell.clone());
                cell_gradient_rows(
                    isa,
                    &mut z,
                    &reference.1,
                    &cell,
                    &grad_activated,
                    &mut dc,
                    hidden,
                );
                assert!(
                    max_difference(&z, &reference_backward.0) < 1e-5,
                    "{isa:?} dz H{hidden}"
                );
                assert!(
                    max_difference(&dc, &reference_backward.1) < 1e-5,
                    "{isa:?} dc H{hidden}"
                );
                let mut activated = vec![0.0; rows * hidden];
                activated_rows(isa, &reference.0, &reference.1, &mut activated, hidden);
                assert!(
                    max_difference(&activated, &reference_activated) < 1e-6,
                    "{isa:?} o·tanh c"
                );
            }
        }
    }

    #[test]
    fn simd_softmax_rows_match_the_plain_loops() {
        let isas: Vec<Isa> = CpuKernel::available().iter().map(|k| k.isa()).collect();
        for &len in &[1usize, 7, 16, 33, 1000] {
            // All negative logits, so that a masked lane's zero would be a wrong maximum.
            let logits: Vec<f32> = values(len, 6).iter().map(|v| v - 10.0).collect();
            let mut scratch = vec![0.0; len];
            let reference = log_sum_exp_row(Isa::Portable, &logits, &mut scratch);
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
            softmax_gradient_row(Isa::Portable, &mut reference_row, reference, 0.5);
            for &isa in &isas {
                let mut scratch_simd = vec![0.0; len];
                let value = log_sum_exp_row(isa, &logits, &mut scratch_simd);
                assert!(
                    (value - reference).abs() < 1e-5,
                    "{isa:?} log-sum-exp, {len}"
                );
                assert!(
                    max_difference(&scratch_simd, &scratch) < 1e-6,
                    "{isa:?} exps, {len}"
                );
                let mut row = logits.clone();
                softmax_gradient_row(isa, &mut row, reference, 0.5);
                assert!(
                    max_difference(&row, &reference_row) < 1e-7,
                    "{isa:?} softmax, {len}"
                );
            }
        }
    }
}
