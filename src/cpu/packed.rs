//! Matrix products against a right-hand side packed once and used many times: the recurrent
//! weights (once per layer call, then a product every step) and the input weights.
//!
//! The recurrences' products are short and wide (a block of a few dozen batch rows times the
//! four gates of every hidden unit), the shape where a general GEMM spends most on setting up.
//! Here the right-hand side is cut once into panels of `NR` columns, each stored `k`-major,
//! and a tile of rows × `NR` columns is accumulated in registers over the whole `k` before it
//! is written ([`super::tile`], AVX2 or AVX-512 intrinsics). Which kernel packs and serves a
//! product — AVX-512 tiles, AVX2 tiles, or the `gemm` crate on the matrices as given — is
//! decided per shape class by timing them ([`super::planner`]).

use rayon::prelude::*;

use std::sync::Arc;

use super::elem::{Elem, matmul};
use super::isa::CpuKernel;
use super::planner::{self, size_class};
use super::pool::{self, Pooled};
use super::simd::{InstructionSet, Work};
use super::tensors::HostValues;
use super::tile::{Accumulation, Segment, TileProduct};

/// A matrix inside shared host values: the rows `rows` of `values[offset..]`, read through
/// `(row, column)` strides.
#[derive(Clone, Debug)]
pub(crate) struct MatrixRef<E> {
    pub values: Arc<HostValues<E>>,
    pub offset: usize,
    pub strides: (usize, usize),
    pub rows: usize,
}

/// A right-hand side `[k, n]`, packed for [`PackedRhs::multiply`].
#[derive(Debug)]
pub(crate) struct PackedRhs<E> {
    k: usize,
    n: usize,
    /// The kernel whose tiles read it (the `gemm` crate: the matrices as given).
    kernel: CpuKernel,
    /// A tile kernel's `ceil(n / NR)` panels of `k × NR` (the last one padded with zeros),
    /// from `data[start]`, the first element on a 64-byte boundary.
    data: Pooled<E>,
    start: usize,
    /// For the `gemm` crate: the stacked matrices as given.
    parts: Vec<MatrixRef<E>>,
}

/// Columns of `kernel`'s tile panels of `E` (`None` for the `gemm` crate, which packs nothing).
fn panel_width<E: Elem>(kernel: CpuKernel) -> Option<usize> {
    struct PanelWidth<E>(std::marker::PhantomData<E>);
    impl<E: Elem> Work for PanelWidth<E> {
        type Output = usize;
        #[inline(always)]
        unsafe fn run<S: InstructionSet>(self) -> usize {
            E::panel_width::<S>()
        }
    }
    // SAFETY: the work reads nothing.
    unsafe { kernel.simd(PanelWidth::<E>(std::marker::PhantomData)) }
}

/// A tile product, as work for an instruction set.
struct Tiles<'a, E>(&'a TileProduct<E>);

impl<E: Elem> Work for Tiles<'_, E> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<S: InstructionSet>(self) {
        // SAFETY: the caller's promise (see `PackedRhs::multiply_parts`).
        unsafe { E::run_tiles::<S>(self.0) }
    }
}

/// Rows of a tall product ([`PackedRhs::multiply_rows_parallel`]) one task takes: big enough
/// to amortise a task, small enough to balance the cores.
pub(crate) const ROWS_PER_TASK: usize = 192;

/// The alignment of the packed panels: a cache line.
const ALIGN_BYTES: usize = 64;

/// Products a right-hand side must serve for packing it to pay (it costs about one product's
/// memory traffic).
const MIN_USES_TO_PACK: usize = 3;

/// Whether a right-hand side serving `uses` products is packed for a tile kernel (else the
/// gemm crate reads it as it is, and rounds its own way).
pub(crate) fn packing_pays(uses: usize) -> bool {
    uses >= MIN_USES_TO_PACK
}

impl<E: Elem> PackedRhs<E> {
    /// Packs `rhs` (`[k, n]`, `k = rhs.rows`) for `uses` products of about `rows` rows each.
    pub(crate) fn pack(rhs: MatrixRef<E>, n: usize, uses: usize, rows: usize) -> Self {
        Self::pack_stacked(vec![rhs], n, uses, rows)
    }

    /// Packs matrices of `n` columns stacked one above the other: the right-hand side of a
    /// product whose left-hand side comes in as many parts (see
    /// [`PackedRhs::multiply_parts`]), for `uses` products of about `rows` rows each. The
    /// kernel is the one forced by `BURN_LSTM_KERNEL`, or else the one measured fastest for that
    /// shape (see [`product_kernel`]); with fewer than a few `uses` the matrices are kept as
    /// they are, for the `gemm` crate, whatever the kernel.
    pub(crate) fn pack_stacked(
        parts: Vec<MatrixRef<E>>,
        n: usize,
        uses: usize,
        rows: usize,
    ) -> Self {
        // Packing a right-hand side for one or two products costs more than it saves, whatever
        // the kernel (generation calls the layer for one step at a time).
        let kernel = Self::kernel_for(&parts, n, uses, rows);
        Self::pack_for(kernel, parts, n)
    }

    /// Packs the columns `columns` of matrices stacked one above the other (column `j` of
    /// the packed right-hand side is column `columns[j]` of theirs) for `kernel`'s tiles,
    /// which must be a tile kernel: a thread's share of the gate columns (see
    /// [`crate::fused::host`]'s column team).
    pub(crate) fn pack_columns(
        kernel: CpuKernel,
        parts: Vec<MatrixRef<E>>,
        columns: &[usize],
    ) -> Self {
        assert!(
            kernel != CpuKernel::Gemm,
            "columns are packed for a tile kernel"
        );
        Self::pack_mapped(kernel, parts, columns.len(), |j| columns[j])
    }

    /// The kernel that would serve `uses` products of about `rows` rows against `parts`
    /// stacked, `n` of their columns (see [`PackedRhs::pack_stacked`]).
    pub(crate) fn kernel_for(
        parts: &[MatrixRef<E>],
        n: usize,
        uses: usize,
        rows: usize,
    ) -> CpuKernel {
        match packing_pays(uses) {
            true => product_kernel(rows, parts, n),
            false => CpuKernel::Gemm,
        }
    }

    /// Packs for `kernel`'s tiles (or keeps the matrices, for `gemm`).
    fn pack_for(kernel: CpuKernel, parts: Vec<MatrixRef<E>>, n: usize) -> Self {
        Self::pack_mapped(kernel, parts, n, |j| j)
    }

    /// [`PackedRhs::pack_for`], column `j` taken from the matrices' column `column(j)`.
    fn pack_mapped(
        kernel: CpuKernel,
        parts: Vec<MatrixRef<E>>,
        n: usize,
        column: impl Fn(usize) -> usize,
    ) -> Self {
        let k: usize = parts.iter().map(|part| part.rows).sum();
        let Some(width) = panel_width::<E>(kernel) else {
            return Self {
                k,
                n,
                kernel: CpuKernel::Gemm,
                data: Pooled::default(),
                start: 0,
                parts,
            };
        };
        let panels = n.div_ceil(width);
        // The panels start on a cache line: a tile's vector loads then never straddle two
        // lines (an AVX-512 load is a whole line; the allocator aligns to 16 bytes).
        let slack = ALIGN_BYTES / std::mem::size_of::<E>();
        let mut data = pool::zeros::<E>(panels * k * width + slack);
        let start = data.as_ptr().align_offset(ALIGN_BYTES).min(slack);
        let mut kk = 0;
        for part in &parts {
            // Borrowed once: a lent tensor's slice is checked on every borrow.
            let values: &[E] = &part.values[part.offset..];
            let (row_stride, col_stride) = part.strides;
            for row in 0..part.rows {
                for p in 0..panels {
                    let panel = &mut data[start + (p * k + kk) * width..];
                    for (j, value) in panel.iter_mut().enumerate().take(width.min(n - p * width)) {
                        *value = values[row * row_stride + column(p * width + j) * col_stride];
                    }
                }
                kk += 1;
            }
        }
        Self {
            k,
            n,
            kernel,
            data,
            start,
            parts: Vec::new(),
        }
    }

    /// The kernel that serves this right-hand side's products.
    #[cfg(test)]
    fn kernel(&self) -> CpuKernel {
        self.kernel
    }

    /// `dst[m×n] (+)= lhs[m×k] · self`, on this thread (see [`Accumulation`]).
    pub(crate) fn multiply(
        &self,
        dst: &mut [E],
        dst_row: usize,
        accumulation: Accumulation,
        lhs: &[E],
        (row, col): (usize, usize),
        m: usize,
    ) {
        let part = LhsPart {
            values: lhs,
            row,
            col,
            k: self.k,
        };
        self.multiply_parts(dst, dst_row, accumulation, &[part], m);
    }

    /// `dst[m×n] (+)= [lhs₀ | lhs₁ | …] · self`: the left-hand side's columns come from the
    /// `parts` in turn (`x_t` then `h_{t-1}`, against `W_x` stacked on `W_h`), and every tile
    /// is written once.
    pub(crate) fn multiply_parts(
        &self,
        dst: &mut [E],
        dst_row: usize,
        accumulation: Accumulation,
        parts: &[LhsPart<'_, E>],
        m: usize,
    ) {
        if m == 0 || self.n == 0 {
            return;
        }
        assert!(
            dst.len() >= (m - 1) * dst_row + self.n,
            "product destination too small"
        );
        assert!(parts.len() <= 2, "at most two parts");
        assert_eq!(
            parts.iter().map(|part| part.k).sum::<usize>(),
            self.k,
            "the parts' columns are the packed rows"
        );
        for part in parts.iter().filter(|part| part.k > 0) {
            assert!(
                part.values.len() > (m - 1) * part.row + (part.k - 1) * part.col,
                "product left-hand side too small"
            );
        }
        if self.kernel == CpuKernel::Gemm {
            for (index, (part, rhs)) in parts.iter().zip(&self.parts).enumerate() {
                // The gemm crate adds a product to its destination after the sum: `Continue`
                // is `Add` here, the same value to rounding.
                matmul(
                    dst,
                    dst_row,
                    accumulation != Accumulation::Replace || index > 0,
                    part.values,
                    (part.row, part.col),
                    &rhs.values[rhs.offset..],
                    rhs.strides,
                    (m, self.n, part.k),
                    false,
                );
            }
            return;
        }
        let segment = |part: &LhsPart<'_, E>| Segment {
            values: part.values.as_ptr(),
            row: part.row,
            col: part.col,
            k: part.k,
        };
        let none = Segment {
            values: std::ptr::null(),
            row: 0,
            col: 0,
            k: 0,
        };
        let product = TileProduct {
            panels: self.data[self.start..].as_ptr(),
            k: self.k,
            n: self.n,
            dst: dst.as_mut_ptr(),
            dst_row,
            accumulation,
            segments: [
                parts.first().map_or(none, segment),
                parts.get(1).map_or(none, segment),
            ],
            m,
        };
        // SAFETY: the panels are packed for the kernel's tiles, and the asserts above keep
        // every access of the tiles inside the slices (`simd` checks that the CPU runs it).
        unsafe { self.kernel.simd(Tiles(&product)) }.expect("a tile kernel");
    }

    /// [`PackedRhs::multiply`] for a tall left-hand side (`lhs` row-major with `lhs_row`,
    /// `dst` with `dst_row`), its rows shared out over the thread pool.
    pub(crate) fn multiply_rows_parallel(
        &self,
        dst: &mut [E],
        dst_row: usize,
        accumulation: Accumulation,
        lhs: &[E],
        lhs_row: usize,
        m: usize,
    ) {
        if m == 0 {
            return;
        }
        let dst = &mut dst[..(m - 1) * dst_row + self.n];
        let lhs = &lhs[..(m - 1) * lhs_row + self.k];
        if m <= ROWS_PER_TASK || rayon::current_num_threads() == 1 {
            return self.multiply(dst, dst_row, accumulation, lhs, (lhs_row, 1), m);
        }
        // The last chunk of `dst` may end mid-row (rows are `dst_row` apart, `n` used).
        let tasks = m.div_ceil(ROWS_PER_TASK);
        let dst_ptr = SendPtr(dst.as_mut_ptr());
        let dst_len = dst.len();
        (0..tasks).into_par_iter().for_each(|task| {
            let first = task * ROWS_PER_TASK;
            let rows = ROWS_PER_TASK.min(m - first);
            let start = first * dst_row;
            let len = ((rows - 1) * dst_row + self.n).min(dst_len - start);
            let ptr = dst_ptr;
            // SAFETY: tasks write disjoint row ranges of `dst` (rows `first..first + rows`,
            // columns below `n <= dst_row`), inside its length.
            let dst = unsafe { std::slice::from_raw_parts_mut(ptr.0.add(start), len) };
            self.multiply(
                dst,
                dst_row,
                accumulation,
                &lhs[first * lhs_row..],
                (lhs_row, 1),
                rows,
            );
        });
    }
}

#[derive(Clone, Copy)]
struct SendPtr<E>(*mut E);
// SAFETY: used only to hand disjoint row ranges of one buffer to the tasks above.
unsafe impl<E> Send for SendPtr<E> {}
unsafe impl<E> Sync for SendPtr<E> {}

/// One part of a product's left-hand side: `k` columns of `values`, rows `row` apart,
/// columns `col` apart.
pub(crate) struct LhsPart<'a, E> {
    pub values: &'a [E],
    pub row: usize,
    pub col: usize,
    pub k: usize,
}

/// The kernel for products of about `m` rows against `parts` stacked (`[k, n]`): the one the
/// planner measured fastest for the shape's class, timing each candidate the first time the
/// class is met on a product of this shape against these very matrices (made-up left-hand
/// side). The matrices matter, not only the shape: the `gemm` crate reads them as they are, and
/// a transposed view (the backward pass's `W_xᵀ`) runs at another speed than a row-major one,
/// while the tiles pack either alike. So the class names the layout too.
fn product_kernel<E: Elem>(m: usize, parts: &[MatrixRef<E>], n: usize) -> CpuKernel {
    let k: usize = parts.iter().map(|part| part.rows).sum();
    let transposed = parts.iter().any(|part| part.strides.1 != 1);
    let class = format!(
        "product {:?} m≤{} k≤{} n≤{}{}",
        E::dtype(),
        size_class(m),
        size_class(k),
        size_class(n),
        if transposed { " (rhs transposed)" } else { "" }
    );
    let mut trial: Option<Trial<E>> = None;
    planner::plan(&class, |kernel| {
        trial
            .get_or_insert_with(|| Trial::new(m.max(1), parts.to_vec(), n))
            .run(kernel)
    })
}

/// A product of one shape against given matrices, ready to be run by each candidate kernel.
struct Trial<E> {
    m: usize,
    /// `[m, k]`, row-major: its columns are split as the right-hand side's rows are.
    lhs: Vec<E>,
    rhs: Vec<MatrixRef<E>>,
    n: usize,
    packed: Vec<(CpuKernel, PackedRhs<E>)>,
    dst: Vec<E>,
}

impl<E: Elem> Trial<E> {
    fn new(m: usize, rhs: Vec<MatrixRef<E>>, n: usize) -> Self {
        let k: usize = rhs.iter().map(|part| part.rows).sum();
        // Values in [-1, 1): the timing does not depend on them, only denormals would.
        let value =
            |i: usize| E::from((i * 7919 % 2000) as f64 / 1000.0 - 1.0).expect("a small value");
        Self {
            m,
            lhs: (0..m * k).map(value).collect(),
            rhs,
            n,
            packed: Vec::new(),
            dst: vec![E::zero(); m * n],
        }
    }

    fn run(&mut self, kernel: CpuKernel) {
        let index = match self.packed.iter().position(|(k, _)| *k == kernel) {
            Some(index) => index,
            None => {
                let packed = PackedRhs::pack_for(kernel, self.rhs.clone(), self.n);
                self.packed.push((kernel, packed));
                self.packed.len() - 1
            }
        };
        let packed = &self.packed[index].1;
        let mut first_column = 0;
        let lhs_parts: Vec<LhsPart<'_, E>> = self
            .rhs
            .iter()
            .map(|part| {
                let lhs_part = LhsPart {
                    values: &self.lhs[first_column..],
                    row: packed.k,
                    col: 1,
                    k: part.rows,
                };
                first_column += part.rows;
                lhs_part
            })
            .collect();
        packed.multiply_parts(
            &mut self.dst,
            self.n,
            Accumulation::Replace,
            &lhs_parts,
            self.m,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU offers gives the plain product's values, for every tile
    /// remainder (rows and columns), overwriting or accumulating, with strided and two-part
    /// left-hand sides, on one thread and on the pool. The values are small integers, so
    /// every sum is exact in f32 whatever the order of the additions.
    #[test]
    fn every_kernel_matches_the_plain_product() {
        for kernel in CpuKernel::available() {
            for (m, k, n) in [
                (1, 1, 1),
                (2, 3, 40),
                (7, 5, 3),
                (8, 4, 17),
                (32, 256, 1024),
                (13, 17, 50),
                (61, 9, 33),
                (200, 7, 9),
                (9, 1100, 20),
                (10, 30, 200),
                (17, 3, 49),
                (6, 2, 97),
            ] {
                check_kernel::<f32>(kernel, m, k, n);
                check_kernel::<f64>(kernel, m, k, n);
            }
        }
    }

    /// The input projection out of the recurrence: `x·W_x` first, then `h·W_h` continuing
    /// it (`Accumulation::Continue`), has the bits of the stacked `[x | h]·[W_x; W_h]` — on
    /// every tile kernel, and across them (the tiles sum in the same order), with values
    /// whose sums round; and the stacked product's bits are those of each element's chain of
    /// fused multiply-adds in `k` order (the last shape's `k = 384` spans several chunks).
    #[test]
    fn continuing_a_product_gives_the_stacked_products_bits() {
        let tiles: Vec<CpuKernel> = CpuKernel::available()
            .into_iter()
            .filter(|&kernel| kernel != CpuKernel::Gemm)
            .collect();
        for (m, features, hidden, n) in [(5, 3, 7, 40), (13, 17, 50, 96), (64, 128, 256, 1024)] {
            let value =
                |i: usize, seed: usize| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0;
            let x: Vec<f32> = (0..m * features).map(|i| value(i, 1)).collect();
            let h: Vec<f32> = (0..m * hidden).map(|i| value(i, 2)).collect();
            let w_x_values: Vec<f32> = (0..features * n).map(|i| value(i, 3)).collect();
            let w_h_values: Vec<f32> = (0..hidden * n).map(|i| value(i, 4)).collect();
            let w_x = Arc::new(HostValues::from(w_x_values.clone()));
            let w_h = Arc::new(HostValues::from(w_h_values.clone()));
            // Each sum is the chain of fused multiply-adds over `k` in order, from zero:
            // whatever the chunks of `k` the tiles take (see `tile::drive`).
            let chain = |i: usize, j: usize| {
                let mut sum = 0.0f32;
                for p in 0..features {
                    sum = x[i * features + p].mul_add(w_x_values[p * n + j], sum);
                }
                for p in 0..hidden {
                    sum = h[i * hidden + p].mul_add(w_h_values[p * n + j], sum);
                }
                sum
            };
            let matrix = |values: &Arc<HostValues<f32>>, rows| MatrixRef {
                values: values.clone(),
                offset: 0,
                strides: (n, 1),
                rows,
            };
            let mut results = Vec::new();
            for &kernel in &tiles {
                let stacked = PackedRhs::pack_for(
                    kernel,
                    vec![matrix(&w_x, features), matrix(&w_h, hidden)],
                    n,
                );
                let mut whole = vec![0.0f32; m * n];
                let lhs = [
                    LhsPart {
                        values: &x,
                        row: features,
                        col: 1,
                        k: features,
                    },
                    LhsPart {
                        values: &h,
                        row: hidden,
                        col: 1,
                        k: hidden,
                    },
                ];
                stacked.multiply_parts(&mut whole, n, Accumulation::Replace, &lhs, m);
                for (index, value) in whole.iter().enumerate() {
                    let expected = chain(index / n, index % n);
                    assert_eq!(value.to_bits(), expected.to_bits(), "{kernel} at {index}");
                }
                let input = PackedRhs::pack_for(kernel, vec![matrix(&w_x, features)], n);
                let recurrent = PackedRhs::pack_for(kernel, vec![matrix(&w_h, hidden)], n);
                let mut split = vec![0.0f32; m * n];
                input.multiply(&mut split, n, Accumulation::Replace, &x, (features, 1), m);
                recurrent.multiply(&mut split, n, Accumulation::Continue, &h, (hidden, 1), m);
                assert!(
                    whole
                        .iter()
                        .zip(&split)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{kernel} {m}×{features}+{hidden}×{n}: the continued product's bits differ"
                );
                // `Add` rounds differently: the test can tell the modes apart.
                let mut added = vec![0.0f32; m * n];
                input.multiply(&mut added, n, Accumulation::Replace, &x, (features, 1), m);
                recurrent.multiply(&mut added, n, Accumulation::Add, &h, (hidden, 1), m);
                if m * hidden > 1000 {
                    assert!(
                        whole
                            .iter()
                            .zip(&added)
                            .any(|(a, b)| a.to_bits() != b.to_bits())
                    );
                }
                results.push(whole);
            }
            for pair in results.windows(2) {
                assert!(
                    pair[0]
                        .iter()
                        .zip(&pair[1])
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                );
            }
        }
    }

    fn check_kernel<E: Elem>(kernel: CpuKernel, m: usize, k: usize, n: usize) {
        let int = |v: i64| E::from(v).expect("a small integer");
        let lhs: Vec<E> = (0..m * k).map(|i| int((i * 7 % 13) as i64 - 6)).collect();
        let rhs: Vec<E> = (0..k * n).map(|i| int((i * 5 % 11) as i64 - 5)).collect();
        let mut expected = vec![E::one(); m * n];
        for r in 0..m {
            for j in 0..n {
                for kk in 0..k {
                    expected[r * n + j] = expected[r * n + j] + lhs[r * k + kk] * rhs[kk * n + j];
                }
            }
        }
        let what = format!("{kernel} {:?} {m}×{k}·{k}×{n}", E::dtype());
        let shared = Arc::new(HostValues::from(rhs.clone()));
        let matrix = |offset, strides, rows| MatrixRef {
            values: shared.clone(),
            offset,
            strides,
            rows,
        };
        let packed = PackedRhs::pack_for(kernel, vec![matrix(0, (n, 1), k)], n);
        assert_eq!(packed.kernel(), kernel);
        let mut dst = vec![E::one(); m * n];
        packed.multiply(&mut dst, n, Accumulation::Add, &lhs, (k, 1), m);
        assert_eq!(dst, expected, "{what}");
        let mut dst = vec![E::one(); m * n];
        packed.multiply_rows_parallel(&mut dst, n, Accumulation::Add, &lhs, k, m);
        assert_eq!(dst, expected, "{what}, rows in parallel");
        // The transposed left-hand side, read through strides, and overwriting.
        let lhs_t: Vec<E> = (0..k * m).map(|i| lhs[(i % m) * k + i / m]).collect();
        let mut dst = vec![int(9); m * n];
        packed.multiply(&mut dst, n, Accumulation::Replace, &lhs_t, (1, m), m);
        let overwritten: Vec<E> = expected.iter().map(|&v| v - E::one()).collect();
        assert_eq!(dst, overwritten, "{what}, strided lhs");
        // A destination wider than the product (rows `n + 3` apart): the columns beyond `n`
        // are left alone.
        let mut wide = vec![int(-2); m * (n + 3)];
        packed.multiply(&mut wide, n + 3, Accumulation::Replace, &lhs, (k, 1), m);
        for r in 0..m {
            assert_eq!(
                &wide[r * (n + 3)..r * (n + 3) + n],
                &overwritten[r * n..(r + 1) * n]
            );
            assert!(
                wide[r * (n + 3) + n..(r + 1) * (n + 3)]
                    .iter()
                    .all(|&v| v == int(-2)),
                "{what}, beyond n"
            );
        }
        // The left-hand side in two parts, against the right-hand side in two stacked
        // parts (the second transposed, read through strides).
        let split = k / 2;
        let bottom_t: Vec<E> = (0..(k - split) * n)
            .map(|i| rhs[split * n + (i % (k - split)) * n + i / (k - split)])
            .collect();
        let bottom_t = MatrixRef {
            values: Arc::new(HostValues::from(bottom_t)),
            offset: 0,
            strides: (1, k - split),
            rows: k - split,
        };
        let stacked = PackedRhs::pack_for(kernel, vec![matrix(0, (n, 1), split), bottom_t], n);
        let parts = [
            LhsPart {
                values: &lhs,
                row: k,
                col: 1,
                k: split,
            },
            LhsPart {
                values: &lhs[split..],
                row: k,
                col: 1,
                k: k - split,
            },
        ];
        let mut dst = vec![E::one(); m * n];
        stacked.multiply_parts(&mut dst, n, Accumulation::Add, &parts, m);
        assert_eq!(dst, expected, "{what} in two parts");
    }

    /// A forced kernel packs every product for itself; otherwise the chosen kernel is one the
    /// CPU runs, recorded with its timings.
    #[test]
    fn packing_follows_the_planner() {
        let rhs = MatrixRef {
            values: Arc::new(HostValues::from(vec![1.0f32; 40 * 64])),
            offset: 0,
            strides: (64, 1),
            rows: 40,
        };
        let packed = PackedRhs::pack(rhs.clone(), 64, MIN_USES_TO_PACK, 12);
        match planner::kernel_choice() {
            Ok(planner::KernelChoice::Forced(kernel)) => assert_eq!(packed.kernel(), kernel),
            _ => {
                assert!(packed.kernel().is_available());
                let decision = planner::kernel_decisions()
                    .into_iter()
                    .find(|d| d.class == "product F32 m≤16 k≤64 n≤64")
                    .expect("the class's decision is recorded");
                assert_eq!(decision.kernel, packed.kernel());
            }
        }
        // Too few uses to pay for packing: the gemm crate, on the matrix as given, whatever
        // kernel is forced.
        let plain = PackedRhs::pack(rhs, 64, 1, 12);
        assert_eq!(plain.kernel(), CpuKernel::Gemm);
    }

    /// A transposed right-hand side (the backward's `W_xᵀ`) is a class of its own, timed on
    /// the transposed matrix itself by every candidate, and the kernel chosen for it computes
    /// the product through the transposing strides.
    #[test]
    fn a_transposed_right_hand_side_is_timed_as_it_is() {
        let (m, k, n) = (5, 24, 40);
        // `values` holds `[n, k]` row-major; read through strides `(1, k)` it is `[k, n]`.
        let values: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let rhs = MatrixRef {
            values: Arc::new(HostValues::from(values.clone())),
            offset: 0,
            strides: (1, k),
            rows: k,
        };
        let packed = PackedRhs::pack(rhs, n, MIN_USES_TO_PACK, m);
        let class = "product F32 m≤8 k≤32 n≤64 (rhs transposed)";
        if planner::kernel_choice() == Ok(planner::KernelChoice::Measured) {
            let decision = planner::kernel_decisions()
                .into_iter()
                .find(|d| d.class == class)
                .expect("the transposed class's decision is recorded");
            assert_eq!(decision.kernel, packed.kernel());
            let candidates = CpuKernel::same_bits().len();
            assert_eq!(
                decision.timings.len(),
                if candidates > 1 { candidates } else { 0 }
            );
        }
        let lhs: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 - 2.0).collect();
        let mut dst = vec![0.0f32; m * n];
        packed.multiply(&mut dst, n, Accumulation::Replace, &lhs, (k, 1), m);
        for r in 0..m {
            for j in 0..n {
                let expected: f32 = (0..k).map(|kk| lhs[r * k + kk] * values[j * k + kk]).sum();
                assert_eq!(dst[r * n + j], expected, "row {r} column {j}");
            }
        }
    }
}
