//! The fused step's backward node.

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, TensorMetadata, tensor::FloatTensor};
use burn::tensor::DType;

use super::kernel::{self, Elem, StepActivations};
use super::{LayerRun, LstmStepBackend, Primitives, forward_on, from_host, to_host};

#[derive(Debug)]
struct FusedStep;

/// What a step's backward needs: its activations (in f32 or f64) and its place in the layer.
#[derive(Clone, Debug)]
struct StepState {
    step: usize,
    run: LayerRun,
    saved: Arc<Saved>,
    /// Whether anything but the previous state wants a gradient (then the steps gather).
    gathers: bool,
}

#[derive(Debug)]
enum Saved {
    F32(StepActivations<f32>),
    F64(StepActivations<f64>),
}

/// Parents, in order: input, input weights, bias, previous state, recurrent weights.
impl<B: Backend> Backward<B, 5> for FusedStep {
    type State = StepState;

    fn backward(
        self,
        ops: Ops<Self::State, 5>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let ids = ops.parents.map(|parent| parent.map(|node| node.id));
        let grad_next = grads.consume::<B>(&ops.node);
        let StepState {
            step,
            run,
            saved,
            gathers,
        } = ops.state;
        match &*saved {
            Saved::F32(saved) => {
                backward_step::<B, f32>(step, &run, saved, gathers, grad_next, ids, grads)
            }
            Saved::F64(saved) => {
                backward_step::<B, f64>(step, &run, saved, gathers, grad_next, ids, grads)
            }
        }
    }
}

/// The backward pass of step `step`; `ids` are the parents that want a gradient.
fn backward_step<B: Backend, E: Elem>(
    step: usize,
    run: &LayerRun,
    saved: &StepActivations<E>,
    gathers: bool,
    grad_next: FloatTensor<B>,
    [input_id, input_weights_id, bias_id, state_id, weights_id]: [Option<NodeId>; 5],
    grads: &mut Gradients,
) {
    let dims = run.dims;
    let device = grad_next.device();
    let grad_next = to_host::<B, E>(grad_next);
    let transposed = run.with_cache::<E, _>(|cache| {
        let weights = cache.weights.clone().expect("cached by the forward pass");
        cache
            .transposed_weights
            .get_or_insert_with(|| Arc::new(kernel::transpose_weights(dims, &weights)))
            .clone()
    });
    let (grad_gates, grad_previous) = kernel::step_backward(dims, &transposed, saved, &grad_next);
    if let Some(id) = state_id {
        let shape = [dims.directions, dims.batch, 2 * dims.hidden];
        grads.register::<B>(id, from_host::<B, E>(grad_previous, &shape, &device));
    }
    if !gathers {
        return;
    }
    // Leave this step's share; the first step runs last and turns the shares into gradients.
    let gathered = run.with_cache::<E, _>(|cache| {
        let gathered = cache
            .gathered
            .get_or_insert_with(|| kernel::GatheredSteps::new(dims));
        gathered.add(dims, step, &grad_gates, &saved.previous);
        (step == 0).then(|| {
            kernel::layer_gradients(
                dims,
                gathered,
                cache.input.as_deref().map(|v| v.as_slice()),
                cache.input_weights.as_deref().map(|v| v.as_slice()),
            )
        })
    });
    let Some(gradients) = gathered else { return };
    run.release();
    let width = dims.directions * dims.gates();
    if let (Some(id), Some(grad)) = (input_id, gradients.input) {
        grads.register::<B>(
            id,
            from_host::<B, E>(grad, &[dims.steps, dims.batch, dims.features], &device),
        );
    }
    if let (Some(id), Some(grad)) = (input_weights_id, gradients.input_weights) {
        grads.register::<B>(
            id,
            from_host::<B, E>(grad, &[dims.features, width], &device),
        );
    }
    if let Some(id) = bias_id {
        grads.register::<B>(id, from_host::<B, E>(gradients.bias, &[width], &device));
    }
    if let Some(id) = weights_id {
        grads.register::<B>(
            id,
            from_host::<B, E>(
                gradients.weights,
                &[dims.directions, dims.hidden, dims.gates()],
                &device,
            ),
        );
    }
}

impl<B: Backend + LstmStepBackend, C: CheckpointStrategy> LstmStepBackend for Autodiff<B, C> {
    fn lstm_step(
        input: FloatTensor<Self>,
        input_weights: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        state: FloatTensor<Self>,
        weights: FloatTensor<Self>,
        step: usize,
        run: LayerRun,
    ) -> FloatTensor<Self> {
        // dW_x needs x, dx needs W_x.
        let keep = (input_weights.is_tracked(), input.is_tracked());
        let gathers = input.is_tracked()
            || input_weights.is_tracked()
            || bias.is_tracked()
            || weights.is_tracked();
        let nodes = [
            input.node(),
            input_weights.node(),
            bias.node(),
            state.node(),
            weights.node(),
        ];
        match FusedStep.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let primitives = Primitives {
                    input: input.primitive(),
                    input_weights: input_weights.primitive(),
                    bias: bias.primitive(),
                    weights: weights.primitive(),
                };
                let (output, saved) = match state.primitive().dtype() {
                    DType::F64 => {
                        let (out, saved) = forward_on::<B, f64>(
                            primitives,
                            state.into_primitive(),
                            step,
                            &run,
                            keep,
                        );
                        (out, Saved::F64(saved))
                    }
                    _ => {
                        let (out, saved) = forward_on::<B, f32>(
                            primitives,
                            state.into_primitive(),
                            step,
                            &run,
                            keep,
                        );
                        (out, Saved::F32(saved))
                    }
                };
                prep.finish(
                    StepState {
                        step,
                        run,
                        saved: Arc::new(saved),
                        gathers,
                    },
                    output,
                )
            }
            OpsKind::UnTracked(prep) => {
                let output = B::lstm_step(
                    input.into_primitive(),
                    input_weights.into_primitive(),
                    bias.into_primitive(),
                    state.into_primitive(),
                    weights.into_primitive(),
                    step,
                    run,
                );
                prep.finish(output)
            }
        }
    }
}
