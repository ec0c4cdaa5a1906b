//! SIMD vectors written with `std::arch` intrinsics, so that the host kernels get the
//! instructions intended rather than whatever the auto-vectoriser makes of plain loops.
//!
//! [`Simd`] is one vector register of f32 or f64 lanes: AVX2 (`__m256`, `__m256d`) or
//! AVX-512F (`__m512`, `__m512d`). The product tiles ([`super::tile`]) and the gate and
//! softmax passes ([`super::gates`], the fused cross-entropy) are written once, generic over
//! it, and compiled inside a `#[target_feature]` function per instruction set, where these
//! always-inlined methods become single instructions.
//!
//! Every method is `unsafe`: it may only run on a CPU with the vector's instruction set (the
//! callers enter through [`super::kernel::Isa`], which is only ever one the CPU has), and the
//! loads and stores read and write through raw pointers.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

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
    unsafe fn reduce_add(self) -> Self::Elem;
    unsafe fn reduce_max(self) -> Self::Elem;
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
const ROUNDER: f32 = 12_582_912.0;

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

/// Lane masks for the AVX2 partial loads and stores: `count` leading lanes set.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn avx2_mask(count: usize, lanes: usize) -> __m256i {
    // Lanes of 32 bits (f32) or 64 bits (f64) whose index is below `count`.
    // SAFETY: register arithmetic; the caller has AVX2.
    unsafe {
        match lanes {
            8 => {
                let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                _mm256_cmpgt_epi32(_mm256_set1_epi32(count as i32), index)
            }
            _ => {
                let index = _mm256_setr_epi64x(0, 1, 2, 3);
                _mm256_cmpgt_epi64(_mm256_set1_epi64x(count as i64), index)
            }
        }
    }
}

/// AVX2 with FMA, eight f32 lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2F32(__m256);

/// AVX2 with FMA, four f64 lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2F64(__m256d);

/// AVX-512F, sixteen f32 lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32(__m512);

/// AVX-512F, eight f64 lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512F64(__m512d);

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2F32 {
    type Elem = f32;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { Self(_mm256_setzero_ps()) }
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        unsafe { Self(_mm256_set1_ps(value)) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> Self {
        unsafe { Self(_mm256_loadu_ps(ptr)) }
    }
    #[inline(always)]
    unsafe fn load_partial(ptr: *const f32, count: usize) -> Self {
        unsafe { Self(_mm256_maskload_ps(ptr, avx2_mask(count, 8))) }
    }
    #[inline(always)]
    unsafe fn store(self, ptr: *mut f32) {
        unsafe { _mm256_storeu_ps(ptr, self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, ptr: *mut f32, count: usize) {
        unsafe { _mm256_maskstore_ps(ptr, avx2_mask(count, 8), self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        unsafe { Self(_mm256_add_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        unsafe { Self(_mm256_sub_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        unsafe { Self(_mm256_mul_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn div(self, other: Self) -> Self {
        unsafe { Self(_mm256_div_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        unsafe { Self(_mm256_fmadd_ps(self.0, a.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        unsafe { Self(_mm256_max_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn min(self, other: Self) -> Self {
        unsafe { Self(_mm256_min_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn reduce_add(self) -> f32 {
        unsafe {
            let half = _mm_add_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
            _mm_cvtss_f32(_mm_add_ss(quarter, _mm_movehdup_ps(quarter)))
        }
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        unsafe {
            let half = _mm_max_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let quarter = _mm_max_ps(half, _mm_movehl_ps(half, half));
            _mm_cvtss_f32(_mm_max_ss(quarter, _mm_movehdup_ps(quarter)))
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl SimdF32 for Avx2F32 {
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        unsafe { Self(_mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0)) }
    }
    #[inline(always)]
    unsafe fn copysign(self, sign: Self) -> Self {
        unsafe {
            let sign_bit = _mm256_set1_ps(-0.0);
            Self(_mm256_or_ps(
                _mm256_andnot_ps(sign_bit, self.0),
                _mm256_and_ps(sign_bit, sign.0),
            ))
        }
    }
    #[inline(always)]
    unsafe fn pow2_from_rounded(self) -> Self {
        unsafe {
            let bits = _mm256_castps_si256(self.0);
            let exponent = _mm256_add_epi32(
                _mm256_sub_epi32(bits, _mm256_set1_epi32(ROUNDER.to_bits() as i32)),
                _mm256_set1_epi32(127),
            );
            Self(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(exponent)))
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2F64 {
    type Elem = f64;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { Self(_mm256_setzero_pd()) }
    }
    #[inline(always)]
    unsafe fn splat(value: f64) -> Self {
        unsafe { Self(_mm256_set1_pd(value)) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f64) -> Self {
        unsafe { Self(_mm256_loadu_pd(ptr)) }
    }
    #[inline(always)]
    unsafe fn load_partial(ptr: *const f64, count: usize) -> Self {
        unsafe { Self(_mm256_maskload_pd(ptr, avx2_mask(count, 4))) }
    }
    #[inline(always)]
    unsafe fn store(self, ptr: *mut f64) {
        unsafe { _mm256_storeu_pd(ptr, self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, ptr: *mut f64, count: usize) {
        unsafe { _mm256_maskstore_pd(ptr, avx2_mask(count, 4), self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        unsafe { Self(_mm256_add_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        unsafe { Self(_mm256_sub_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        unsafe { Self(_mm256_mul_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn div(self, other: Self) -> Self {
        unsafe { Self(_mm256_div_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        unsafe { Self(_mm256_fmadd_pd(self.0, a.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        unsafe { Self(_mm256_max_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn min(self, other: Self) -> Self {
        unsafe { Self(_mm256_min_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn reduce_add(self) -> f64 {
        unsafe {
            let half = _mm_add_pd(
                _mm256_castpd256_pd128(self.0),
                _mm256_extractf128_pd::<1>(self.0),
            );
            _mm_cvtsd_f64(_mm_add_sd(half, _mm_unpackhi_pd(half, half)))
        }
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f64 {
        unsafe {
            let half = _mm_max_pd(
                _mm256_castpd256_pd128(self.0),
                _mm256_extractf128_pd::<1>(self.0),
            );
            _mm_cvtsd_f64(_mm_max_sd(half, _mm_unpackhi_pd(half, half)))
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Simd for Avx512F32 {
    type Elem = f32;
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { Self(_mm512_setzero_ps()) }
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        unsafe { Self(_mm512_set1_ps(value)) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> Self {
        unsafe { Self(_mm512_loadu_ps(ptr)) }
    }
    #[inline(always)]
    unsafe fn load_partial(ptr: *const f32, count: usize) -> Self {
        unsafe { Self(_mm512_maskz_loadu_ps(((1u32 << count) - 1) as u16, ptr)) }
    }
    #[inline(always)]
    unsafe fn store(self, ptr: *mut f32) {
        unsafe { _mm512_storeu_ps(ptr, self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, ptr: *mut f32, count: usize) {
        unsafe { _mm512_mask_storeu_ps(ptr, ((1u32 << count) - 1) as u16, self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        unsafe { Self(_mm512_add_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        unsafe { Self(_mm512_sub_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        unsafe { Self(_mm512_mul_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn div(self, other: Self) -> Self {
        unsafe { Self(_mm512_div_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        unsafe { Self(_mm512_fmadd_ps(self.0, a.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        unsafe { Self(_mm512_max_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn min(self, other: Self) -> Self {
        unsafe { Self(_mm512_min_ps(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn reduce_add(self) -> f32 {
        unsafe { _mm512_reduce_add_ps(self.0) }
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        unsafe { _mm512_reduce_max_ps(self.0) }
    }
}

#[cfg(target_arch = "x86_64")]
impl SimdF32 for Avx512F32 {
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        unsafe { Self(_mm512_abs_ps(self.0)) }
    }
    #[inline(always)]
    unsafe fn copysign(self, sign: Self) -> Self {
        unsafe {
            let sign_bit = _mm512_set1_epi32(i32::MIN);
            let magnitude = _mm512_andnot_si512(sign_bit, _mm512_castps_si512(self.0));
            let sign = _mm512_and_si512(sign_bit, _mm512_castps_si512(sign.0));
            Self(_mm512_castsi512_ps(_mm512_or_si512(magnitude, sign)))
        }
    }
    #[inline(always)]
    unsafe fn pow2_from_rounded(self) -> Self {
        unsafe {
            let bits = _mm512_castps_si512(self.0);
            let exponent = _mm512_add_epi32(
                _mm512_sub_epi32(bits, _mm512_set1_epi32(ROUNDER.to_bits() as i32)),
                _mm512_set1_epi32(127),
            );
            Self(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(exponent)))
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Simd for Avx512F64 {
    type Elem = f64;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { Self(_mm512_setzero_pd()) }
    }
    #[inline(always)]
    unsafe fn splat(value: f64) -> Self {
        unsafe { Self(_mm512_set1_pd(value)) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f64) -> Self {
        unsafe { Self(_mm512_loadu_pd(ptr)) }
    }
    #[inline(always)]
    unsafe fn load_partial(ptr: *const f64, count: usize) -> Self {
        unsafe { Self(_mm512_maskz_loadu_pd(((1u32 << count) - 1) as u8, ptr)) }
    }
    #[inline(always)]
    unsafe fn store(self, ptr: *mut f64) {
        unsafe { _mm512_storeu_pd(ptr, self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, ptr: *mut f64, count: usize) {
        unsafe { _mm512_mask_storeu_pd(ptr, ((1u32 << count) - 1) as u8, self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        unsafe { Self(_mm512_add_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        unsafe { Self(_mm512_sub_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        unsafe { Self(_mm512_mul_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn div(self, other: Self) -> Self {
        unsafe { Self(_mm512_div_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        unsafe { Self(_mm512_fmadd_pd(self.0, a.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        unsafe { Self(_mm512_max_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn min(self, other: Self) -> Self {
        unsafe { Self(_mm512_min_pd(self.0, other.0)) }
    }
    #[inline(always)]
    unsafe fn reduce_add(self) -> f64 {
        unsafe { _mm512_reduce_add_pd(self.0) }
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f64 {
        unsafe { _mm512_reduce_max_pd(self.0) }
    }
}
