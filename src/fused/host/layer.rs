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
//! [`crate::cpu::packed`]), applies the gates and the state update to those rows while they are in
//! cache, and writes the output. In training the activated gates, the cell states and the
//! hidden states that entered the products go to buffers made once per call; in inference
//! nothing is kept beyond the unit's own step. Inference may instead go by the column team
//! ([`super::team`]): threads that own hidden units' gate columns, a barrier a step.
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

use std::sync::Arc;

use crate::cpu::elem::{Elem, RowShared};
use crate::cpu::packed::{MatrixRef, PackedRhs};
use crate::cpu::pool::Pooled;
use crate::cpu::tensors::HostValues;
use crate::fused::contract::LayerDims;

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
    pub output: Pooled<E>,
    /// `[D, N, Hout]`: the hidden state after each row's last real step.
    pub hidden: Vec<E>,
    /// `[D, N, H]`
    pub cell: Vec<E>,
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
    /// `W_x[:, d]`, `[F, G]`, for the input projection of every step at once (forward, when
    /// it runs apart from the recurrence); empty otherwise.
    pub(crate) input: Vec<PackedRhs<E>>,
    /// `W_h[d]`, `[Hout, G]`, or `W_x[:, d]` stacked on it, `[F + Hout, G]`, when each step
    /// projects its own input (forward); `W_h[d]ᵀ`, `[G, Hout]` (backward).
    pub(crate) recurrent: Vec<PackedRhs<E>>,
    /// `W_hr[d]`, `[H, Hout]` (forward) or `W_hr[d]ᵀ`, `[Hout, H]` (backward); none without.
    pub(crate) projection: Vec<PackedRhs<E>>,
}
