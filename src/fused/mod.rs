//! Fused operations with their own backward nodes inside burn's autodiff:
//!
//! - [`op::LstmLayerBackend`]: one LSTM layer — every time step of every direction — as one
//!   operation: on the CPU backends (flex, ndarray; f32 and f64) computed on the host (what it
//!   computes and how: [`layer`]), on burn's CubeCL backend (wgpu, CUDA; f32) as CubeCL
//!   kernels (`cube`, `kernels`);
//! - `cross_entropy::CrossEntropyBackend` (with the `programs` feature): a language model's
//!   output layer and its cross-entropy as one operation; `OutputLogitsBackend`, the output
//!   layer alone for generation.
//!
//! The composed path (burn tensor operations, burn's autodiff end to end) computes the same
//! thing and is what the other backends run; `Recurrence::Composed` selects it everywhere.
//! The backward node ([`autodiff`]) is one for both kinds of backend, through
//! `autodiff::LayerTraining`.

// burn-ndarray is deprecated in burn 0.22 but remains a supported backend of this crate.
#![allow(deprecated)]

mod autodiff;
mod backward;
mod contract;
// A language model's output layer and its loss (the public face: `crate::output`).
mod cross_entropy;
// The CubeCL backend's kernels (wgpu, CUDA).
#[cfg(feature = "cube")]
mod cube;
mod elementwise;
mod fastmath;
mod forward;
pub(crate) mod host;
pub(crate) mod kernel;
#[cfg(feature = "cube")]
mod kernels;
mod layer;
mod op;
mod packed;
mod pool;
mod schedule;
mod simd;
mod tile;

use burn::prelude::*;
use burn::tensor::DType;

pub(crate) use cross_entropy::{Targets, linear_cross_entropy, output_logits};
#[cfg(feature = "cube")]
pub(crate) use cube::recurrence_kernel_launches;
pub(crate) use op::{LayerTensors, lstm_layer};

static LAYER_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many fused layer calls this process has made (for `crate::testing`).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn fused_layer_calls() -> usize {
    LAYER_CALLS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether the fused layer runs on `device` for `dtype`: the CPU backends in f32 or f64, and
/// burn's CubeCL backend (wgpu, CUDA) in f32.
pub(crate) fn supported(device: &Device, dtype: DType) -> bool {
    #[cfg(feature = "cube")]
    if let burn::backend::DispatchDevice::Cube(_) = device.clone().without_autodiff().as_dispatch()
    {
        return cube::supports(dtype);
    }
    on_host(device, dtype)
}

/// Whether a layer of `batch` rows and `hidden_out` hidden outputs fits the fused layer on
/// `device`: the GPU kernels run a cube per row (a launch has at most 65 535 cubes along a
/// dimension, WebGPU's limit) and stage a row's hidden state in shared memory; what does not
/// fit takes the composed path.
pub(crate) fn fits(device: &Device, batch: usize, hidden_out: usize) -> bool {
    #[cfg(feature = "cube")]
    if let burn::backend::DispatchDevice::Cube(_) = device.clone().without_autodiff().as_dispatch()
    {
        return batch <= 65_535 && hidden_out <= cube::MAX_STAGED;
    }
    let _ = (device, batch, hidden_out);
    true
}

/// Whether `device` is one of the CPU backends, whose fused operations run on the host, and
/// `dtype` one they compute in (f32, f64).
pub(crate) fn on_host(device: &Device, dtype: DType) -> bool {
    use burn::backend::DispatchDevice;
    let cpu = match device.clone().without_autodiff().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        #[allow(unreachable_patterns)]
        _ => false,
    };
    cpu && matches!(dtype, DType::F32 | DType::F64)
}
