//! The CPU kernels of the fused layer and the fused loss (flex, ndarray), and how one is
//! chosen: measured per shape class on first use, or forced with
//! `BURN_LSTM_KERNEL=auto|fastest|avx512|avx2|gemm`.
//!
//! Nothing here knows of LSTMs: element types ([`elem`](self)), one file per instruction set
//! behind one trait (`isa`, `simd`), the register tiles of the packed products (`tile`,
//! `packed`), the planner that times the candidates (`planner`), the host's buffer pool,
//! its fast math and the softmax rows, and borrowing the CPU backends' tensors (`tensors`).
//!
//! ```
//! use burn_lstm::cpu::{CpuKernel, kernel_choice, kernel_decisions};
//!
//! // What this CPU offers (always at least the gemm crate's portable path).
//! assert!(CpuKernel::available().contains(&CpuKernel::Gemm));
//! // An unknown name in BURN_LSTM_KERNEL would be an error here, and from `try_forward`.
//! assert!(kernel_choice().is_ok());
//! // After a forward pass, each shape class's choice and the timings it was made by.
//! for decision in kernel_decisions() {
//!     println!("{}: {} {:?}", decision.class, decision.kernel, decision.timings);
//! }
//! ```

pub(crate) mod elem;
pub(crate) mod fastmath;
pub(crate) mod isa;
pub(crate) mod packed;
pub(crate) mod planner;
pub(crate) mod pool;
pub(crate) mod simd;
pub(crate) mod softmax;
pub(crate) mod stream;
pub(crate) mod tensors;
pub(crate) mod tile;

/// Whether `device` is one of the CPU backends (flex, ndarray), whose tensors live on the host:
/// where this crate's fused operations run on these kernels, and where a program can choose
/// what suits a CPU (`Device::default()` may be a GPU).
///
/// ```
/// use burn::prelude::*;
///
/// assert!(burn_lstm::cpu::is_cpu_device(&Device::flex()));
/// ```
pub fn is_cpu_device(device: &burn::prelude::Device) -> bool {
    use burn::backend::DispatchDevice;
    match device.clone().without_autodiff().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

pub use isa::CpuKernel;
pub use planner::{
    CallDecision, KERNEL_VARIABLE, KernelChoice, KernelDecision, call_decisions, kernel_choice,
    kernel_decisions,
};

/// Made-up values for the unit tests, spread evenly over about `[-half_range, half_range]`
/// (each `seed` another sequence).
#[cfg(test)]
pub(crate) fn made_up_values(len: usize, seed: usize, half_range: f32) -> Vec<f32> {
    let steps = (2000.0 * half_range) as usize;
    (0..len)
        .map(|i| ((i * 7919 + seed * 104_729) % steps) as f32 / 1000.0 - half_range)
        .collect()
}
