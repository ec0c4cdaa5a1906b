//! The `(h, c)` state of an LSTM.

use burn::prelude::*;

/// The hidden and cell state of an LSTM, in PyTorch's layout.
///
/// - For a whole [`Lstm`](crate::Lstm) (`D = 3`): `hidden` is
///   `[layers · directions, batch, hidden_out]` and `cell` is
///   `[layers · directions, batch, hidden]`, rows ordered layer 0 forward, layer 0 reverse,
///   layer 1 forward, … ([`Lstm::layer_state`](crate::Lstm::layer_state) takes one layer's
///   rows, [`Lstm::final_output`](crate::Lstm::final_output) the last layer's hidden state).
/// - For one [`LstmCell`](crate::LstmCell) step (`D = 2`): `hidden` is `[batch, hidden_out]`
///   and `cell` is `[batch, hidden]`.
///
/// `hidden_out` is `proj_size` when the LSTM has a projection, else `hidden`.
///
/// Build one with its field names, which cannot be swapped by accident (burn's own
/// `LstmState::new` takes the cell first, PyTorch's tuple the hidden state first):
///
/// ```
/// use burn::prelude::*;
/// use burn_lstm::LstmState;
///
/// let device = Device::flex();
/// let state = LstmState {
///     hidden: Tensor::<3>::zeros([1, 4, 8], &device),
///     cell: Tensor::<3>::zeros([1, 4, 8], &device),
/// };
/// let same = LstmState::from_hidden_cell(state.hidden.clone(), state.cell.clone());
/// assert_eq!(same.hidden.dims(), [1, 4, 8]);
/// ```
#[derive(Clone, Debug)]
pub struct LstmState<const D: usize = 3> {
    /// The hidden state `h` (the LSTM's output at the last step).
    pub hidden: Tensor<D>,
    /// The cell state `c`.
    pub cell: Tensor<D>,
}

impl<const D: usize> LstmState<D> {
    /// A state from its hidden and cell parts, in that order (PyTorch's `(h, c)`).
    pub fn from_hidden_cell(hidden: Tensor<D>, cell: Tensor<D>) -> Self {
        Self { hidden, cell }
    }

    /// A state from its hidden and cell parts (PyTorch's `(h, c)` order).
    #[deprecated(
        since = "0.1.0",
        note = "burn's `LstmState::new` takes the cell first: use `LstmState::from_hidden_cell` \
                or `LstmState { hidden, cell }`"
    )]
    pub fn new(hidden: Tensor<D>, cell: Tensor<D>) -> Self {
        Self::from_hidden_cell(hidden, cell)
    }

    /// Cuts the state from the autodiff graph, as truncated backpropagation through time does
    /// when it carries the state from one batch to the next.
    pub fn detach(self) -> Self {
        Self::from_hidden_cell(self.hidden.detach(), self.cell.detach())
    }
}
