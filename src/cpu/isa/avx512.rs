//! AVX-512F (with DQ, VL and BW): sixteen f32 or eight f64 lanes in thirty-two 512-bit
//! registers (Intel's Xeons since Skylake-SP, AMD since Zen 4). Everything this instruction
//! set needs is here: its vectors, their tiles, whether the CPU runs it, and the one
//! `#[target_feature]` entry the kernels are compiled through.

use std::arch::x86_64::*;

use crate::cpu::simd::{InstructionSet, ROUNDER, Simd, SimdF32, TileShape, Work};

/// The instruction set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512;

impl InstructionSet for Avx512 {
    type F32 = Avx512F32;
    type F64 = Avx512F64;

    fn detected() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bw")
    }

    #[inline]
    unsafe fn run<W: Work>(work: W) -> W::Output {
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
        unsafe fn with_features<W: Work>(work: W) -> W::Output {
            // SAFETY: the caller's promise (the CPU has AVX-512), passed on.
            unsafe { work.run::<Avx512>() }
        }
        // SAFETY: as above.
        unsafe { with_features(work) }
    }
}

/// A tile of 8 rows × 3 vectors: 24 accumulators, the panel's 3 vectors and a broadcast in
/// the 32 registers.
impl TileShape for Avx512F32 {
    const ROWS: usize = 8;
    const VECTORS: usize = 3;
}

impl TileShape for Avx512F64 {
    const ROWS: usize = 8;
    const VECTORS: usize = 3;
}

/// AVX-512F, sixteen f32 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32(__m512);

/// AVX-512F, eight f64 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Avx512F64(__m512d);

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
    unsafe fn reduce_max(self) -> f32 {
        unsafe { _mm512_reduce_max_ps(self.0) }
    }
}

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
    unsafe fn reduce_max(self) -> f64 {
        unsafe { _mm512_reduce_max_pd(self.0) }
    }
}
