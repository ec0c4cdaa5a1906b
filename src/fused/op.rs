//! The fused layer on the CPU backends (flex, ndarray): the backend operation's host
//! implementation (what it computes: [`super::layer`]), and the call from the layer's tensors.

use std::sync::Arc;

use burn::backend::{Backend, Dispatch, TensorMetadata, tensor::FloatTensor};
use burn::prelude::*;
use burn::tensor::DType;

#[cfg(feature = "flex")]
use burn::backend::Flex;
#[cfg(feature = "ndarray")]
use burn::backend::NdArray;

use super::backward::backward;
use super::contract::{
    InputGradients, LayerCall, LayerPrimitives, LayerResults, LayerTraining, LstmLayerBackend,
    ResultGradients,
};
use super::forward::{Saved, forward};
use super::host::{Elem, HostTensors, from_host, to_host};
use super::layer::{LayerDims, LayerInputs, LayerWeights, Wanted};

/// A layer call's operands on the host.
struct HostCall<E> {
    dims: LayerDims,
    weights: LayerWeights<E>,
    inputs: LayerInputs<E>,
}

fn host_call<B: HostTensors, E: Elem>(
    tensors: &LayerPrimitives<'_, B>,
    call: &LayerCall,
) -> HostCall<E> {
    let host = |tensor: &FloatTensor<B>| B::host_values::<E>(tensor);
    let shared = |tensor: &FloatTensor<B>| std::sync::Arc::new(host(tensor));
    HostCall {
        dims: tensors.dims(call),
        weights: LayerWeights {
            input: shared(tensors.input_weights),
            bias: tensors.bias.map(shared),
            recurrent: shared(tensors.recurrent_weights),
            projection: tensors.projection.map(shared),
        },
        inputs: LayerInputs {
            input: host(tensors.input),
            hidden: host(tensors.hidden),
            cell: host(tensors.cell),
            recurrent_mask: tensors.recurrent_mask.map(host),
            lengths: call.lengths.as_ref().map(|lengths| lengths.to_vec()),
        },
    }
}

/// Runs a layer call on the host; with `train`, also returns what its backward needs
/// (`keep_input`: the input too, for the input weights' gradient).
fn run_host_call<B: Backend, E: Elem>(
    call: HostCall<E>,
    device: &B::Device,
    train: bool,
    keep_input: bool,
) -> (LayerResults<B>, Option<Saved<E>>) {
    super::LAYER_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dims = call.dims;
    let (outputs, saved) = forward(dims, call.weights, call.inputs, train, keep_input);
    let LayerDims {
        steps,
        batch,
        hidden,
        hidden_out,
        directions,
        ..
    } = dims;
    let sequence = match dims.batch_first {
        true => [batch, steps, directions * hidden_out],
        false => [steps, batch, directions * hidden_out],
    };
    let results = (
        from_host::<B, E>(outputs.output, &sequence, device),
        from_host::<B, E>(outputs.hidden, &[directions, batch, hidden_out], device),
        from_host::<B, E>(outputs.cell, &[directions, batch, hidden], device),
    );
    (results, saved)
}

/// Runs the layer on the host in `E`; with `train`, also returns what its backward needs
/// (`keep_input`: the input too, for the input weights' gradient).
fn forward_on<B: HostTensors, E: Elem>(
    tensors: LayerPrimitives<'_, B>,
    call: &LayerCall,
    train: bool,
    keep_input: bool,
) -> (LayerResults<B>, Option<Saved<E>>) {
    let device = tensors.input.device();
    run_host_call::<B, E>(host_call(&tensors, call), &device, train, keep_input)
}

/// What the host's training forward pass keeps, in the layer's dtype.
#[derive(Debug)]
pub(crate) enum HostSaved {
    F32(Saved<f32>),
    F64(Saved<f64>),
}

fn host_forward_train<B: HostTensors>(
    tensors: LayerPrimitives<'_, B>,
    call: &LayerCall,
    keep_input: bool,
) -> (LayerResults<B>, HostSaved) {
    match tensors.input.dtype() {
        DType::F64 => {
            let (results, saved) = forward_on::<B, f64>(tensors, call, true, keep_input);
            (results, HostSaved::F64(saved.expect("saved in training")))
        }
        _ => {
            let (results, saved) = forward_on::<B, f32>(tensors, call, true, keep_input);
            (results, HostSaved::F32(saved.expect("saved in training")))
        }
    }
}

fn host_backward<B: Backend>(
    saved: HostSaved,
    results: ResultGradients<B>,
    wanted: Wanted,
) -> InputGradients<B> {
    match saved {
        HostSaved::F32(saved) => backward_on::<B, f32>(saved, results, wanted),
        HostSaved::F64(saved) => backward_on::<B, f64>(saved, results, wanted),
    }
}

fn backward_on<B: Backend, E: Elem>(
    saved: Saved<E>,
    results: ResultGradients<B>,
    wanted: Wanted,
) -> InputGradients<B> {
    let device = results.hidden.device();
    let grad_hidden = to_host::<B, E>(results.hidden);
    let grad_output = results.output.map(to_host::<B, E>);
    let grad_cell = results.cell.map(to_host::<B, E>);
    let shapes = saved.shapes();
    let gradients = backward(
        saved,
        grad_output.as_deref(),
        Some(&grad_hidden),
        grad_cell.as_deref(),
        wanted,
    );
    gradients.map(&shapes, |grad, shape| {
        from_host::<B, E>(grad, shape, &device)
    })
}

/// [`LstmLayerBackend::lstm_layer`] on a CPU backend, without autodiff: the operands are
/// read (lent where the backend can), then let go, so that the call's own copies of the
/// weights (joined by the caller, packed here) are not all held at once.
#[allow(clippy::too_many_arguments)]
fn inference<B: HostTensors>(
    input: FloatTensor<B>,
    input_weights: FloatTensor<B>,
    bias: FloatTensor<B>,
    recurrent_weights: FloatTensor<B>,
    projection: FloatTensor<B>,
    hidden: FloatTensor<B>,
    cell: FloatTensor<B>,
    recurrent_mask: FloatTensor<B>,
    call: LayerCall,
) -> LayerResults<B> {
    fn run<B: HostTensors, E: Elem>(
        primitives: [FloatTensor<B>; 8],
        call: &LayerCall,
    ) -> LayerResults<B> {
        let tensors = LayerPrimitives::new(primitives.each_ref(), call);
        let host = host_call::<B, E>(&tensors, call);
        let device = tensors.input.device();
        drop(primitives);
        run_host_call::<B, E>(host, &device, false, false).0
    }
    let dtype = input.dtype();
    let primitives = [
        input,
        input_weights,
        bias,
        recurrent_weights,
        projection,
        hidden,
        cell,
        recurrent_mask,
    ];
    match dtype {
        DType::F64 => run::<B, f64>(primitives, &call),
        _ => run::<B, f32>(primitives, &call),
    }
}

/// The CPU backends' implementations: [`inference`], and training on the host.
macro_rules! cpu_layer {
    ($backend:ty) => {
        impl LayerTraining for $backend {
            type Saved = HostSaved;

            fn forward_train(
                tensors: LayerPrimitives<'_, Self>,
                call: &LayerCall,
                keep_input: bool,
            ) -> (LayerResults<Self>, HostSaved) {
                host_forward_train::<Self>(tensors, call, keep_input)
            }

            fn backward(
                saved: HostSaved,
                results: ResultGradients<Self>,
                wanted: Wanted,
            ) -> InputGradients<Self> {
                host_backward::<Self>(saved, results, wanted)
            }
        }

        impl LstmLayerBackend for $backend {
            fn lstm_layer(
                input: FloatTensor<Self>,
                input_weights: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                recurrent_weights: FloatTensor<Self>,
                projection: FloatTensor<Self>,
                hidden: FloatTensor<Self>,
                cell: FloatTensor<Self>,
                recurrent_mask: FloatTensor<Self>,
                call: LayerCall,
            ) -> LayerResults<Self> {
                inference::<Self>(
                    input,
                    input_weights,
                    bias,
                    recurrent_weights,
                    projection,
                    hidden,
                    cell,
                    recurrent_mask,
                    call,
                )
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_layer!(Flex);
#[cfg(feature = "ndarray")]
cpu_layer!(NdArray);

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
        lengths: lengths.map(|lengths| Arc::new(lengths.to_vec())),
        bias: tensors.bias.is_some(),
        projection: tensors.projection.is_some(),
        recurrent_mask: tensors.recurrent_mask.is_some(),
    };
    let options = (&tensors.input.device(), tensors.input.dtype());
    let stand_in = || Tensor::<1>::zeros([1], options).into_dispatch();
    let (output, hidden, cell) = <Dispatch as LstmLayerBackend>::lstm_layer(
        tensors.input.into_dispatch(),
        tensors.input_weights.into_dispatch(),
        tensors.bias.map_or_else(stand_in, Tensor::into_dispatch),
        tensors.recurrent_weights.into_dispatch(),
        tensors
            .projection
            .map_or_else(stand_in, Tensor::into_dispatch),
        tensors.hidden.into_dispatch(),
        tensors.cell.into_dispatch(),
        tensors
            .recurrent_mask
            .map_or_else(stand_in, Tensor::into_dispatch),
        call,
    );
    (
        Tensor::from_dispatch(output),
        Tensor::from_dispatch(hidden),
        Tensor::from_dispatch(cell),
    )
}
