//! The gate passes of a step on the host: the activations and state update, their gradient,
//! and `o·tanh(c)` again for an LSTMP's backward pass.
//!
//! In f32 each pass is written once over a SIMD vector ([`crate::cpu::simd`]) and compiled for
//! every instruction set the CPU runs; which of them runs is measured once per process like
//! the products' kernels ([`elementwise_kernel`]) or follows a forced kernel. Rows whose length
//! is not a multiple of the vector go through masked loads and stores, so every element is
//! computed the same way. In f64, and on CPUs without the tile kernels, the passes are plain
//! loops with libm's functions (f64: exact) or the scalar approximations of
//! [`crate::cpu::fastmath`] (f32).
//!
//! Gate columns are ordered input, forget, output, cell candidate: `z = [i | f | o | g]`, each
//! `H` wide.

use crate::cpu::elem::Elem;
use crate::cpu::isa::CpuKernel;
use crate::cpu::planner;
use crate::cpu::simd::{InstructionSet, SimdF32, Work, load_n, sigmoid, store_n, tanh};

/// The kernel of the element-wise passes in `E`: forced with the kernel, else the fastest of
/// those this CPU runs at a step's gate pass (timed once per process); the portable kernel
/// for f64, whose passes are libm's whatever the CPU.
pub(crate) fn elementwise_kernel<E: Elem>() -> CpuKernel {
    if E::dtype() != burn::tensor::DType::F32 {
        return CpuKernel::Gemm;
    }
    let mut trial: Option<GateTrial> = None;
    planner::plan("element-wise F32 (gates)", |kernel: CpuKernel| {
        trial.get_or_insert_with(GateTrial::new).run(kernel)
    })
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

    fn run(&mut self, kernel: CpuKernel) {
        let mut gates = self.gates.clone();
        cell_rows(
            kernel,
            &mut gates,
            &self.bias,
            &mut self.cell,
            &mut self.hidden,
            (Self::HIDDEN, true),
        );
    }
}

/// A step's gates, per row: the pre-activations (plus `bias`, when given) become the
/// activations in place (with `keep_gates`; else the SIMD passes leave them, for inference,
/// which never reads them again); `cell` goes from `c_{t-1}` to `c_t = f·c + i·g`;
/// `activated` gets `o·tanh(c_t)`.
///
/// - `gates`: `[rows, 4H]`; `bias`: `[4H]` or empty; `cell`, `activated`: `[rows, H]`
pub(crate) fn cell_rows<E: Elem>(
    kernel: CpuKernel,
    gates: &mut [E],
    bias: &[E],
    cell: &mut [E],
    activated: &mut [E],
    (hidden, keep_gates): (usize, bool),
) {
    if let (Some(gates), Some(bias), Some(cell), Some(activated)) = (
        E::as_f32_mut(gates),
        E::as_f32(bias),
        E::as_f32_mut(cell),
        E::as_f32_mut(activated),
    ) {
        let work = CellRows {
            gates,
            bias,
            cell,
            activated,
            hidden,
            keep_gates,
        };
        // SAFETY: the pass checks its slices' lengths itself.
        if unsafe { kernel.simd(work) }.is_some() {
            return;
        }
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

/// [`cell_rows`]' operands, as work for an instruction set.
struct CellRows<'a> {
    gates: &'a mut [f32],
    bias: &'a [f32],
    cell: &'a mut [f32],
    activated: &'a mut [f32],
    hidden: usize,
    keep_gates: bool,
}

impl Work for CellRows<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<S: InstructionSet>(self) {
        let CellRows {
            gates,
            bias,
            cell,
            activated,
            hidden,
            keep_gates,
        } = self;
        // SAFETY: the instruction set is the caller's promise.
        unsafe {
            match keep_gates {
                true => cell_rows_simd::<S::F32, true>(gates, bias, cell, activated, hidden),
                false => cell_rows_simd::<S::F32, false>(gates, bias, cell, activated, hidden),
            }
        }
    }
}

/// [`cell_rows`] on vectors of `V`: one pass over the four gates of each run of units; the
/// activations stored over the pre-activations with `KEEP`.
#[inline(always)]
unsafe fn cell_rows_simd<V: SimdF32, const KEEP: bool>(
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
                keep::<V, KEEP>(i, z.add(k), n);
                let g = tanh(pre_activation::<V>(z, bias, 3 * hidden + k, n));
                keep::<V, KEEP>(g, z.add(3 * hidden + k), n);
                let input = i.mul(g);
                let f = sigmoid(pre_activation::<V>(z, bias, hidden + k, n));
                keep::<V, KEEP>(f, z.add(hidden + k), n);
                let next = f.mul_add(load_n::<V>(c.add(k), n), input);
                store_n(next, c.add(k), n);
                let o = sigmoid(pre_activation::<V>(z, bias, 2 * hidden + k, n));
                keep::<V, KEEP>(o, z.add(2 * hidden + k), n);
                store_n(o.mul(tanh(next)), h.add(k), n);
            }
        }
    }
}

/// Stores an activated gate's `n` values over its pre-activations at `to`, with `KEEP`.
///
/// (A function, not a closure: see [`pre_activation`].)
///
/// # Safety
/// `to..to + n` lies inside the row; the vector instructions are the caller's promise.
#[inline(always)]
unsafe fn keep<V: SimdF32, const KEEP: bool>(gate: V, to: *mut f32, n: usize) {
    if KEEP {
        // SAFETY: by the caller's promise.
        unsafe { store_n(gate, to, n) }
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
    kernel: CpuKernel,
    gates: &mut [E],
    cells: &[E],
    previous_cells: &[E],
    grad_activated: &[E],
    grad_cell: &mut [E],
    hidden: usize,
) {
    if let (Some(gates), Some(cells), Some(previous_cells), Some(grad_activated), Some(grad_cell)) = (
        E::as_f32_mut(gates),
        E::as_f32(cells),
        E::as_f32(previous_cells),
        E::as_f32(grad_activated),
        E::as_f32_mut(grad_cell),
    ) {
        let work = CellGradientRows {
            gates,
            cells,
            previous_cells,
            grad_activated,
            grad_cell,
            hidden,
        };
        // SAFETY: the pass checks its slices' lengths itself.
        if unsafe { kernel.simd(work) }.is_some() {
            return;
        }
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

/// [`cell_gradient_rows`]' operands, as work for an instruction set.
struct CellGradientRows<'a> {
    gates: &'a mut [f32],
    cells: &'a [f32],
    previous_cells: &'a [f32],
    grad_activated: &'a [f32],
    grad_cell: &'a mut [f32],
    hidden: usize,
}

impl Work for CellGradientRows<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<S: InstructionSet>(self) {
        let CellGradientRows {
            gates,
            cells,
            previous_cells,
            grad_activated,
            grad_cell,
            hidden,
        } = self;
        // SAFETY: the instruction set is the caller's promise.
        unsafe {
            cell_gradient_rows_simd::<S::F32>(
                gates,
                cells,
                previous_cells,
                grad_activated,
                grad_cell,
                hidden,
            )
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
    kernel: CpuKernel,
    gates: &[E],
    cells: &[E],
    activated: &mut [E],
    hidden: usize,
) {
    if let (Some(gates), Some(cells), Some(activated)) =
        (E::as_f32(gates), E::as_f32(cells), E::as_f32_mut(activated))
    {
        let work = ActivatedRows {
            gates,
            cells,
            activated,
            hidden,
        };
        // SAFETY: the pass checks its slices' lengths itself.
        if unsafe { kernel.simd(work) }.is_some() {
            return;
        }
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

/// [`activated_rows`]' operands, as work for an instruction set.
struct ActivatedRows<'a> {
    gates: &'a [f32],
    cells: &'a [f32],
    activated: &'a mut [f32],
    hidden: usize,
}

impl Work for ActivatedRows<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<S: InstructionSet>(self) {
        let ActivatedRows {
            gates,
            cells,
            activated,
            hidden,
        } = self;
        // SAFETY: the instruction set is the caller's promise.
        unsafe { activated_rows_simd::<S::F32>(gates, cells, activated, hidden) }
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

    /// Every instruction set this CPU runs gives the plain loops' values (within the
    /// approximations' 2e-7, a few ulp after the arithmetic), for hidden sizes that leave
    /// partial vectors.
    #[test]
    fn simd_passes_match_the_plain_loops() {
        let kernels = CpuKernel::available();
        for &hidden in &[1usize, 5, 16, 50, 67] {
            let rows = 3;
            let gates = values(rows * 4 * hidden, 1);
            let bias = values(4 * hidden, 2);
            let cell = values(rows * hidden, 3);
            let reference = {
                let (mut z, mut c, mut h) = (gates.clone(), cell.clone(), vec![0.0; rows * hidden]);
                cell_rows(
                    CpuKernel::Gemm,
                    &mut z,
                    &bias,
                    &mut c,
                    &mut h,
                    (hidden, true),
                );
                (z, c, h)
            };
            let grad_activated = values(rows * hidden, 4);
            let grad_cell = values(rows * hidden, 5);
            let reference_backward = {
                let (mut z, mut dc) = (reference.0.clone(), grad_cell.clone());
                cell_gradient_rows(
                    CpuKernel::Gemm,
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
                CpuKernel::Gemm,
                &reference.0,
                &reference.1,
                &mut reference_activated,
                hidden,
            );
            for &kernel in &kernels {
                let (mut z, mut c, mut h) = (gates.clone(), cell.clone(), vec![0.0; rows * hidden]);
                cell_rows(kernel, &mut z, &bias, &mut c, &mut h, (hidden, true));
                assert!(
                    max_difference(&z, &reference.0) < 1e-6,
                    "{kernel:?} gates H{hidden}"
                );
                assert!(
                    max_difference(&c, &reference.1) < 1e-5,
                    "{kernel:?} cell H{hidden}"
                );
                assert!(
                    max_difference(&h, &reference.2) < 1e-6,
                    "{kernel:?} hidden H{hidden}"
                );
                // Inference's pass, which need not keep the activated gates: the same state.
                let (mut z, mut c_inference, mut h_inference) =
                    (gates.clone(), cell.clone(), vec![0.0; rows * hidden]);
                let pass = (hidden, false);
                cell_rows(
                    kernel,
                    &mut z,
                    &bias,
                    &mut c_inference,
                    &mut h_inference,
                    pass,
                );
                assert_eq!(c_inference, c, "{kernel:?} inference cell H{hidden}");
                assert_eq!(h_inference, h, "{kernel:?} inference hidden H{hidden}");
                let (mut z, mut dc) = (reference.0.clone(), grad_cell.clone());
                cell_gradient_rows(
                    kernel,
                    &mut z,
                    &reference.1,
                    &cell,
                    &grad_activated,
                    &mut dc,
                    hidden,
                );
                assert!(
                    max_difference(&z, &reference_backward.0) < 1e-5,
                    "{kernel:?} dz H{hidden}"
                );
                assert!(
                    max_difference(&dc, &reference_backward.1) < 1e-5,
                    "{kernel:?} dc H{hidden}"
                );
                let mut activated = vec![0.0; rows * hidden];
                activated_rows(kernel, &reference.0, &reference.1, &mut activated, hidden);
                assert!(
                    max_difference(&activated, &reference_activated) < 1e-6,
                    "{kernel:?} o·tanh c"
                );
            }
        }
    }
}
