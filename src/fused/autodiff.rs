//! The fused layer's backward node inside burn's autodiff.
//!
//! A burn operation has one output per node, and the layer has three (the output sequence,
//! the final hidden state, the final cell state). The layer's node produces the final hidden
//! state; the other two results are nodes whose only parent is that one. Their backward steps
//! run first (a child is deeper in the graph than its parent): each leaves its gradient for the
//! layer's node and registers a zero gradient of the small final-state shape, so the layer's
//! node always has one to consume. The layer's backward then runs once, with every gradient
//! that reached any of the three results.

use std::sync::{Arc, Mutex};

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, TensorMetadata, read_sync, tensor::FloatTensor};
use burn::prelude::*;
use burn::tensor::DType;

use super::host::{Elem, HostTensors, from_host};
use super::layer::{self, Saved, Wanted};
use super::op::{LayerCall, LayerPrimitives, LstmLayerBackend, forward_on};

/// The gradients of the output sequence and of the final cell state, left by their nodes for
/// the layer's node.
#[derive(Debug, Default)]
struct ResultGradients {
    output: Option<TensorData>,
    cell: Option<TensorData>,
}

#[derive(Debug)]
enum SavedAny {
    F32(Saved<f32>),
    F64(Saved<f64>),
}

/// The layer node's state: the forward pass's saved values (taken by the one backward pass)
/// and the gradients its sibling results leave.
#[derive(Clone, Debug)]
struct LayerState {
    saved: Arc<Mutex<Option<SavedAny>>>,
    results: Arc<Mutex<ResultGradients>>,
}

#[derive(Debug)]
struct FusedLayer;

/// Parents, in order: input, input weights, bias, recurrent weights, projection, initial
/// hidden state, initial cell state.
impl<B: Backend> Backward<B, 7> for FusedLayer {
    type State = LayerState;

    fn backward(
        self,
        ops: Ops<Self::State, 7>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let ids = ops.parents.map(|parent| parent.map(|node| node.id));
        let grad_hidden = grads.consume::<B>(&ops.node);
        let device = grad_hidden.device();
        let results = std::mem::take(&mut *ops.state.results.lock().expect("result gradients"));
        let saved = ops
            .state
            .saved
            .lock()
            .expect("saved activations")
            .take()
            .expect("a layer's backward runs once");
        match saved {
            SavedAny::F32(saved) => {
                backward_on::<B, f32>(saved, grad_hidden, results, ids, &device, grads)
            }
            SavedAny::F64(saved) => {
                backward_on::<B, f64>(saved, grad_hidden, results, ids, &device, grads)
            }
        }
    }
}

fn backward_on<B: Backend, E: Elem>(
    saved: Saved<E>,
    grad_hidden: FloatTensor<B>,
    results: ResultGradients,
    ids: [Option<NodeId>; 7],
    device: &B::Device,
    grads: &mut Gradients,
) {
    let [
        input,
        input_weights,
        bias,
        recurrent,
        projection,
        hidden,
        cell,
    ] = ids;
    let host = |data: TensorData| data.try_into_vec::<E>().expect("the layer's dtype");
    let grad_hidden = host(read_sync(B::float_into_data(grad_hidden)).expect("read a gradient"));
    let grad_output = results.output.map(host);
    let grad_cell = results.cell.map(host);
    let shapes = saved.shapes();
    let wanted = Wanted {
        input: input.is_some(),
        input_weights: input_weights.is_some(),
        bias: bias.is_some(),
        recurrent: recurrent.is_some(),
        projection: projection.is_some(),
        hidden: hidden.is_some(),
        cell: cell.is_some(),
    };
    let gradients = layer::backward(
        saved,
        grad_output.as_deref(),
        Some(&grad_hidden),
        grad_cell.as_deref(),
        wanted,
    );
    let mut register = |id: Option<NodeId>, grad: Option<Vec<E>>, shape: &[usize]| {
        if let (Some(id), Some(grad)) = (id, grad) {
            grads.register::<B>(id, from_host::<B, E>(grad, shape, device));
        }
    };
    register(input, gradients.input, &shapes.input);
    register(
        input_weights,
        gradients.input_weights,
        &shapes.input_weights,
    );
    register(bias, gradients.bias, &shapes.bias);
    register(recurrent, gradients.recurrent, &shapes.recurrent);
    register(projection, gradients.projection, &shapes.projection);
    register(hidden, gradients.hidden, &shapes.hidden);
    register(cell, gradients.cell, &shapes.cell);
}

/// Which of the layer's other results a [`ResultNode`] is.
#[derive(Clone, Copy, Debug)]
enum Which {
    Output,
    Cell,
}

/// The node of the output sequence or of the final cell state (see the module documentation).
#[derive(Debug)]
struct ResultNode;

#[derive(Clone, Debug)]
struct ResultState {
    which: Which,
    results: Arc<Mutex<ResultGradients>>,
    /// Shape of the layer node's own result (the final hidden state).
    layer_shape: Vec<usize>,
}

impl<B: Backend> Backward<B, 1> for ResultNode {
    type State = ResultState;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (device, dtype) = (grad.device(), grad.dtype());
        let data = read_sync(B::float_into_data(grad)).expect("read a gradient");
        let state = ops.state;
        {
            let mut results = state.results.lock().expect("result gradients");
            let slot = match state.which {
                Which::Output => &mut results.output,
                Which::Cell => &mut results.cell,
            };
            *slot = Some(data);
        }
        if let Some(layer) = &ops.parents[0] {
            let zeros = B::float_zeros(state.layer_shape.clone().into(), &device, dtype.into());
            grads.register::<B>(layer.id, zeros);
        }
    }
}

impl<B: LstmLayerBackend + HostTensors, C: CheckpointStrategy> LstmLayerBackend for Autodiff<B, C> {
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
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let nodes = [
            input.node(),
            input_weights.node(),
            bias.node(),
            recurrent_weights.node(),
            projection.node(),
            hidden.node(),
            cell.node(),
        ];
        let prep = match FusedLayer.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep,
            OpsKind::UnTracked(prep) => {
                let (output, final_hidden, final_cell) = B::lstm_layer(
                    input.into_primitive(),
                    input_weights.into_primitive(),
                    bias.into_primitive(),
                    recurrent_weights.into_primitive(),
                    projection.into_primitive(),
                    hidden.into_primitive(),
                    cell.into_primitive(),
                    recurrent_mask.into_primitive(),
                    call,
                );
                return untracked_results::<B, C>(prep.finish(final_hidden), output, final_cell);
            }
        };
        let tensors = [
            &input,
            &input_weights,
            &bias,
            &recurrent_weights,
            &projection,
            &hidden,
            &cell,
            &recurrent_mask,
        ];
        let primitives = LayerPrimitives::new(tensors.map(|tensor| tensor.primitive()), &call);
        // dW_x needs the input: keep it only then.
        let keep_input = input_weights.is_tracked();
        let ((output, final_hidden, final_cell), saved) = match input.primitive().dtype() {
            DType::F64 => {
                let (results, saved) = forward_on::<B, f64>(primitives, &call, true, keep_input);
                (results, SavedAny::F64(saved.expect("saved in training")))
            }
            _ => {
                let (results, saved) = forward_on::<B, f32>(primitives, &call, true, keep_input);
                (results, SavedAny::F32(saved.expect("saved in training")))
            }
        };
        let layer_shape = final_hidden.shape().to_vec();
        let results = Arc::new(Mutex::new(ResultGradients::default()));
        let state = LayerState {
            saved: Arc::new(Mutex::new(Some(saved))),
            results: results.clone(),
        };
        let final_hidden = prep.finish(state, final_hidden);
        let follow = |which: Which, primitive: B::FloatTensorPrimitive| {
            let state = ResultState {
                which,
                results: results.clone(),
                layer_shape: layer_shape.clone(),
            };
            match ResultNode
                .prepare::<C>([final_hidden.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state, primitive),
                OpsKind::UnTracked(prep) => prep.finish(primitive),
            }
        };
        let output = follow(Which::Output, output);
        let final_cell = follow(Which::Cell, final_cell);
        (output, final_hidden, final_cell)
    }
}

/// The results of an untracked call as autodiff tensors: untracked too.
fn untracked_results<B: Backend, C: CheckpointStrategy>(
    final_hidden: FloatTensor<Autodiff<B, C>>,
    output: FloatTensor<B>,
    final_cell: FloatTensor<B>,
) -> (
    FloatTensor<Autodiff<B, C>>,
    FloatTensor<Autodiff<B, C>>,
    FloatTensor<Autodiff<B, C>>,
) {
    let untracked = |primitive: FloatTensor<B>| match ResultNode
        .prepare::<C>([final_hidden.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::UnTracked(prep) => prep.finish(primitive),
        OpsKind::Tracked(_) => unreachable!("an untracked parent has untracked children"),
    };
    (
        untracked(output),
        final_hidden.clone(),
        untracked(final_cell),
    )
}
