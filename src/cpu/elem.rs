//! The element types of the CPU kernels (f32, f64) with their activations and the way into
//! each instruction set's vectors of them, matrix products through the `gemm` crate (the
//! kernels burn-flex itself uses), and buffers a thread team writes row by row.

use gemm::{Parallelism, gemm};
use num_traits::Float;

use super::fastmath;
use super::simd::InstructionSet;
use super::tile::{self, TileProduct};

/// The element types the fused kernels run in, with their activations: f32 uses the
/// vectorisable approximations of [`fastmath`], f64 the exact libm functions.
pub(crate) trait Elem:
    Float + burn::tensor::Element + bytemuck::Pod + Send + Sync + 'static
{
    fn sigmoid(self) -> Self;
    fn tanh_activation(self) -> Self;
    /// (The fused cross-entropy's softmax.)
    fn exp_activation(self) -> Self;

    /// Columns of a tile panel of `S`'s vectors of this type.
    fn panel_width<S: InstructionSet>() -> usize;

    /// The tile product with `S`'s vectors of this type.
    ///
    /// # Safety
    /// As for [`tile::run`].
    unsafe fn run_tiles<S: InstructionSet>(product: &TileProduct<Self>);

    /// The values as f32, the element-wise SIMD passes' type: `Some` for f32 (the passes in
    /// f64 are libm's plain loops).
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]>;

    /// See [`Elem::as_f32_mut`].
    fn as_f32(values: &[Self]) -> Option<&[f32]>;
}

impl Elem for f32 {
    fn panel_width<S: InstructionSet>() -> usize {
        tile::panel_width::<S::F32>()
    }
    #[inline(always)]
    unsafe fn run_tiles<S: InstructionSet>(product: &TileProduct<Self>) {
        // SAFETY: the caller's promise.
        unsafe { tile::run::<S::F32>(product) }
    }
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        Some(values)
    }
    fn as_f32(values: &[Self]) -> Option<&[f32]> {
        Some(values)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        fastmath::sigmoid_f32(self)
    }
    #[inline(always)]
    fn tanh_activation(self) -> Self {
        fastmath::tanh_f32(self)
    }
    #[inline(always)]
    fn exp_activation(self) -> Self {
        fastmath::exp_f32(self)
    }
}

impl Elem for f64 {
    fn panel_width<S: InstructionSet>() -> usize {
        tile::panel_width::<S::F64>()
    }
    #[inline(always)]
    unsafe fn run_tiles<S: InstructionSet>(product: &TileProduct<Self>) {
        // SAFETY: the caller's promise.
        unsafe { tile::run::<S::F64>(product) }
    }
    fn as_f32_mut(_: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
    fn as_f32(_: &[Self]) -> Option<&[f32]> {
        None
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn tanh_activation(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn exp_activation(self) -> Self {
        self.exp()
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]` with explicit `(row, column)` strides. `threads` lets
/// gemm split a big product over the cores; the recurrences' per-step products run on one
/// thread each, inside their own thread team.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<E: Elem>(
    dst: &mut [E],
    dst_row: usize,
    accumulate: bool,
    lhs: &[E],
    (lhs_row, lhs_col): (usize, usize),
    rhs: &[E],
    (rhs_row, rhs_col): (usize, usize),
    (m, n, k): (usize, usize, usize),
    threads: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst.len() >= (m - 1) * dst_row + n,
        "matmul destination too small"
    );
    if k > 0 {
        assert!(
            lhs.len() > (m - 1) * lhs_row + (k - 1) * lhs_col,
            "matmul lhs too small"
        );
        assert!(
            rhs.len() > (k - 1) * rhs_row + (n - 1) * rhs_col,
            "matmul rhs too small"
        );
    }
    // Threads pay off only on products of some size.
    let parallelism = if threads && m * n * k >= 1 << 20 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every index the strides produce inside the slices, and
    // `dst` does not alias the inputs (it is borrowed mutably).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_col as isize,
            lhs_row as isize,
            rhs.as_ptr(),
            rhs_col as isize,
            rhs_row as isize,
            E::one(),
            E::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A buffer that the units of a thread team write at the same time, each only its own rows.
///
/// The team's units own disjoint rows of every buffer they share (a unit is one direction and
/// one block of batch rows), so their writes never overlap; this type lets them hold the
/// buffer at once without splitting it into chunks, which the row layouts (rows of one unit
/// recur at every time step) do not allow.
pub(crate) struct RowShared<'a, E> {
    ptr: *mut E,
    len: usize,
    _buffer: std::marker::PhantomData<&'a mut [E]>,
}

// SAFETY: the units only touch disjoint ranges (see `rows`); the buffer outlives the team.
unsafe impl<E: Send> Send for RowShared<'_, E> {}
unsafe impl<E: Send> Sync for RowShared<'_, E> {}

impl<'a, E> RowShared<'a, E> {
    pub(crate) fn new(buffer: &'a mut [E]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
            _buffer: std::marker::PhantomData,
        }
    }

    /// `len` elements from `start`, to read.
    ///
    /// # Safety
    /// No unit may write any of these elements while the slice lives.
    pub(crate) unsafe fn read(&self, start: usize, len: usize) -> &[E] {
        assert!(start + len <= self.len, "row range outside the buffer");
        // SAFETY: inside the buffer (asserted); unwritten by the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), len) }
    }

    /// `len` elements from `start`.
    ///
    /// # Safety
    /// No other unit may read or write any of these elements while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn rows(&self, start: usize, len: usize) -> &mut [E] {
        assert!(start + len <= self.len, "row range outside the buffer");
        // SAFETY: inside the buffer (asserted); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::matmul;

    /// Buffers of the pool are handed to a replacing product as they were left: whatever
    /// they held (NaN here) must not reach the result, on one thread or several.
    #[test]
    fn a_replacing_product_never_reads_its_destination() {
        for (m, n, k) in [(3, 5, 4), (64, 200, 96)] {
            let lhs: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
            let rhs: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
            let mut dst = vec![f32::NAN; m * n];
            matmul(
                &mut dst,
                n,
                false,
                &lhs,
                (k, 1),
                &rhs,
                (n, 1),
                (m, n, k),
                true,
            );
            for i in 0..m {
                for j in 0..n {
                    let expected: f32 = (0..k).map(|p| lhs[i * k + p] * rhs[p * n + j]).sum();
                    let got = dst[i * n + j];
                    assert!(
                        (got - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                        "{got} vs {expected}"
                    );
                }
            }
        }
    }
}
