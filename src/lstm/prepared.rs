//! An [`Lstm`] with its layers' gate weights joined once, for many calls with the same weights
//! (generation one token at a time, evaluation over many batches).

use burn::prelude::*;

use crate::error::Result;
use crate::recurrence::JoinedWeights;
use crate::state::LstmState;

use super::stacked::{Lstm, Prepared};

impl Lstm {
    /// The gate weights of every layer, joined once for many calls (see [`PreparedLstm`]).
    ///
    /// [`Lstm::forward`] joins each layer's gate weights into the matrices the computation
    /// uses on every call, which is what training needs (the weights change after every
    /// step). For calls that share weights (generation one token at a time, evaluation over
    /// many batches) prepare once and call [`PreparedLstm::forward`].
    ///
    /// `device` and `dtype` are those the calls will have: they decide the joined form
    /// (the fused kernels' or the composed operations').
    pub fn prepared(&self, device: &Device, dtype: burn::tensor::DType) -> PreparedLstm<'_> {
        let fused = self.uses_fused(device, dtype);
        PreparedLstm {
            lstm: self,
            fused,
            layers: self
                .layers
                .iter()
                .map(|layer| JoinedWeights::join(&layer.parts(), !fused))
                .collect(),
        }
    }
}

/// An [`Lstm`] with its layers' gate weights joined once (see [`Lstm::prepared`]): its calls
/// compute what the LSTM's own calls compute, without joining the weights again. It borrows the
/// LSTM, so the weights cannot change while it lives.
///
/// ```
/// use burn::prelude::*;
/// use burn_lstm::LstmConfig;
///
/// let device = Device::flex();
/// let lstm = LstmConfig::new(4, 8).with_num_layers(2).init(&device);
/// let prepared = lstm.prepared(&device, burn::tensor::DType::F32);
/// let mut state = None;
/// for _ in 0..3 {
///     // One step at a time: [batch, seq = 1, features].
///     let (output, next) = prepared.forward(Tensor::<3>::ones([1, 1, 4], &device), state);
///     assert_eq!(output.dims(), [1, 1, 8]);
///     state = Some(next);
/// }
/// ```
pub struct PreparedLstm<'a> {
    lstm: &'a Lstm,
    /// Whether the weights were joined for the fused kernels (else for the composed path).
    fused: bool,
    layers: Vec<JoinedWeights>,
}

impl PreparedLstm<'_> {
    fn joined(&self) -> Prepared<'_> {
        Prepared {
            fused: self.fused,
            layers: &self.layers,
        }
    }

    /// [`Lstm::forward`] with the prepared weights.
    ///
    /// # Panics
    /// As [`Lstm::forward`]; [`PreparedLstm::try_forward`] returns the error instead.
    pub fn forward(&self, input: Tensor<3>, state: Option<LstmState>) -> (Tensor<3>, LstmState) {
        self.try_forward(input, state)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Lstm::try_forward`] with the prepared weights.
    pub fn try_forward(
        &self,
        input: Tensor<3>,
        state: Option<LstmState>,
    ) -> Result<(Tensor<3>, LstmState)> {
        self.lstm.run(input, None, state, Some(self.joined()))
    }

    /// [`Lstm::try_forward_padded`] with the prepared weights.
    pub fn try_forward_padded(
        &self,
        input: Tensor<3>,
        lengths: &[usize],
        state: Option<LstmState>,
    ) -> Result<(Tensor<3>, LstmState)> {
        self.lstm
            .run(input, Some(lengths), state, Some(self.joined()))
    }
}
