//! Matrix products against a right-hand side packed once and used many times: the recurrent
//! weights (once per layer call, then a product every step) and the input weights.
//!
//! The recurrences' products are short and wide (a block of a few dozen batch rows times the
//! four gates of every hidden unit), the shape where a general GEMM spends most on setting up.
//! Here the right-hand side is cut once into panels of `NR` columns, each stored `k`-major,
//! and a tile of `MR` rows × `NR` columns is accumulated in registers over the whole `k`
//! before it is written. The tile code is plain Rust compiled for AVX2 (and AVX-512) with
//! FMA, which the compiler turns into the usual broadcast-and-FMA register kernel; on other
//! CPUs the products go to the `gemm` crate.

use rayon::prelude::*;

use std::sync::Arc;

use super::fastmath::{SimdLevel, simd_level};
use super::host::{Elem, HostValues, matmul};

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
    layout: Layout,
    /// The tile layouts' `ceil(n / NR)` panels of `k × NR` (the last one padded with zeros).
    data: Vec<E>,
    /// [`Layout::Plain`]: the stacked matrices as given.
    parts: Vec<MatrixRef<E>>,
}

/// How a [`PackedRhs`] is stored, which decides the kernel that reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Panels for the AVX2 tile (`MR = 6`, `NR` = two 256-bit vectors).
    Avx2,
    /// Panels for the AVX-512 tile (`MR = 8`, `NR` = two 512-bit vectors).
    Avx512,
    /// Not packed: the matrices as given, for the `gemm` crate.
    Plain,
}

impl Layout {
    fn for_cpu() -> Self {
        #[cfg(target_arch = "x86_64")]
        match simd_level() {
            SimdLevel::Avx512 => return Self::Avx512,
            SimdLevel::Avx2 => return Self::Avx2,
            SimdLevel::Baseline => {}
        }
        Self::Plain
    }

    /// Columns of a panel for elements of `E`.
    fn panel_width<E>(self) -> usize {
        let vector_bytes = match self {
            Self::Avx2 => 32,
            Self::Avx512 => 64,
            Self::Plain => return 0,
        };
        2 * vector_bytes / std::mem::size_of::<E>()
    }
}

/// Products a right-hand side must serve for packing it to pay (it costs about one product's
/// memory traffic).
const MIN_USES_TO_PACK: usize = 3;

impl<E: Elem> PackedRhs<E> {
    /// Packs `rhs` (`[k, n]`, `k = rhs.rows`) for `uses` products.
    pub(crate) fn pack(rhs: MatrixRef<E>, n: usize, uses: usize) -> Self {
        Self::pack_stacked(vec![rhs], n, uses)
    }

    /// Packs matrices of `n` columns stacked one above the other: the right-hand side of a
    /// product whose left-hand side comes in as many parts (see
    /// [`PackedRhs::multiply_parts`]). With fewer than a few `uses`, or no tile kernel for
    /// this CPU, the matrices are kept as they are.
    pub(crate) fn pack_stacked(parts: Vec<MatrixRef<E>>, n: usize, uses: usize) -> Self {
        let k: usize = parts.iter().map(|part| part.rows).sum();
        let layout = match uses >= MIN_USES_TO_PACK {
            true => Layout::for_cpu(),
            false => Layout::Plain,
        };
        let width = layout.panel_width::<E>();
        if width == 0 {
            return Self {
                k,
                n,
                layout: Layout::Plain,
                data: Vec::new(),
                parts,
            };
        }
        let panels = n.div_ceil(width);
        let mut data = vec![E::zero(); panels * k * width];
        let mut kk = 0;
        for part in &parts {
            // Borrowed once: a lent tensor's slice is checked on every borrow.
            let values: &[E] = &part.values[part.offset..];
            let (row_stride, col_stride) = part.strides;
            for row in 0..part.rows {
                for p in 0..panels {
                    let panel = &mut data[(p * k + kk) * width..];
                    for (j, value) in panel.iter_mut().enumerate().take(width.min(n - p * width)) {
                        *value = values[row * row_stride + (p * width + j) * col_stride];
                    }
                }
                kk += 1;
            }
        }
        Self {
            k,
            n,
            layout,
            data,
            parts: Vec::new(),
        }
    }

    /// `dst[m×n] (+)= lhs[m×k] · self`, on this thread.
    pub(crate) fn multiply(
        &self,
        dst: &mut [E],
        dst_row: usize,
        accumulate: bool,
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
        self.multiply_parts(dst, dst_row, accumulate, &[part], m);
    }

    /// `dst[m×n] (+)= [lhs₀ | lhs₁ | …] · self`: the left-hand side's columns come from the
    /// `parts` in turn (`x_t` then `h_{t-1}`, against `W_x` stacked on `W_h`), and every tile
    /// is written once.
    pub(crate) fn multiply_parts(
        &self,
        dst: &mut [E],
        dst_row: usize,
        accumulate: bool,
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
        if self.layout == Layout::Plain {
            for (index, (part, rhs)) in parts.iter().zip(&self.parts).enumerate() {
                matmul(
                    dst,
                    dst_row,
                    accumulate || index > 0,
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
        let product = Product {
            rhs: self,
            dst: dst.as_mut_ptr(),
            dst_row,
            accumulate,
            segments: [
                parts.first().map_or(none, segment),
                parts.get(1).map_or(none, segment),
            ],
            m,
        };
        match self.layout {
            // SAFETY: the CPU has the features (the layout was chosen by `simd_level`), and
            // the asserts above keep every access of the tiles inside the slices.
            #[cfg(target_arch = "x86_64")]
            Layout::Avx2 => unsafe { product.run_avx2() },
            #[cfg(target_arch = "x86_64")]
            Layout::Avx512 => unsafe { product.run_avx512() },
            _ => unreachable!("plain products are done above"),
        }
    }

    /// [`PackedRhs::multiply`] for a tall left-hand side (`lhs` row-major with `lhs_row`,
    /// `dst` with `dst_row`), its rows shared out over the thread pool.
    pub(crate) fn multiply_rows_parallel(
        &self,
        dst: &mut [E],
        dst_row: usize,
        accumulate: bool,
        lhs: &[E],
        lhs_row: usize,
        m: usize,
    ) {
        // Blocks of rows big enough to amortise a task, small enough to balance the cores.
        const ROWS_PER_TASK: usize = 192;
        if m == 0 {
            return;
        }
        let dst = &mut dst[..(m - 1) * dst_row + self.n];
        let lhs = &lhs[..(m - 1) * lhs_row + self.k];
        if m <= ROWS_PER_TASK || rayon::current_num_threads() == 1 {
            return self.multiply(dst, dst_row, accumulate, lhs, (lhs_row, 1), m);
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
                accumulate,
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

/// An [`LhsPart`] as raw parts.
#[derive(Clone, Copy)]
struct Segment<E> {
    values: *const E,
    row: usize,
    col: usize,
    k: usize,
}

/// One product's operands as raw parts, for the tile drivers.
struct Product<'a, E> {
    rhs: &'a PackedRhs<E>,
    dst: *mut E,
    dst_row: usize,
    accumulate: bool,
    segments: [Segment<E>; 2],
    m: usize,
}

impl<E: Elem> Product<'_, E> {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self) {
        // SAFETY: as for the caller.
        unsafe {
            match std::mem::size_of::<E>() {
                4 => self.drive::<6, 16>(),
                _ => self.drive::<6, 8>(),
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    unsafe fn run_avx512(&self) {
        // SAFETY: as for the caller.
        unsafe {
            match std::mem::size_of::<E>() {
                4 => self.drive::<8, 32>(),
                _ => self.drive::<8, 16>(),
            }
        }
    }

    /// Rows in blocks (so a block of the left-hand side stays in cache while every panel
    /// passes), then panel by panel, then tile by tile.
    #[inline(always)]
    unsafe fn drive<const MR: usize, const NR: usize>(&self) {
        const BLOCK_TILES: usize = 16;
        let (k, n) = (self.rhs.k, self.rhs.n);
        debug_assert_eq!(NR, self.rhs.layout.panel_width::<E>());
        let panels = n.div_ceil(NR);
        let block = BLOCK_TILES * MR;
        for block_start in (0..self.m).step_by(block) {
            let block_end = (block_start + block).min(self.m);
            for p in 0..panels {
                let panel = self.rhs.data[p * k * NR..].as_ptr();
                let cols = NR.min(n - p * NR);
                let mut row = block_start;
                // SAFETY (all tiles): their rows and the columns `p·NR..p·NR + cols` lie
                // inside the operands, as the caller checked.
                // The compiler makes poor code of a two-row tile: when two rows would be
                // left, the last full tile and those two go as two even halves instead.
                while block_end - row >= MR && block_end - row != MR + 2 {
                    unsafe { self.tile::<MR, NR>(row, p, panel, cols) };
                    row += MR;
                }
                unsafe {
                    match block_end - row {
                        0 => {}
                        rest if rest == MR + 2 => {
                            let half = rest / 2;
                            self.tile_rows::<NR>(row, half, p, panel, cols);
                            self.tile_rows::<NR>(row + half, half, p, panel, cols);
                        }
                        rest => self.tile_rows::<NR>(row, rest, p, panel, cols),
                    }
                }
            }
        }
    }

    /// A tile of `rows` rows (at most 7), those the full tiles left. Two rows go as two tiles
    /// of one (see `drive`).
    #[inline(always)]
    unsafe fn tile_rows<const NR: usize>(
        &self,
        row: usize,
        rows: usize,
        p: usize,
        panel: *const E,
        cols: usize,
    ) {
        // SAFETY: as for `drive`.
        unsafe {
            match rows {
                1 => self.tile::<1, NR>(row, p, panel, cols),
                2 => {
                    self.tile::<1, NR>(row, p, panel, cols);
                    self.tile::<1, NR>(row + 1, p, panel, cols);
                }
                3 => self.tile::<3, NR>(row, p, panel, cols),
                4 => self.tile::<4, NR>(row, p, panel, cols),
                5 => self.tile::<5, NR>(row, p, panel, cols),
                6 => self.tile::<6, NR>(row, p, panel, cols),
                _ => {
                    self.tile::<4, NR>(row, p, panel, cols);
                    self.tile::<3, NR>(row + 4, p, panel, cols);
                }
            }
        }
    }

    /// `dst[row..row+R, p·NR..p·NR+cols] (+)= lhs[row..row+R, :] · panel`, the `R × NR`
    /// accumulators in registers.
    #[inline(always)]
    unsafe fn tile<const R: usize, const NR: usize>(
        &self,
        row: usize,
        p: usize,
        panel: *const E,
        cols: usize,
    ) {
        let mut acc = [[E::zero(); NR]; R];
        // SAFETY: see `drive`.
        unsafe {
            let panel = accumulate::<E, R, NR>(&mut acc, self.segments[0], row, panel);
            accumulate::<E, R, NR>(&mut acc, self.segments[1], row, panel);
            #[allow(clippy::needless_range_loop)]
            for r in 0..R {
                let dst = self.dst.add((row + r) * self.dst_row + p * NR);
                // A copy of the row: indexing the accumulators themselves by a run-time
                // column would keep them in memory instead of registers.
                let values: [E; NR] = acc[r];
                let cols = if cols == NR { NR } else { cols };
                for (j, &value) in values.iter().enumerate().take(cols) {
                    let d = dst.add(j);
                    *d = if self.accumulate { *d + value } else { value };
                }
            }
        }
    }
}

/// `acc += segment[row..row+R, :] · panel[..k]`; returns where the panel continues.
///
/// # Safety
/// The segment's rows `row..row + R` and the panel's next `k` rows lie inside their buffers.
#[inline(always)]
unsafe fn accumulate<E: Elem, const R: usize, const NR: usize>(
    acc: &mut [[E; NR]; R],
    segment: Segment<E>,
    row: usize,
    mut panel: *const E,
) -> *const E {
    // One pointer per row, so each step of `k` is one load per row.
    let rows: [*const E; R] =
        std::array::from_fn(|r| segment.values.wrapping_add((row + r) * segment.row));
    // SAFETY: by the caller's promise.
    unsafe {
        for kk in 0..segment.k {
            let b: [E; NR] = *(panel as *const [E; NR]);
            panel = panel.add(NR);
            #[allow(clippy::needless_range_loop)]
            for r in 0..R {
                let a = *rows[r].add(kk * segment.col);
                for j in 0..NR {
                    acc[r][j] = a.fused_mul_add(b[j], acc[r][j]);
                }
            }
        }
    }
    panel
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed products give the plain product's values, for every tile remainder.
    #[test]
    fn packed_products_match_the_plain_product() {
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
        ] {
            let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let rhs: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
            let mut expected = vec![1.0f32; m * n];
            for r in 0..m {
                for j in 0..n {
                    for kk in 0..k {
                        expected[r * n + j] += lhs[r * k + kk] * rhs[kk * n + j];
                    }
                }
            }
            let shared = Arc::new(HostValues::from(rhs.clone()));
            let matrix = |offset, strides, rows| MatrixRef {
                values: shared.clone(),
                offset,
                strides,
                rows,
            };
            let packed = PackedRhs::pack(matrix(0, (n, 1), k), n, MIN_USES_TO_PACK);
            let mut dst = vec![1.0f32; m * n];
            packed.multiply(&mut dst, n, true, &lhs, (k, 1), m);
            assert_eq!(dst, expected, "{m}×{k}·{k}×{n}");
            let mut dst = vec![1.0f32; m * n];
            packed.multiply_rows_parallel(&mut dst, n, true, &lhs, k, m);
            assert_eq!(dst, expected, "{m}×{k}·{k}×{n}, rows in parallel");
            // The transposed left-hand side, read through strides, and overwriting.
            let lhs_t: Vec<f32> = (0..k * m).map(|i| lhs[(i % m) * k + i / m]).collect();
            let mut dst = vec![9.0f32; m * n];
            packed.multiply(&mut dst, n, false, &lhs_t, (1, m), m);
            let overwritten: Vec<f32> = expected.iter().map(|v| v - 1.0).collect();
            assert_eq!(dst, overwritten, "{m}×{k}·{k}×{n}, strided lhs");
            // The left-hand side in two parts, against the right-hand side in two stacked
            // parts (the second transposed, read through strides).
            let split = k / 2;
            let bottom_t: Vec<f32> = (0..(k - split) * n)
                .map(|i| rhs[split * n + (i % (k - split)) * n + i / (k - split)])
                .collect();
            let bottom_t = MatrixRef {
                values: Arc::new(HostValues::from(bottom_t)),
                offset: 0,
                strides: (1, k - split),
                rows: k - split,
            };
            let stacked = PackedRhs::pack_stacked(
                vec![matrix(0, (n, 1), split), bottom_t],
                n,
                MIN_USES_TO_PACK,
            );
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
            let mut dst = vec![1.0f32; m * n];
            stacked.multiply_parts(&mut dst, n, true, &parts, m);
            assert_eq!(dst, expected, "{m}×{k}·{k}×{n} in two parts");
        }
    }
}
