//! The register tiles of the packed products, written once with SIMD intrinsics over an
//! instruction set's vectors ([`Simd`], [`TileShape`]).
//!
//! A tile is `R` rows × `NV` vectors of the destination, held in `R·NV` vector registers over
//! the whole inner dimension: at each `k` it loads `NV` vectors of the packed panel and, for
//! each row, broadcasts one left-hand-side element and multiplies-adds it into that row's
//! accumulators. The sizes leave room for the panel's vectors and a broadcast:
//!
//! | kernel | registers | f32 tile (rows × columns) | f64 tile |
//! | --- | --- | --- | --- |
//! | AVX2 + FMA | 16 × 256 bit | 6 × 16 (12 accumulators) | 6 × 8 |
//! | AVX-512F | 32 × 512 bit | 8 × 48 (24 accumulators) | 8 × 24 |
//!
//! (Each instruction set's file in [`super::isa`] gives its sizes.)
//!
//! The rows a full tile leaves, and the last panel's columns, take smaller tiles of the same
//! code (fewer rows, fewer vectors; the last vector written through a mask), so no padding
//! is computed beyond one vector.

use super::simd::{TileShape, load_n, store_n};

/// Columns of a panel for `S`'s tiles of `V` (its f32 or f64 vector).
pub(crate) fn panel_width<V: TileShape>() -> usize {
    V::VECTORS * V::LANES
}

/// One part of a product's left-hand side as raw parts: `k` columns of `values`, rows `row`
/// apart, columns `col` apart.
#[derive(Clone, Copy)]
pub(crate) struct Segment<E> {
    pub values: *const E,
    pub row: usize,
    pub col: usize,
    pub k: usize,
}

/// What a product does with what its destination holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accumulation {
    /// `dst = Σ`
    Replace,
    /// `dst = dst + Σ`: the sum, then the destination added.
    Add,
    /// `dst = Σ`, each sum started from the destination's value: where the destination holds
    /// a product over the first columns of a longer left-hand side (the input projection
    /// `x·W_x`), the product over the rest (`h·W_h`) continues it term by term, and the
    /// result has the bits of the whole product (`[x | h]·[W_x; W_h]`) the same kernel gives.
    Continue,
}

/// `dst[m×n] (+)= [segment₀ | segment₁] · panels`, as raw parts: `panels` holds
/// `ceil(n / NR)` panels of `k × NR`, `k`-major (the last padded with zeros).
pub(crate) struct TileProduct<E> {
    pub panels: *const E,
    pub k: usize,
    pub n: usize,
    pub dst: *mut E,
    pub dst_row: usize,
    pub accumulation: Accumulation,
    pub segments: [Segment<E>; 2],
    pub m: usize,
}

/// The product with the tiles of `V`, an instruction set's vector of the product's element
/// type.
///
/// # Safety
/// The CPU runs `V`'s instruction set (this is compiled inside its `#[target_feature]` entry:
/// `InstructionSet::run`); the panels are packed [`panel_width`]`::<V>()` wide; every row and
/// column the product names lies inside its buffers.
#[inline(always)]
pub(crate) unsafe fn run<V: TileShape>(product: &TileProduct<V::Elem>) {
    // SAFETY: by the caller's promise.
    unsafe { drive::<V>(product) }
}

/// Bytes of a panel's rows that one pass of a block's tiles reads: the L1 data cache (32 to
/// 48 KiB on the CPUs this runs on) keeps them, with room for the left-hand side's rows.
const CHUNK_BYTES: usize = 24 << 10;

/// Rows of a panel ahead of its reads that a block's first tile asks for: that tile brings
/// each chunk of the panel from L2 (or beyond: W3's stacked second layer, 2 MB packed, fills
/// a core's L2) into L1 for the others, and the hardware's prefetchers alone left it waiting.
/// The AVX-512 tiles hot on one Intel core (model 167), alternating builds: `k = 512` 141–150
/// GFLOP/s against 132–141, `m = 32, k = 512` 141–148 against 124–134, `k = 128` level (an
/// ask on every tile cost the cached shapes 2–4%); AVX2 `k = 512` 93–96 against 88–92.
const PREFETCH_ROWS: usize = 8;

/// Rows in blocks (so a block of the left-hand side stays in cache while every panel passes),
/// then panel by panel, then the inner dimension in chunks, then tile by tile.
///
/// The chunks: a panel of more than [`CHUNK_BYTES`] does not stay in the L1 cache while the
/// block's tiles pass over it one after the other, and every tile then streams it from L2
/// (on an Intel Xeon, model 167, in a quiet moment: AVX-512 tiles at 127 GFLOP/s for W3's
/// `k = 384`, 186 for `k = 128`; BENCHMARKS.md has what the chunks gained). So each tile
/// takes a chunk of `k` at a time, its sums stored and loaded again between chunks: each sum
/// still runs over `k` in order, to the same bits. (`Add`, which adds the destination after
/// the whole sum, keeps one chunk.)
#[inline(always)]
unsafe fn drive<V: TileShape>(product: &TileProduct<V::Elem>) {
    const BLOCK_TILES: usize = 16;
    let (k, n, m) = (product.k, product.n, product.m);
    let width = V::VECTORS * V::LANES;
    let block = BLOCK_TILES * V::ROWS;
    let chunk = match product.accumulation {
        Accumulation::Add => k.max(1),
        _ => chunk_rows(k, width * std::mem::size_of::<V::Elem>()),
    };
    for block_start in (0..m).step_by(block) {
        let block_end = (block_start + block).min(m);
        for p in 0..n.div_ceil(width) {
            let place = Place {
                panel: p,
                // SAFETY: panel `p` of `k × width` lies inside the packed buffer.
                panel_data: unsafe { product.panels.add(p * k * width) },
                columns: width.min(n - p * width),
            };
            let vectors = place.columns.div_ceil(V::LANES);
            for first in (0..k.max(1)).step_by(chunk) {
                let mut row = block_start;
                while row < block_end {
                    let rows = V::ROWS.min(block_end - row);
                    let part = Part {
                        first,
                        end: (first + chunk).min(k),
                        last: first + chunk >= k,
                        prefetch: row == block_start,
                    };
                    // SAFETY: rows `row..row + rows` and the panel's columns lie inside the
                    // operands, by the caller's promise.
                    unsafe {
                        match vectors {
                            1 => tile_rows::<V, 1>(product, row, rows, &place, &part),
                            2 if V::VECTORS >= 2 => {
                                tile_rows::<V, 2>(product, row, rows, &place, &part)
                            }
                            3 if V::VECTORS >= 3 => {
                                tile_rows::<V, 3>(product, row, rows, &place, &part)
                            }
                            _ => unreachable!("at most {} vectors", V::VECTORS),
                        }
                    }
                    row += rows;
                }
            }
        }
    }
}

/// Rows of the inner dimension per chunk, for panel rows of `row_bytes`: chunks of about
/// [`CHUNK_BYTES`], equal to within a row.
fn chunk_rows(k: usize, row_bytes: usize) -> usize {
    let chunks = (k * row_bytes).div_ceil(CHUNK_BYTES).max(1);
    k.div_ceil(chunks).max(1)
}

/// Where a tile writes: panel `panel` (its packed data at `panel_data`), of which `columns`
/// are real.
struct Place<E> {
    panel: usize,
    panel_data: *const E,
    columns: usize,
}

/// The rows `first..end` of the inner dimension a tile takes now; `last` when they end it.
struct Part {
    first: usize,
    end: usize,
    last: bool,
    /// Whether the tile asks for the panel's rows ahead of its reads: the block's first
    /// tile, which brings the chunk into L1 for the others.
    prefetch: bool,
}

/// A tile of `rows` (at most the kernel's [`TileShape::ROWS`]) rows and `NV` vectors.
#[inline(always)]
unsafe fn tile_rows<V: TileShape, const NV: usize>(
    product: &TileProduct<V::Elem>,
    row: usize,
    rows: usize,
    place: &Place<V::Elem>,
    part: &Part,
) {
    // SAFETY: as for `drive`. The guards are constants of `V`: the tiles a kernel never
    // uses (more rows or vectors than its registers hold) are not compiled for it.
    unsafe {
        match rows {
            1 => tile::<V, 1, NV>(product, row, place, part),
            2 => tile::<V, 2, NV>(product, row, place, part),
            3 => tile::<V, 3, NV>(product, row, place, part),
            4 => tile::<V, 4, NV>(product, row, place, part),
            5 => tile::<V, 5, NV>(product, row, place, part),
            6 if V::ROWS >= 6 => tile::<V, 6, NV>(product, row, place, part),
            7 if V::ROWS >= 7 => tile::<V, 7, NV>(product, row, place, part),
            8 if V::ROWS >= 8 => tile::<V, 8, NV>(product, row, place, part),
            _ => unreachable!("at most {} rows", V::ROWS),
        }
    }
}

/// `dst[row..row+R, panel columns] (+)= lhs[row..row+R, :] · panel`, the `R × NV`
/// accumulators in registers.
///
/// The accumulators are a local array passed by value (never behind a reference, so the
/// compiler keeps them in registers rather than memory), and no closures: a closure is not
/// compiled with its caller's target features, so intrinsics inside it would stay calls.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // indices over const sizes: fully unrolled
unsafe fn tile<V: TileShape, const R: usize, const NV: usize>(
    product: &TileProduct<V::Elem>,
    row: usize,
    place: &Place<V::Elem>,
    part: &Part,
) {
    let width = V::VECTORS * V::LANES;
    // SAFETY: as for `drive`.
    unsafe {
        let first_column = place.panel * width;
        // Every vector full but, in the last panel, the last one: written apart, so that the
        // loops over the registers unroll (a run-time count in them kept the accumulators in
        // memory).
        let last = place.columns - (NV - 1) * V::LANES;
        let mut acc = [[V::zero(); NV]; R];
        // A later chunk continues the sums the one before stored.
        if part.first > 0 || product.accumulation == Accumulation::Continue {
            for r in 0..R {
                let dst = product.dst.add((row + r) * product.dst_row + first_column);
                for j in 0..NV - 1 {
                    acc[r][j] = V::load(dst.add(j * V::LANES));
                }
                acc[r][NV - 1] = load_n::<V>(dst.add((NV - 1) * V::LANES), last);
            }
        }
        // The chunk's rows of each segment (the first segment's `k` rows, then the second's).
        let [first, second] = product.segments;
        let panel = place.panel_data.add(part.first * width);
        let (first, second) = (piece(first, 0, part), piece(second, first.k, part));
        let (acc, panel) = match part.prefetch {
            true => accumulate::<V, R, NV, true>(acc, first, row, panel),
            false => accumulate::<V, R, NV, false>(acc, first, row, panel),
        };
        let (acc, _) = match part.prefetch {
            true => accumulate::<V, R, NV, true>(acc, second, row, panel),
            false => accumulate::<V, R, NV, false>(acc, second, row, panel),
        };
        let add = product.accumulation == Accumulation::Add && part.last;
        for r in 0..R {
            let dst = product.dst.add((row + r) * product.dst_row + first_column);
            for j in 0..NV - 1 {
                let out = dst.add(j * V::LANES);
                match add {
                    true => acc[r][j].add(V::load(out)).store(out),
                    false => acc[r][j].store(out),
                }
            }
            let out = dst.add((NV - 1) * V::LANES);
            let value = match add {
                true => acc[r][NV - 1].add(load_n::<V>(out, last)),
                false => acc[r][NV - 1],
            };
            store_n(value, out, last);
        }
    }
}

/// The columns of `segment` (which starts at row `offset` of the inner dimension) inside
/// `part`'s rows.
#[inline(always)]
fn piece<E>(segment: Segment<E>, offset: usize, part: &Part) -> Segment<E> {
    let first = part.first.clamp(offset, offset + segment.k);
    let end = part.end.clamp(offset, offset + segment.k);
    Segment {
        // Only offset (never read) when the piece is empty.
        values: segment.values.wrapping_add((first - offset) * segment.col),
        k: end - first,
        ..segment
    }
}

/// `acc + segment[row..row+R, :] · panel[..k]`, and where the panel continues; with
/// `PREFETCH`, each step of `k` also asks for the panel's row [`PREFETCH_ROWS`] ahead.
///
/// # Safety
/// The segment's rows `row..row + R` and the panel's next `k` rows lie inside their buffers.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // indices over const sizes: fully unrolled
unsafe fn accumulate<V: TileShape, const R: usize, const NV: usize, const PREFETCH: bool>(
    mut acc: [[V; NV]; R],
    segment: Segment<V::Elem>,
    row: usize,
    mut panel: *const V::Elem,
) -> ([[V; NV]; R], *const V::Elem) {
    if segment.k == 0 {
        return (acc, panel);
    }
    let width = V::VECTORS * V::LANES;
    // SAFETY: by the caller's promise.
    unsafe {
        // One pointer per row and one offset for all, so each step of `k` is one broadcast
        // per row and one addition.
        let mut rows = [segment.values; R];
        for r in 0..R {
            rows[r] = segment.values.add((row + r) * segment.row);
        }
        let mut offset = 0;
        for _ in 0..segment.k {
            let mut b = [V::zero(); NV];
            for j in 0..NV {
                if PREFETCH {
                    V::prefetch(panel.wrapping_add(PREFETCH_ROWS * width + j * V::LANES));
                }
                b[j] = V::load(panel.add(j * V::LANES));
            }
            panel = panel.add(width);
            for r in 0..R {
                let a = V::splat(*rows[r].add(offset));
                for j in 0..NV {
                    acc[r][j] = a.mul_add(b[j], acc[r][j]);
                }
            }
            offset += segment.col;
        }
    }
    (acc, panel)
}
