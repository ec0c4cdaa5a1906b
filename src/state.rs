//! The `(h, c)` state of an LSTM.

use burn::prelude::*;

/// The hidden and cell state of an LSTM, in PyTorch's layout.
///
/// - For a whole [`Lstm`](crate::Lstm) (`D = 3`): `hidden` is `[layers * directions, batch, hidden_out]`
///   and `cell` is `[layers * directions, batch, hidden_size]`, rows ordered
///   layer 0 forward, layer 0 reverse, layer 1 forward, …
/// - For one [`LstmCell`](crate::LstmCell) step (`D = 2`): `hidden` is `[batch, hidden_out]` and
///   `cell` is `[batch, hidden_size]`.
///
/// `hidden_out` is `proj_size` when the LSTM has a projection, else `hidden_size`.
#[derive(Clone, Debug)]
pub struct LstmState<const D: usize = 3> {
    /// The hidden state `h` (the LSTM's output at the last step).
    pub hidden: Tensor<D>,
    /// The cell state `c`.
    pub cell: Tensor<D>,
}

impl<const D: usize> LstmState<D> {
    /// A state from its hidden and cell parts (PyTorch's `(h, c)` order).
    pub fn new(hidden: Tensor<D>, cell: Tensor<D>) -> Self {
        Self { hidden, cell }
    }

    /// Cuts the state from the autodiff graph, as truncated backpropagation through time does
    /// when it carries the state from one batch to the next.
    pub fn detach(self) -> Self {
        Self::new(self.hidden.detach(), self.cell.detach())
    }
}
