//! The CPU kernels: one instruction set a file, and the one place that lists them.
//!
//! Each instruction set ([`InstructionSet`], one file here) gives its f32 and f64 vectors,
//! their register tiles, whether the CPU runs it, and its `#[target_feature]` entry; the
//! products, gate passes and softmax rows are written once over it ([`Work`]). [`CpuKernel`]
//! names the kernels a process may choose among — the tile kernels of each instruction set
//! and the portable path (the `gemm` crate's products and plain loops) — and
//! [`CpuKernel::simd`] runs a piece of work with the kernel's instruction set.
//!
//! Adding an instruction set (NEON, say) is a file here implementing [`InstructionSet`] for
//! its vectors, a variant of [`CpuKernel`], and its line in [`CpuKernel::simd`], its name and
//! `ALL` below.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use super::simd::{InstructionSet, Work};

/// A kernel that can serve the fused layer's host products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpuKernel {
    /// Register-tiled products on packed weights with AVX-512F intrinsics (f32 tiles of 8 rows
    /// × 48 columns, f64 of 8 × 24), and AVX-512 element-wise passes.
    Avx512,
    /// The same with AVX2 and FMA intrinsics (tiles of 6 rows × 16 f32 or 8 f64 columns).
    Avx2,
    /// The `gemm` crate's products (its own kernels for the CPU it finds) and portable
    /// element-wise code: the path of every CPU without the tile kernels.
    Gemm,
}

impl CpuKernel {
    /// Every kernel, the tile kernels first.
    const ALL: [CpuKernel; 3] = [Self::Avx512, Self::Avx2, Self::Gemm];

    /// The kernel's name, as `BURN_LSTM_KERNEL` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Gemm => "gemm",
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Self::Gemm => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => avx2::Avx2::detected(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => avx512::Avx512::detected(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every kernel this CPU runs, the tile kernels first.
    pub fn available() -> Vec<CpuKernel> {
        Self::ALL
            .into_iter()
            .filter(|kernel| kernel.is_available())
            .collect()
    }

    /// The kernels `auto` chooses among: those of one rounding — the tile kernels this CPU
    /// runs, or the `gemm` crate alone on a CPU without them.
    pub fn same_bits() -> Vec<CpuKernel> {
        let tiles: Vec<CpuKernel> = Self::available()
            .into_iter()
            .filter(|&kernel| kernel != Self::Gemm)
            .collect();
        match tiles.is_empty() {
            true => vec![Self::Gemm],
            false => tiles,
        }
    }

    /// Runs `work` with this kernel's instruction set; `None` for the portable kernel, whose
    /// callers run their plain code instead.
    ///
    /// # Safety
    /// `work`'s own conditions (pointers, sizes) hold. That the CPU runs the instruction set
    /// is this function's to check: it is asserted, so a kernel the CPU lacks can never run.
    pub(crate) unsafe fn simd<W: Work>(self, work: W) -> Option<W::Output> {
        assert!(
            self.is_available(),
            "the CPU does not run the {self} kernel"
        );
        match self {
            Self::Gemm => None,
            // SAFETY: the CPU runs it (asserted); the work's conditions are the caller's.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => Some(unsafe { avx2::Avx2::run(work) }),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => Some(unsafe { avx512::Avx512::run(work) }),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        }
    }
}

impl std::fmt::Display for CpuKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CpuKernel {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kernel| kernel.name() == name)
            .ok_or_else(|| {
                format!("unknown kernel `{name}`: expected auto, fastest, avx512, avx2 or gemm")
            })
    }
}
