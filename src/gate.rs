//! One gate of an LSTM cell: its input weights, recurrent weights and biases.

use burn::module::Param;
use burn::prelude::*;

/// One of the four gates of an LSTM cell (input, forget, cell candidate, output).
///
/// The gate's pre-activation for a step is
/// `x_t · input_weight + h_{t-1} · recurrent_weight + input_bias + recurrent_bias`.
/// The two biases are PyTorch's `bias_ih` and `bias_hh` rows of this gate; they are kept apart
/// so that PyTorch parameters go in and come out unchanged.
///
/// Every part is a [`Param`], so a gate can be read, frozen ([`Module::no_grad`]),
/// re-initialised or replaced on its own.
#[derive(Module, Debug)]
pub struct Gate {
    /// `[input, hidden]`: multiplies the step's input `x_t`.
    pub input_weight: Param<Tensor<2>>,
    /// `[hidden_out, hidden]`: multiplies the previous hidden state `h_{t-1}`
    /// (`hidden_out` is the projection size of an LSTMP, else `hidden_size`).
    pub recurrent_weight: Param<Tensor<2>>,
    /// `[hidden]`: PyTorch's `bias_ih` part of this gate.
    pub input_bias: Option<Param<Tensor<1>>>,
    /// `[hidden]`: PyTorch's `bias_hh` part of this gate.
    pub recurrent_bias: Option<Param<Tensor<1>>>,
}

impl Gate {
    /// A gate from its tensors.
    ///
    /// - `input_weight`: `[input, hidden]`
    /// - `recurrent_weight`: `[hidden_out, hidden]`
    /// - `input_bias`, `recurrent_bias`: `[hidden]`
    pub fn new(
        input_weight: Tensor<2>,
        recurrent_weight: Tensor<2>,
        input_bias: Option<Tensor<1>>,
        recurrent_bias: Option<Tensor<1>>,
    ) -> Self {
        Self {
            input_weight: leaf_param(input_weight),
            recurrent_weight: leaf_param(recurrent_weight),
            input_bias: input_bias.map(leaf_param),
            recurrent_bias: recurrent_bias.map(leaf_param),
        }
    }

    /// The sum of the two biases, `[hidden]`, or `None` for a gate without bias.
    pub fn bias(&self) -> Option<Tensor<1>> {
        match (&self.input_bias, &self.recurrent_bias) {
            (Some(a), Some(b)) => Some(a.val() + b.val()),
            (Some(a), None) | (None, Some(a)) => Some(a.val()),
            (None, None) => None,
        }
    }
}

/// A trainable parameter from `tensor`, cut from whatever graph produced it (a slice of a
/// joint initialisation, a transposed PyTorch weight): parameters are leaves.
pub(crate) fn leaf_param<const D: usize>(tensor: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(tensor.detach())
}
