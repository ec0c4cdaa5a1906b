//! One LSTM layer — every time step of every direction — computed on the host in one call,
//! with its backward pass.
//!
//! Shapes (row-major), with `T` steps, `N` batch rows, `F` input features, `H` hidden units,
//! `Hout` hidden outputs (the projection size of an LSTMP, else `H`), `D` directions and
//! `G = 4H` gate columns ordered input, forget, output, cell candidate:
//!
//! | what | shape |
//! | --- | --- |
//! | layer input `x` | `[T, N, F]` or `[N, T, F]` (batch first) |
//! | input weights, bias | `[F, D·G]`, `[D·G]` (both PyTorch biases summed) |
//! | recurrent weights | `[Hout, D·G]` |
//! | projection `W_hr` | `[D, H, Hout]` |
//! | initial and final state | hidden `[D, N, Hout]`, cell `[D, N, H]` |
//! | recurrent dropout mask | `[D, N, Hout]`, multiplies `h_{t-1}` where it enters the gates |
//! | output | `[T, N, D·Hout]` or `[N, T, D·Hout]`, the forward direction's half first |
//!
//! **Forward.** One thread team runs the recurrence: each unit of the team owns one direction
//! and one block of batch rows for the whole sequence (rows are independent, so the time loop
//! needs no barrier). At each step the unit computes its rows' gate pre-activations
//! `x_t·W_x + h_{t-1}·W_h` with two products against weights packed once per call (see
//! [`super::packed`]), applies the gates and the state update to those rows while they are in
//! cache, and writes the output. In training the activated gates, the cell states and the
//! hidden states that entered the products go to buffers made once per call; in inference
//! nothing is kept beyond the unit's own step.
//!
//! **Padded batches.** A row's loop ends at its length; its reverse direction starts at its
//! last real step. Inside, the rows are reordered so that every block holds rows of similar
//! lengths, longest first (blocks get the rows round-robin, so their work is balanced): the
//! rows still running at a step are then the first ones of each block, one product for all.
//!
//! **Backward** is the mirror image: the reverse time loop on the same units turns the
//! activated gates into the gates' gradient in place, sends the state's gradient back through
//! the transposed recurrent weights (packed once), and sums the bias gradient per unit. The
//! input, input weight and recurrent weight gradients are then one product each over all
//! steps, on every core.

use super::host::{Elem, HostValues, RowShared};
use super::packed::{MatrixRef, PackedRhs};

use std::sync::Arc;

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

/// The layer's parameters on the host.
#[derive(Debug)]
pub(crate) struct LayerWeights<E> {
    /// `[F, D·G]`
    pub input: Arc<HostValues<E>>,
    /// `[D·G]`, or none for a layer without biases.
    pub bias: Option<Arc<HostValues<E>>>,
    /// `[Hout, D·G]`
    pub recurrent: Arc<HostValues<E>>,
    /// `[D, H, Hout]` for an LSTMP.
    pub projection: Option<Arc<HostValues<E>>>,
}

impl<E: Elem> LayerWeights<E> {
    /// `W_x[:, d]`, `[F, G]`, or its transpose.
    pub(crate) fn input_matrix(
        &self,
        dims: &LayerDims,
        d: usize,
        transposed: bool,
    ) -> MatrixRef<E> {
        let (features, width) = (dims.features, dims.gates());
        MatrixRef {
            values: self.input.clone(),
            offset: d * width,
            strides: match transposed {
                true => (1, dims.directions * width),
                false => (dims.directions * width, 1),
            },
            rows: if transposed { width } else { features },
        }
    }

    /// `W_h[:, d]`, `[Hout, G]`, or its transpose.
    pub(crate) fn recurrent_matrix(
        &self,
        dims: &LayerDims,
        d: usize,
        transposed: bool,
    ) -> MatrixRef<E> {
        let (hidden_out, width) = (dims.hidden_out, dims.gates());
        let row = dims.directions * width;
        MatrixRef {
            values: self.recurrent.clone(),
            offset: d * width,
            strides: if transposed { (1, row) } else { (row, 1) },
            rows: if transposed { width } else { hidden_out },
        }
    }

    /// `W_hr[d]`, `[H, Hout]`, or its transpose; none without a projection.
    pub(crate) fn projection_matrix(
        &self,
        dims: &LayerDims,
        d: usize,
        transposed: bool,
    ) -> Option<MatrixRef<E>> {
        let (hidden, hidden_out) = (dims.hidden, dims.hidden_out);
        self.projection.as_ref().map(|values| MatrixRef {
            values: values.clone(),
            offset: d * hidden * hidden_out,
            strides: if transposed {
                (1, hidden_out)
            } else {
                (hidden_out, 1)
            },
            rows: if transposed { hidden_out } else { hidden },
        })
    }
}

/// What a layer call reads besides its parameters.
#[derive(Debug)]
pub(crate) struct LayerInputs<E> {
    /// `[T, N, F]` or `[N, T, F]`
    pub input: HostValues<E>,
    /// `[D, N, Hout]`
    pub hidden: HostValues<E>,
    /// `[D, N, H]`
    pub cell: HostValues<E>,
    /// `[D, N, Hout]`
    pub recurrent_mask: Option<HostValues<E>>,
    /// `[N]` real steps per row, each in `1..=T`; none when every row has `T`.
    pub lengths: Option<Vec<usize>>,
}

/// What a layer call produces.
#[derive(Debug)]
pub(crate) struct LayerOutputs<E> {
    /// `[T, N, D·Hout]` or `[N, T, D·Hout]`, zero at padding steps.
    pub output: Vec<E>,
    /// `[D, N, Hout]`: the hidden state after each row's last real step.
    pub hidden: Vec<E>,
    /// `[D, N, H]`
    pub cell: Vec<E>,
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

/// Copies row `row` (width `width`) of `source` into row `i` of `target`.
pub(crate) fn copy_row<E: Elem>(
    target: &mut [E],
    i: usize,
    source: &[E],
    row: usize,
    width: usize,
) {
    target[i * width..(i + 1) * width].copy_from_slice(&source[row * width..(row + 1) * width]);
}

/// A `(hidden, cell)` pair of `[D, N, ·]` buffers the units fill, each its own rows: the final
/// state (forward) or the initial state's gradient (backward).
pub(crate) struct StateRows<'a, E> {
    pub(crate) hidden: RowShared<'a, E>,
    pub(crate) cell: RowShared<'a, E>,
}

impl<'a, E: Elem> StateRows<'a, E> {
    pub(crate) fn new(hidden: &'a mut [E], cell: &'a mut [E]) -> Self {
        Self {
            hidden: RowShared::new(hidden),
            cell: RowShared::new(cell),
        }
    }

    /// Row `i` of a unit's `h` (`[rows, Hout]`) and `c` (`[rows, H]`) into state row `row`.
    ///
    /// # Safety
    /// State row `row` belongs to the calling unit alone.
    pub(crate) unsafe fn write(
        &self,
        row: usize,
        i: usize,
        (h, c): (&[E], &[E]),
        dims: &LayerDims,
    ) {
        let (hidden, hidden_out) = (dims.hidden, dims.hidden_out);
        // SAFETY: by the caller's promise.
        unsafe {
            self.hidden
                .rows(row * hidden_out, hidden_out)
                .copy_from_slice(&h[i * hidden_out..(i + 1) * hidden_out]);
            self.cell
                .rows(row * hidden, hidden)
                .copy_from_slice(&c[i * hidden..(i + 1) * hidden]);
        }
    }
}

/// Per direction, the right-hand sides of a step's products, packed.
pub(crate) struct PackedWeights<E> {
    /// `W_x[:, d]` stacked on `W_h[d]`, `[F + Hout, G]` (forward), or `W_h[d]ᵀ`, `[G, Hout]`
    /// (backward).
    pub(crate) recurrent: Vec<PackedRhs<E>>,
    /// `W_hr[d]`, `[H, Hout]` (forward) or `W_hr[d]ᵀ`, `[Hout, H]` (backward); none without.
    pub(crate) projection: Vec<PackedRhs<E>>,
}
