//! Products of a few rows by a large row-major right-hand side, read once in the order it is
//! stored: the output layer's logits while generating (one row by a `[F, V]` weight), where
//! the time is that of bringing the weight from memory, not of the arithmetic.
//!
//! A general product (the gemm crate's) walks such a right-hand side a narrow column panel at
//! a time, every panel a stride through all `F` rows: hundreds of short streams, which the
//! hardware prefetchers follow poorly. Here each pass reads [`DEPTH_GROUP`] whole rows of the
//! right-hand side (a few long streams) and adds them into the output rows, which stay in L1.
//!
//! Each output is the chain of fused multiply-adds over `k` in order, starting from zero,
//! whatever the instruction set, the vector width or the columns a call is given: every way
//! of running it gives the same bits.

use super::isa::CpuKernel;
use super::simd::{InstructionSet, Simd, Work, load_n, store_n};

/// Rows of the right-hand side one pass adds into the output: as many streams as the
/// prefetchers follow well, and the output read and written once per group.
const DEPTH_GROUP: usize = 8;

/// Output floats a column block keeps in L1 (16 KB, half of the smallest L1 seen).
const BLOCK_FLOATS: usize = 4096;

/// A few-row product's operands: `lhs` `[rows, depth]` (row-major), `rhs` row-major with rows
/// of `rhs_row` elements, of which the columns `first..first + columns` are taken.
#[derive(Clone, Copy)]
pub(crate) struct FewRows<'a> {
    pub(crate) lhs: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) depth: usize,
    pub(crate) rhs: &'a [f32],
    pub(crate) rhs_row: usize,
    pub(crate) first: usize,
    pub(crate) columns: usize,
}

/// `dst[r, c] = Σ_k lhs[r, k] · rhs[k, first + c]` (`dst`: `[rows, columns]`, overwritten), with
/// `kernel`'s vectors; `false` (nothing written) when the kernel has none (the portable one).
///
/// # Panics
/// When a slice is shorter than its shape.
pub(crate) fn few_rows_product(kernel: CpuKernel, operands: FewRows<'_>, dst: &mut [f32]) -> bool {
    operands.assert_fits(dst.len());
    // SAFETY: every index the pass forms is inside the slices (asserted above).
    unsafe { kernel.simd(Stream { operands, dst }) }.is_some()
}

impl FewRows<'_> {
    /// Panics unless every slice holds its shape (`dst_len`: the destination's length).
    fn assert_fits(&self, dst_len: usize) {
        let (rows, depth, columns) = (self.rows, self.depth, self.columns);
        assert!(
            self.lhs.len() >= rows * depth,
            "few-row product: lhs too small"
        );
        assert!(dst_len >= rows * columns, "few-row product: dst too small");
        if depth > 0 && columns > 0 {
            let last = (depth - 1) * self.rhs_row + self.first + columns;
            assert!(
                self.first + columns <= self.rhs_row && self.rhs.len() >= last,
                "few-row product: rhs too small"
            );
        }
    }
}

/// [`few_rows_product`]'s operands, as work for an instruction set.
struct Stream<'a, 'b> {
    operands: FewRows<'a>,
    dst: &'b mut [f32],
}

impl Work for Stream<'_, '_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<S: InstructionSet>(self) {
        // SAFETY: the caller's promise.
        unsafe { stream_simd::<S::F32>(self.operands, self.dst) }
    }
}

#[inline(always)]
unsafe fn stream_simd<V: Simd<Elem = f32>>(operands: FewRows<'_>, dst: &mut [f32]) {
    let FewRows {
        lhs,
        rows,
        depth,
        rhs,
        rhs_row,
        first,
        columns,
    } = operands;
    dst[..rows * columns].fill(0.0);
    let block = (BLOCK_FLOATS / rows.max(1)).max(V::LANES) / V::LANES * V::LANES;
    // SAFETY: the caller checked every slice against the shape; the vector instructions are
    // the caller's promise.
    unsafe {
        for start in (0..columns).step_by(block) {
            let width = block.min(columns - start);
            for k0 in (0..depth).step_by(DEPTH_GROUP) {
                let group = DEPTH_GROUP.min(depth - k0);
                let weights = rhs.as_ptr().add(k0 * rhs_row + first + start);
                for r in 0..rows {
                    // The row's multipliers of the group, each in every lane.
                    let mut scale = [V::zero(); DEPTH_GROUP];
                    for (i, s) in scale.iter_mut().enumerate().take(group) {
                        *s = V::splat(lhs[r * depth + k0 + i]);
                    }
                    let out = dst.as_mut_ptr().add(r * columns + start);
                    for j in (0..width).step_by(V::LANES) {
                        let n = V::LANES.min(width - j);
                        let mut sum = load_n::<V>(out.add(j), n);
                        for (i, s) in scale.iter().enumerate().take(group) {
                            let w = load_n::<V>(weights.add(i * rhs_row + j), n);
                            sum = s.mul_add(w, sum);
                        }
                        store_n(sum, out.add(j), n);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain of fused multiply-adds in `k` order, one output at a time.
    fn chained(operands: FewRows<'_>) -> Vec<f32> {
        let mut out = vec![0.0f32; operands.rows * operands.columns];
        for r in 0..operands.rows {
            for c in 0..operands.columns {
                let mut sum = 0.0f32;
                for k in 0..operands.depth {
                    let w = operands.rhs[k * operands.rhs_row + operands.first + c];
                    sum = operands.lhs[r * operands.depth + k].mul_add(w, sum);
                }
                out[r * operands.columns + c] = sum;
            }
        }
        out
    }

    /// Every vector kernel gives each output the chain of fused multiply-adds in `k` order,
    /// bit for bit, over shapes with partial vectors, partial depth groups, several column
    /// blocks and a column window inside the right-hand side.
    #[test]
    fn every_kernel_gives_the_chain_in_k_order() {
        let value = |i: usize| ((i * 7919 + 13) % 2003) as f32 / 1001.0 - 1.0;
        let kernels: Vec<CpuKernel> = CpuKernel::available()
            .into_iter()
            .filter(|&k| k != CpuKernel::Gemm)
            .collect();
        for (rows, depth, rhs_row, first, columns) in [
            (1, 200, 10_000, 0, 10_000),
            (1, 13, 37, 3, 29),
            (3, 9, 5000, 1000, 3999),
            (15, 17, 300, 7, 290),
        ] {
            let lhs: Vec<f32> = (0..rows * depth).map(value).collect();
            let rhs: Vec<f32> = (0..depth * rhs_row).map(|i| value(i + 5)).collect();
            let operands = FewRows {
                lhs: &lhs,
                rows,
                depth,
                rhs: &rhs,
                rhs_row,
                first,
                columns,
            };
            let expected = chained(operands);
            for &kernel in &kernels {
                let mut dst = vec![f32::NAN; rows * columns];
                assert!(few_rows_product(kernel, operands, &mut dst));
                let same = dst
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{kernel} at {rows}×{depth}·{columns}");
            }
        }
    }

    #[test]
    fn the_portable_kernel_declines() {
        let operands = FewRows {
            lhs: &[1.0],
            rows: 1,
            depth: 1,
            rhs: &[2.0],
            rhs_row: 1,
            first: 0,
            columns: 1,
        };
        let mut dst = [0.0];
        assert!(!few_rows_product(CpuKernel::Gemm, operands, &mut dst));
    }
}
