//! The fused LSTM layer: one layer — every time step of every direction — as one burn backend
//! operation with its own backward node inside burn's autodiff.
//!
//! - [`contract`]: the operation ([`contract::LstmLayerBackend`]), its operands, sizes and
//!   gradients, and what a backend provides for training it;
//! - `host`: the CPU backends' implementation (flex, ndarray; f32 and f64), on the kernels of
//!   [`crate::cpu`];
//! - `cube`: burn's CubeCL backend's (wgpu, CUDA; f32), as CubeCL kernels;
//! - `autodiff`: the one backward node both kinds of backend train through.
//!
//! The composed path (burn tensor operations, burn's autodiff end to end) computes the same
//! thing and is what the other backends run; `Recurrence::Composed` selects it everywhere.

// burn-ndarray is deprecated in burn 0.22 but remains a supported backend of this crate.
#![allow(deprecated)]

mod autodiff;
pub(crate) mod contract;
// The CubeCL backend's layer (wgpu, CUDA).
#[cfg(feature = "cube")]
mod cube;
// The CPU backends' layer (flex, ndarray).
pub(crate) mod host;

use std::sync::Arc;

use burn::backend::Dispatch;
use burn::prelude::*;
use burn::tensor::DType;

use contract::{LayerCall, LayerOperands, LstmLayerBackend};
#[cfg(all(feature = "cube", feature = "testing"))]
pub(crate) use cube::recurrence_kernel_launches;

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
    crate::cpu::is_cpu_device(device) && matches!(dtype, DType::F32 | DType::F64)
}

/// The layer's tensors, as the callers in [`crate::recurrence`] hold them.
pub(crate) struct LayerTensors {
    /// `[T, N, F]` or `[N, T, F]`
    pub input: Tensor<3>,
    /// `[F, D·4H]`
    pub input_weights: Tensor<2>,
    /// `[D·4H]`
    pub bias: Option<Tensor<1>>,
    /// `[Hout, D·4H]`
    pub recurrent_weights: Tensor<2>,
    /// `[D, H, Hout]`
    pub projection: Option<Tensor<3>>,
    /// `[D, N, Hout]`
    pub hidden: Tensor<3>,
    /// `[D, N, H]`
    pub cell: Tensor<3>,
    /// `[D, N, Hout]`
    pub recurrent_mask: Option<Tensor<3>>,
}

/// Runs one fused layer (see [`LstmLayerBackend::lstm_layer`]): the output and the final
/// hidden and cell states.
pub(crate) fn lstm_layer(
    tensors: LayerTensors,
    lengths: Option<&[usize]>,
    batch_first: bool,
) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
    let call = LayerCall {
        batch_first,
        directions: tensors.hidden.dims()[0],
        hidden: tensors.cell.dims()[2],
        lengths: lengths.map(|lengths| Arc::new(lengths.to_vec())),
        bias: tensors.bias.is_some(),
        projection: tensors.projection.is_some(),
        recurrent_mask: tensors.recurrent_mask.is_some(),
    };
    let options = (&tensors.input.device(), tensors.input.dtype());
    let stand_in = || Tensor::<1>::zeros([1], options).into_dispatch();
    let (output, hidden, cell) = <Dispatch as LstmLayerBackend>::lstm_layer(LayerOperands {
        input: tensors.input.into_dispatch(),
        input_weights: tensors.input_weights.into_dispatch(),
        bias: tensors.bias.map_or_else(stand_in, Tensor::into_dispatch),
        recurrent_weights: tensors.recurrent_weights.into_dispatch(),
        projection: tensors
            .projection
            .map_or_else(stand_in, Tensor::into_dispatch),
        hidden: tensors.hidden.into_dispatch(),
        cell: tensors.cell.into_dispatch(),
        recurrent_mask: tensors
            .recurrent_mask
            .map_or_else(stand_in, Tensor::into_dispatch),
        call,
    });
    (
        Tensor::from_dispatch(output),
        Tensor::from_dispatch(hidden),
        Tensor::from_dispatch(cell),
    )
}
