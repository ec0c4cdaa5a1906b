//! The fused layer on the CPU backends (flex, ndarray): the backend operation's host
//! implementation. What it computes and how: [`layer`]; the step loops: [`forward`],
//! [`backward`] on the units of [`schedule`], or inference by the column [`team`]; the gate
//! passes: [`gates`].

mod backward;
mod forward;
pub(crate) mod gates;
mod layer;
mod schedule;
mod team;

#[cfg(feature = "testing")]
pub(crate) use team::team_calls;

use burn::backend::{TensorMetadata, tensor::FloatTensor};
use burn::tensor::DType;

#[cfg(feature = "flex")]
use burn::backend::Flex;
#[cfg(feature = "ndarray")]
use burn::backend::NdArray;

use crate::cpu::elem::Elem;
use crate::cpu::tensors::{HostTensors, from_host, to_host};
use crate::fused::contract::{
    InputGradients, LayerCall, LayerDims, LayerOperands, LayerPrimitives, LayerResults,
    LayerTraining, LstmLayerBackend, ResultGradients, Wanted,
};
use backward::backward;
pub use forward::{INPUT_PROJECTION_VARIABLE, THREAD_SPLIT_VARIABLE};
use forward::{Saved, forward};
pub(crate) use forward::{input_projection_choice, thread_split_choice};
use layer::{LayerInputs, LayerWeights};

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
fn run_host_call<B: HostTensors, E: Elem>(
    call: HostCall<E>,
    device: &B::Device,
    train: bool,
    keep_input: bool,
) -> (LayerResults<B>, Option<Saved<E>>) {
    crate::fused::LAYER_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        B::from_pooled::<E>(outputs.output, &sequence, device),
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

fn host_backward<B: HostTensors>(
    saved: HostSaved,
    results: ResultGradients<B>,
    wanted: Wanted,
) -> InputGradients<B> {
    match saved {
        HostSaved::F32(saved) => backward_on::<B, f32>(saved, results, wanted),
        HostSaved::F64(saved) => backward_on::<B, f64>(saved, results, wanted),
    }
}

fn backward_on<B: HostTensors, E: Elem>(
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
        B::from_pooled::<E>(grad, shape, &device)
    })
}

/// [`LstmLayerBackend::lstm_layer`] on a CPU backend, without autodiff: the operands are
/// read (lent where the backend can), then let go, so that the call's own copies of the
/// weights (joined by the caller, packed here) are not all held at once.
fn inference<B: HostTensors>(operands: LayerOperands<B>) -> LayerResults<B> {
    fn run<B: HostTensors, E: Elem>(operands: LayerOperands<B>) -> LayerResults<B> {
        let tensors = operands.primitives();
        let host = host_call::<B, E>(&tensors, &operands.call);
        let device = tensors.input.device();
        drop(operands);
        run_host_call::<B, E>(host, &device, false, false).0
    }
    match operands.input.dtype() {
        DType::F64 => run::<B, f64>(operands),
        _ => run::<B, f32>(operands),
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
            fn lstm_layer(operands: LayerOperands<Self>) -> LayerResults<Self> {
                inference::<Self>(operands)
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_layer!(Flex);
#[cfg(feature = "ndarray")]
cpu_layer!(NdArray);
