//! The fused layer's contract: the backend operation ([`LstmLayerBackend`]), what a call
//! takes ([`LayerOperands`], [`LayerCall`]) and returns, its sizes ([`LayerDims`]) and
//! gradients, and what a backend provides for training it ([`LayerTraining`]).
//!
//! The implementations sit apart and import only this file: the CPU backends' in
//! `host`, the CubeCL backend's in `cube`, the autodiff node's in `autodiff`.

use std::sync::Arc;

use burn::backend::{
    Backend, ExtensionType, TensorMetadata, backend_extension, tensor::FloatTensor,
};

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
    /// `H`: hidden units of the cell state.
    pub hidden: usize,
}

/// The operands of one layer call: its eight tensors and the call's description.
///
/// - `input`: `[T, N, F]`, or `[N, T, F]` with `call.batch_first`
/// - `input_weights`: `[F, D·4H]`; `bias`: `[D·4H]` (both biases of every gate, summed)
/// - `recurrent_weights`: `[Hout, D·4H]`; `projection`: `[D, H, Hout]` for an LSTMP
///   (gate columns in the order input, forget, output, cell candidate)
/// - `hidden`: `[D, N, Hout]`, `cell`: `[D, N, H]`, the initial state
/// - `recurrent_mask`: `[D, N, Hout]`, multiplies the previous hidden state where it enters
///   the gates (recurrent dropout)
/// - `call`: the lengths of a padded batch, and which of `bias`, `projection` and
///   `recurrent_mask` are real
#[derive(ExtensionType)]
pub struct LayerOperands<B: Backend> {
    /// The layer's input sequence.
    pub input: FloatTensor<B>,
    /// `W_x`, every direction's gates side by side.
    pub input_weights: FloatTensor<B>,
    /// The gates' bias (a stand-in without one).
    pub bias: FloatTensor<B>,
    /// `W_h`, every direction's gates side by side.
    pub recurrent_weights: FloatTensor<B>,
    /// An LSTMP's projection (a stand-in without one).
    pub projection: FloatTensor<B>,
    /// The initial hidden state.
    pub hidden: FloatTensor<B>,
    /// The initial cell state.
    pub cell: FloatTensor<B>,
    /// The recurrent dropout mask (a stand-in without one).
    pub recurrent_mask: FloatTensor<B>,
    /// What the call takes besides tensors.
    pub call: LayerCall,
}

impl<B: Backend> LayerOperands<B> {
    /// The eight tensors in the operation's order, borrowed.
    pub(crate) fn tensors(&self) -> [&FloatTensor<B>; 8] {
        [
            &self.input,
            &self.input_weights,
            &self.bias,
            &self.recurrent_weights,
            &self.projection,
            &self.hidden,
            &self.cell,
            &self.recurrent_mask,
        ]
    }

    /// The operands with each tensor turned by `f` (the stand-ins too).
    pub(crate) fn map<C: Backend>(
        self,
        mut f: impl FnMut(FloatTensor<B>) -> FloatTensor<C>,
    ) -> LayerOperands<C> {
        LayerOperands {
            input: f(self.input),
            input_weights: f(self.input_weights),
            bias: f(self.bias),
            recurrent_weights: f(self.recurrent_weights),
            projection: f(self.projection),
            hidden: f(self.hidden),
            cell: f(self.cell),
            recurrent_mask: f(self.recurrent_mask),
            call: self.call,
        }
    }

    /// The tensors as primitives of the operation, the stand-ins the call says are absent
    /// left out.
    pub(crate) fn primitives(&self) -> LayerPrimitives<'_, B> {
        LayerPrimitives::new(self.tensors(), &self.call)
    }
}

/// The primitives of a layer call, borrowed, without its stand-ins.
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

    /// The call's sizes: the input's and the state's, and the hidden size the call carries.
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
            hidden: call.hidden,
            hidden_out: self.hidden.shape()[2],
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
    /// One layer over the whole sequence (the operands: [`LayerOperands`]).
    ///
    /// Returns the output `[T, N, D·Hout]` (`[N, T, D·Hout]` with `call.batch_first`) and
    /// the final hidden `[D, N, Hout]` and cell `[D, N, H]` states.
    fn lstm_layer(
        #[extension_type] operands: LayerOperands<Self>,
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

/// Sizes of one layer call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LayerDims {
    /// `T`
    pub steps: usize,
    /// `N`
    pub batch: usize,
    /// `F`
    pub features: usize,
    /// `H`
    pub hidden: usize,
    /// `Hout`: the projection size of an LSTMP, else `H`.
    pub hidden_out: usize,
    /// `D`: 1, or 2 for a bidirectional layer.
    pub directions: usize,
    /// Whether the sequences (input, output and their gradients) are `[N, T, ·]` rather
    /// than `[T, N, ·]`.
    pub batch_first: bool,
}

impl LayerDims {
    /// Row of batch row `row` at time `time` in a sequence tensor.
    pub(crate) fn sequence_row(&self, time: usize, row: usize) -> usize {
        match self.batch_first {
            true => row * self.steps + time,
            false => time * self.batch + row,
        }
    }

    /// `G = 4H`
    pub(crate) fn gates(&self) -> usize {
        4 * self.hidden
    }

    /// Row `row` (internal order) at time `time` of direction `direction` in a `[D, T, N, ·]`
    /// buffer.
    pub(crate) fn row(&self, direction: usize, time: usize, row: usize) -> usize {
        (direction * self.steps + time) * self.batch + row
    }

    /// Multiply-adds of the recurrent products of the whole call.
    pub(crate) fn recurrent_work(&self) -> usize {
        self.directions * self.steps * self.batch * self.hidden_out * self.gates()
    }
}

/// Which gradients a backward pass computes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Wanted {
    pub input: bool,
    pub input_weights: bool,
    pub bias: bool,
    pub recurrent: bool,
    pub projection: bool,
    pub hidden: bool,
    pub cell: bool,
}

/// The gradients of a layer call, shaped as its inputs; `None` where not wanted. `G` is one
/// gradient: host values here, a backend tensor in the backward node.
#[derive(Debug)]
pub(crate) struct LayerGradients<G> {
    pub input: Option<G>,
    pub input_weights: Option<G>,
    pub bias: Option<G>,
    pub recurrent: Option<G>,
    pub projection: Option<G>,
    pub hidden: Option<G>,
    pub cell: Option<G>,
}

impl<G> Default for LayerGradients<G> {
    fn default() -> Self {
        Self {
            input: None,
            input_weights: None,
            bias: None,
            recurrent: None,
            projection: None,
            hidden: None,
            cell: None,
        }
    }
}

impl<G> LayerGradients<G> {
    /// Each gradient turned by `f`, which is given the shape of its input.
    pub(crate) fn map<H>(
        self,
        shapes: &InputShapes,
        mut f: impl FnMut(G, &[usize]) -> H,
    ) -> LayerGradients<H> {
        let mut map = |grad: Option<G>, shape: &[usize]| grad.map(|grad| f(grad, shape));
        LayerGradients {
            input: map(self.input, &shapes.input),
            input_weights: map(self.input_weights, &shapes.input_weights),
            bias: map(self.bias, &shapes.bias),
            recurrent: map(self.recurrent, &shapes.recurrent),
            projection: map(self.projection, &shapes.projection),
            hidden: map(self.hidden, &shapes.hidden),
            cell: map(self.cell, &shapes.cell),
        }
    }
}

/// The shapes of a layer call's inputs, which are those of their gradients.
#[derive(Debug)]
pub(crate) struct InputShapes {
    pub input: [usize; 3],
    pub input_weights: [usize; 2],
    pub bias: [usize; 1],
    pub recurrent: [usize; 2],
    pub projection: [usize; 3],
    pub hidden: [usize; 3],
    pub cell: [usize; 3],
}
