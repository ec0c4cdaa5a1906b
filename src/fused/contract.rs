//! The fused layer's contract: the backend operation ([`LstmLayerBackend`]), what a call
//! takes and returns, and what a backend provides for training it ([`LayerTraining`]).
//!
//! The implementations sit apart and import only this file: the CPU backends' in
//! [`super::op`], the autodiff node's in [`super::autodiff`], the CubeCL backend's in `cube`.

use std::sync::Arc;

use burn::backend::{Backend, TensorMetadata, backend_extension, tensor::FloatTensor};

use super::layer::{LayerDims, LayerGradients, Wanted};

/// What a layer call takes besides tensors. The operation's optional tensors (bias,
/// projection, recurrent mask) are always passed, as one-element stand-ins where absent: these
/// flags say which are real.
#[derive(Clone, Debug, Default)]
pub struct LayerCall {
    /// `[N]` real steps of each batch row, each in `1..=T`; none when every row has `T`.
    pub lengths: Option<Arc<Vec<usize>>>,
    /// Whether `bias` is the layer's bias.
    pub bias: bool,
    /// Whether `projection` is the layer's projection.
    pub projection: bool,
    /// Whether `recurrent_mask` is a recurrent dropout mask.
    pub recurrent_mask: bool,
    /// Whether `input` and the output are `[N, T, ·]` (else `[T, N, ·]`).
    pub batch_first: bool,
    /// `D`: 1, or 2 for a bidirectional layer.
    pub directions: usize,
}

/// The primitives of a layer call, borrowed.
pub(crate) struct LayerPrimitives<'a, B: Backend> {
    pub input: &'a FloatTensor<B>,
    pub input_weights: &'a FloatTensor<B>,
    pub bias: Option<&'a FloatTensor<B>>,
    pub recurrent_weights: &'a FloatTensor<B>,
    pub projection: Option<&'a FloatTensor<B>>,
    pub hidden: &'a FloatTensor<B>,
    pub cell: &'a FloatTensor<B>,
    pub recurrent_mask: Option<&'a FloatTensor<B>>,
}

impl<'a, B: Backend> LayerPrimitives<'a, B> {
    /// The operation's eight tensors in its parameter order (input, input weights, bias,
    /// recurrent weights, projection, hidden, cell, recurrent mask), the stand-ins `call` says
    /// are absent left out.
    pub(crate) fn new(tensors: [&'a FloatTensor<B>; 8], call: &LayerCall) -> Self {
        let [
            input,
            input_weights,
            bias,
            recurrent_weights,
            projection,
            hidden,
            cell,
            mask,
        ] = tensors;
        Self {
            input,
            input_weights,
            bias: call.bias.then_some(bias),
            recurrent_weights,
            projection: call.projection.then_some(projection),
            hidden,
            cell,
            recurrent_mask: call.recurrent_mask.then_some(mask),
        }
    }

    pub(crate) fn dims(&self, call: &LayerCall) -> LayerDims {
        let input = self.input.shape();
        let (steps, batch) = match call.batch_first {
            true => (input[1], input[0]),
            false => (input[0], input[1]),
        };
        LayerDims {
            batch_first: call.batch_first,
            steps,
            batch,
            features: input[2],
            hidden: self.input_weights.shape()[1] / (4 * call.directions),
            hidden_out: self.recurrent_weights.shape()[0],
            directions: call.directions,
        }
    }
}

/// The layer's results as backend tensors: output, final hidden state, final cell state.
pub(crate) type LayerResults<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// The fused LSTM layer as a burn backend operation: every step of every direction of one
/// layer in one call, with its own backward node under autodiff.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "cube"),
    Autodiff
)]
pub trait LstmLayerBackend: Backend {
    /// One layer over the whole sequence.
    ///
    /// - `input`: `[T, N, F]`, or `[N, T, F]` with `call.batch_first`
    /// - `input_weights`: `[F, D·4H]`; `bias`: `[D·4H]` (both biases of every gate, summed)
    /// - `recurrent_weights`: `[Hout, D·4H]`; `projection`: `[D, H, Hout]` for an LSTMP
    ///   (gate columns in the order input, forget, output, cell candidate)
    /// - `hidden`: `[D, N, Hout]`, `cell`: `[D, N, H]`, the initial state
    /// - `recurrent_mask`: `[D, N, Hout]`, multiplies the previous hidden state where it
    ///   enters the gates (recurrent dropout)
    /// - `call`: the lengths of a padded batch, and which of `bias`, `projection` and
    ///   `recurrent_mask` are real
    ///
    /// Returns the output `[T, N, D·Hout]` (`[N, T, D·Hout]` with `call.batch_first`) and
    /// the final hidden `[D, N, Hout]` and cell `[D, N, H]` states.
    #[allow(clippy::too_many_arguments)]
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
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// A backend's training forward pass and backward pass of the fused layer: the host's
/// (flex, ndarray) or the CubeCL kernels' (wgpu, CUDA).
pub(crate) trait LayerTraining: Backend {
    /// What the forward pass keeps for the backward pass.
    type Saved: Send + Sync + std::fmt::Debug + 'static;

    /// Runs the layer, keeping what its backward needs (`keep_input`: the input too, for the
    /// input weights' gradient).
    fn forward_train(
        tensors: LayerPrimitives<'_, Self>,
        call: &LayerCall,
        keep_input: bool,
    ) -> (LayerResults<Self>, Self::Saved);

    /// The gradients of the layer's inputs that `wanted` names, from those of its results.
    fn backward(
        saved: Self::Saved,
        results: ResultGradients<Self>,
        wanted: Wanted,
    ) -> InputGradients<Self>;
}

/// The gradients that reached the layer's results: the final hidden state always (its node
/// is the layer's), the output sequence and the final cell state where anything used them.
#[derive(Debug)]
pub(crate) struct ResultGradients<B: Backend> {
    pub output: Option<FloatTensor<B>>,
    pub hidden: FloatTensor<B>,
    pub cell: Option<FloatTensor<B>>,
}

/// The gradients of a layer call's inputs as backend tensors; `None` where not wanted.
pub(crate) type InputGradients<B> = LayerGradients<FloatTensor<B>>;
