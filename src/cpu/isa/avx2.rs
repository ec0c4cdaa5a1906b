//! AVX2 with FMA: eight f32 or four f64 lanes in sixteen 256-bit registers (Intel since
//! Haswell, AMD since Zen). Everything this instruction set needs is here: its vectors, their
//! tiles, whether the CPU runs it, and the one `#[target_feature]` entry the kernels are
//! compiled through.

use std::arch::x86_64::*;

use crate::cpu::simd::{InstructionSet, ROUNDER, Simd, SimdF32, TileShape, Work};

/// The instruction set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2;

impl InstructionSet for Avx2 {
    type F32 = Avx2F32;
    type F64 = Avx2F64;

    fn detected() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    #[inline]
    unsafe fn run<W: Work>(work: W) -> W::Output {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn with_features<W: Work>(work: W) -> W::Output {
            // SAFETY: the caller's promise (the CPU has AVX2 and FMA), passed on.
            unsafe { work.run::<Avx2>() }
        }
        // SAFETY: as above.
        unsafe { with_features(work) }
    }
}

/// A tile of 6 rows × 2 vectors: 12 accumulators, the panel's 2 vectors and a broadcast in
/// the 16 registers.
impl TileShape for Avx2F32 {
    const ROWS: usize = 6;
    const VECTORS: usize = 2;
}

impl TileShape for Avx2F64 {
    const ROWS: usize = 6;
    const VECTORS: usize = 2;
}

/// Lane masks for the AVX2 partial loads and stores: `count` leading lanes set.
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
#[derive(Clone, Copy)]
pub(crate) struct Avx2F32(__m256);

/// AVX2 with FMA, four f64 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Avx2F64(__m256d);

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
