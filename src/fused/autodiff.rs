//! The fused layer's backward node inside burn's autodiff.
//!
//! A burn operation has one output per node, and the layer has three (the output sequence,
//! the final hidden state, the final cell state). The layer's node produces the final hidden
//! state; the other two results are nodes whose only parent is that one. Their backward steps
//! run first (a child is deeper in the graph than its parent): each leaves its gradient for the
//! layer's node and registers a zero gradient of the small final-state shape, so the layer's
//! node always has one to consume. The layer's backward then runs once, with every gradient
//! that reached any of the three results: the backend's own ([`LayerTraining`]), on the host
//! for the CPU backends, as kernels on the device for the CubeCL backend.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, TensorMetadata, tensor::FloatTensor};

use super::contract::{
    LayerOperands, LayerPrimitives, LayerResults, LayerTraining, LstmLayerBackend, ResultGradients,
    Wanted,
};

/// The gradients of the output sequence and of the final cell state, left by their nodes for
/// the layer's node.
#[derive(Debug)]
struct SiblingGradients<B: Backend> {
    output: Option<FloatTensor<B>>,
    cell: Option<FloatTensor<B>>,
}

impl<B: Backend> Default for SiblingGradients<B> {
    fn default() -> Self {
        Self {
            output: None,
            cell: None,
        }
    }
}

/// The layer node's state: the forward pass's saved values (taken by the one backward pass)
/// and the gradients its sibling results leave.
#[derive(Debug)]
struct LayerState<B: LayerTraining> {
    saved: Arc<Mutex<Option<B::Saved>>>,
    results: Arc<Mutex<SiblingGradients<B>>>,
}

impl<B: LayerTraining> Clone for LayerState<B> {
    fn clone(&self) -> Self {
        Self {
            saved: self.saved.clone(),
            results: self.results.clone(),
        }
    }
}

#[derive(Debug)]
struct FusedLayer<B>(PhantomData<fn() -> B>);

/// Parents, in order: input, input weights, bias, recurrent weights, projection, initial
/// hidden state, initial cell state.
impl<B: LayerTraining> Backward<B, 7> for FusedLayer<B> {
    type State = LayerState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 7>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let ids = ops.parents.map(|parent| parent.map(|node| node.id));
        let hidden = grads.consume::<B>(&ops.node);
        let siblings = std::mem::take(&mut *ops.state.results.lock().expect("result gradients"));
        let saved = ops
            .state
            .saved
            .lock()
            .expect("saved activations")
            .take()
            .expect("a layer's backward runs once");
        let results = ResultGradients {
            output: siblings.output,
            hidden,
            cell: siblings.cell,
        };
        let [
            input,
            input_weights,
            bias,
            recurrent,
            projection,
            hidden,
            cell,
        ] = ids;
        let wanted = Wanted {
            input: input.is_some(),
            input_weights: input_weights.is_some(),
            bias: bias.is_some(),
            recurrent: recurrent.is_some(),
            projection: projection.is_some(),
            hidden: hidden.is_some(),
            cell: cell.is_some(),
        };
        let gradients = B::backward(saved, results, wanted);
        let mut register = |id: Option<NodeId>, grad: Option<FloatTensor<B>>| {
            if let (Some(id), Some(grad)) = (id, grad) {
                grads.register::<B>(id, grad);
            }
        };
        register(input, gradients.input);
        register(input_weights, gradients.input_weights);
        register(bias, gradients.bias);
        register(recurrent, gradients.recurrent);
        register(projection, gradients.projection);
        register(hidden, gradients.hidden);
        register(cell, gradients.cell);
    }
}

/// Which of the layer's other results a [`ResultNode`] is.
#[derive(Clone, Copy, Debug)]
enum Which {
    Output,
    Cell,
}

/// The node of the output sequence or of the final cell state (see the module documentation).
#[derive(Debug)]
struct ResultNode<B>(PhantomData<fn() -> B>);

impl<B> ResultNode<B> {
    fn new() -> Self {
        Self(PhantomData)
    }
}

#[derive(Debug)]
struct ResultState<B: Backend> {
    which: Which,
    results: Arc<Mutex<SiblingGradients<B>>>,
    /// Shape of the layer node's own result (the final hidden state).
    layer_shape: Vec<usize>,
}

impl<B: Backend> Clone for ResultState<B> {
    fn clone(&self) -> Self {
        Self {
            which: self.which,
            results: self.results.clone(),
            layer_shape: self.layer_shape.clone(),
        }
    }
}

impl<B: Backend> Backward<B, 1> for ResultNode<B> {
    type State = ResultState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (device, dtype) = (grad.device(), grad.dtype());
        let state = ops.state;
        {
            let mut results = state.results.lock().expect("result gradients");
            let slot = match state.which {
                Which::Output => &mut results.output,
                Which::Cell => &mut results.cell,
            };
            *slot = Some(grad);
        }
        if let Some(layer) = &ops.parents[0] {
            let zeros = B::float_zeros(state.layer_shape.clone().into(), &device, dtype.into());
            grads.register::<B>(layer.id, zeros);
        }
    }
}

impl<B: LstmLayerBackend + LayerTraining, C: CheckpointStrategy> LstmLayerBackend
    for Autodiff<B, C>
{
    fn lstm_layer(
        operands: LayerOperands<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [
            input,
            input_weights,
            bias,
            recurrent,
            projection,
            hidden,
            cell,
            _,
        ] = operands.tensors();
        let nodes = [
            input,
            input_weights,
            bias,
            recurrent,
            projection,
            hidden,
            cell,
        ]
        .map(|tensor| tensor.node());
        let prep = match FusedLayer::<B>(PhantomData)
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep,
            OpsKind::UnTracked(prep) => {
                let (output, final_hidden, final_cell) =
                    B::lstm_layer(operands.map(|tensor| tensor.into_primitive()));
                return untracked_results::<B, C>(prep.finish(final_hidden), output, final_cell);
            }
        };
        let call = &operands.call;
        let primitives =
            LayerPrimitives::new(operands.tensors().map(|tensor| tensor.primitive()), call);
        // dW_x needs the input: keep it only then.
        let keep_input = operands.input_weights.is_tracked();
        let ((output, final_hidden, final_cell), saved) =
            B::forward_train(primitives, call, keep_input);
        let layer_shape = final_hidden.shape().to_vec();
        let results = Arc::new(Mutex::new(SiblingGradients::default()));
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
            match ResultNode::<B>::new()
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
) -> LayerResults<Autodiff<B, C>> {
    let untracked = |primitive: FloatTensor<B>| match ResultNode::<B>::new()
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
