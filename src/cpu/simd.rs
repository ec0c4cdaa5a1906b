//! SIMD vectors written with `std::arch` intrinsics, so that the host kernels get the
//! instructions intended rather than whatever the auto-vectoriser makes of plain loops; and
//! the instruction sets that provide them.
//!
//! [`Simd`] is one vector register of f32 or f64 lanes; an [`InstructionSet`] names its f32
//! and f64 vectors, says whether the CPU runs it, and enters code compiled for it. The product
//! tiles ([`super::tile`]), the gate passes and the softmax rows are written once as
//! [`Work`] generic over the instruction set, and each instruction set compiles them inside
//! its one `#[target_feature]` function, where these always-inlined methods become single
//! instructions. An instruction set is one file of [`super::isa`].
//!
//! Every method is `unsafe`: it may only run on a CPU with the vector's instruction set (the
//! callers enter through `CpuKernel::simd`, which only runs an instruction set the CPU has),
//! and the loads and stores read and write through raw pointers.

/// An instruction set: its vectors, whether this CPU runs it, and the way into code compiled
/// for it.
pub(crate) trait InstructionSet: Copy + 'static {
    /// Its f32 vector.
    type F32: SimdF32 + TileShape;
    /// Its f64 vector.
    type F64: Simd<Elem = f64> + TileShape;

    /// Whether this CPU runs it.
    fn detected() -> bool;

    /// Runs `work` compiled with this instruction set's target features.
    ///
    /// # Safety
    /// The CPU runs it ([`InstructionSet::detected`]), and `work`'s own conditions hold.
    unsafe fn run<W: Work>(work: W) -> W::Output;
}

/// Code written once over an instruction set's vectors. Implementations mark `run`
/// `#[inline(always)]`, so that it is compiled inside the instruction set's
/// `#[target_feature]` function (a call to a function without them would run the intrinsics
/// as calls).
pub(crate) trait Work {
    /// What it returns.
    type Output;

    /// The work, with `S`'s vectors.
    ///
    /// # Safety
    /// The CPU runs `S`, and the work's own conditions (pointers, sizes) hold.
    unsafe fn run<S: InstructionSet>(self) -> Self::Output;
}

/// A vector type's register tile for the packed products: its most rows and vectors (see
/// [`super::tile`]).
pub(crate) trait TileShape: Simd {
    /// Rows of the tile.
    const ROWS: usize;
    /// Vectors (of `LANES` columns) of the tile.
    const VECTORS: usize;
}

/// One SIMD register of `LANES` elements.
pub(crate) trait Simd: Copy {
    type Elem: Copy;
    const LANES: usize;

    unsafe fn zero() -> Self;
    unsafe fn splat(value: Self::Elem) -> Self;
    /// `LANES` elements from `ptr` (no alignment needed).
    unsafe fn load(ptr: *const Self::Elem) -> Self;
    /// The first `count` (< `LANES`) elements from `ptr`, the other lanes zero; nothing past
    /// them is read.
    unsafe fn load_partial(ptr: *const Self::Elem, count: usize) -> Self;
    unsafe fn store(self, ptr: *mut Self::Elem);
    /// The first `count` (< `LANES`) lanes to `ptr`; nothing past them is written.
    unsafe fn store_partial(self, ptr: *mut Self::Elem, count: usize);
    unsafe fn add(self, other: Self) -> Self;
    unsafe fn sub(self, other: Self) -> Self;
    unsafe fn mul(self, other: Self) -> Self;
    unsafe fn div(self, other: Self) -> Self;
    /// `self · a + b`, one rounding.
    unsafe fn mul_add(self, a: Self, b: Self) -> Self;
    unsafe fn max(self, other: Self) -> Self;
    unsafe fn min(self, other: Self) -> Self;
    unsafe fn reduce_max(self) -> Self::Elem;
    /// Asks for the cache line at `ptr` in L1 (a hint: any address, nothing read).
    #[inline(always)]
    unsafe fn prefetch(ptr: *const Self::Elem) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch reads nothing and faults on no address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast())
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = ptr;
    }
}

/// The f32 vectors' extra operations, for `exp` and the activations built on it.
pub(crate) trait SimdF32: Simd<Elem = f32> {
    /// `|self|`
    unsafe fn abs(self) -> Self;
    /// `|self|` with the sign of `sign`.
    unsafe fn copysign(self, sign: Self) -> Self;
    /// The bits of each lane as an integer `i`, turned into `2^(i - bits(ROUNDER))`: see
    /// [`exp`].
    unsafe fn pow2_from_rounded(self) -> Self;
}

/// Loads `count` elements (full or partial vector).
#[inline(always)]
pub(crate) unsafe fn load_n<V: Simd>(ptr: *const V::Elem, count: usize) -> V {
    // SAFETY: by the caller's promise.
    unsafe {
        if count == V::LANES {
            V::load(ptr)
        } else {
            V::load_partial(ptr, count)
        }
    }
}

/// Stores `count` lanes (full or partial vector).
#[inline(always)]
pub(crate) unsafe fn store_n<V: Simd>(value: V, ptr: *mut V::Elem, count: usize) {
    // SAFETY: by the caller's promise.
    unsafe {
        if count == V::LANES {
            value.store(ptr)
        } else {
            value.store_partial(ptr, count)
        }
    }
}

// `exp` by range reduction: the same constants and steps as the scalar `fastmath::exp_f32`.
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
pub(crate) const ROUNDER: f32 = 12_582_912.0;

/// `exp` of every lane: `x = n·ln2 + r`, `|r| ≤ ln2/2`, a degree-6 polynomial for `exp(r)`
/// and `2ⁿ` put in the exponent bits. Lanes beyond ±87 saturate (to about 1.6e-38 or 6e37).
#[inline(always)]
pub(crate) unsafe fn exp<V: SimdF32>(x: V) -> V {
    // SAFETY: register arithmetic on a CPU with the vector's features (the caller's promise).
    unsafe {
        let x = x.max(V::splat(-87.0)).min(V::splat(87.0));
        let shifted = x.mul_add(V::splat(LOG2E), V::splat(ROUNDER));
        let n = shifted.sub(V::splat(ROUNDER));
        let r = n.mul_add(V::splat(-LN2_HI), x);
        let r = n.mul_add(V::splat(-LN2_LO), r);
        let mut p = V::splat(1.0 / 720.0);
        for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = p.mul_add(r, V::splat(c));
        }
        p.mul(shifted.pow2_from_rounded())
    }
}

#[inline(always)]
pub(crate) unsafe fn sigmoid<V: SimdF32>(x: V) -> V {
    // SAFETY: as for `exp`.
    unsafe {
        let one = V::splat(1.0);
        one.div(one.add(exp(V::zero().sub(x))))
    }
}

/// `tanh(x) = sign(x)·(1 − e)/(1 + e)` with `e = exp(−2|x|)`: no overflow, no cancellation.
#[inline(always)]
pub(crate) unsafe fn tanh<V: SimdF32>(x: V) -> V {
    // SAFETY: as for `exp`.
    unsafe {
        let one = V::splat(1.0);
        let e = exp(x.abs().mul(V::splat(-2.0)));
        one.sub(e).div(one.add(e)).copysign(x)
    }
}
