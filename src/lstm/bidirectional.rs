//! The bidirectional LSTM: an [`Lstm`] whose every layer reads the sequence both ways, and its
//! configuration, an [`LstmConfig`] that is always bidirectional.

use burn::config::Config;
use burn::prelude::*;

use crate::error::Result;
use crate::init::LstmInit;
use crate::state::LstmState;

use super::stacked::{Lstm, LstmConfig, Recurrence};

/// Configuration of a [`BiLstm`]: an [`LstmConfig`] that is always bidirectional — every
/// option of the LSTM's (dropout, projection, initialisation, the way it is computed) in one
/// place.
///
/// ```
/// use burn::prelude::*;
/// use burn_lstm::{BiLstmConfig, LstmConfig, Recurrence};
///
/// let device = Device::flex();
/// let config = BiLstmConfig::from(
///     LstmConfig::new(3, 8)
///         .with_num_layers(2)
///         .with_recurrence(Recurrence::Composed),
/// );
/// let bilstm = config.init(&device);
/// assert_eq!(bilstm.lstm.num_directions(), 2);
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BiLstmConfig {
    /// The LSTM's configuration; its `bidirectional` is always on.
    pub lstm: LstmConfig,
}

impl Config for BiLstmConfig {}

impl From<LstmConfig> for BiLstmConfig {
    fn from(lstm: LstmConfig) -> Self {
        Self {
            lstm: lstm.with_bidirectional(true),
        }
    }
}

impl std::fmt::Display for BiLstmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.lstm)
    }
}

impl BiLstmConfig {
    /// A bidirectional LSTM of `input_size` features and `hidden_size` units per direction,
    /// with [`LstmConfig`]'s defaults otherwise.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        LstmConfig::new(input_size, hidden_size).into()
    }

    /// The equivalent [`LstmConfig`].
    pub fn to_lstm_config(&self) -> LstmConfig {
        self.lstm.clone().with_bidirectional(true)
    }

    /// How the layers are computed.
    pub fn with_recurrence(self, recurrence: Recurrence) -> Self {
        self.lstm.with_recurrence(recurrence).into()
    }

    /// Checks the configuration, then builds the layer on `device`.
    pub fn try_init(&self, device: &Device) -> Result<BiLstm> {
        Ok(BiLstm {
            lstm: self.to_lstm_config().try_init(device)?,
        })
    }

    /// Builds the layer on `device`.
    ///
    /// # Panics
    /// On an invalid configuration; [`BiLstmConfig::try_init`] returns the error instead.
    pub fn init(&self, device: &Device) -> BiLstm {
        self.try_init(device).unwrap_or_else(|err| panic!("{err}"))
    }
}

/// The setters of the fields `BiLstmConfig` had before it held an [`LstmConfig`]; each sets
/// the LSTM's option of that name.
macro_rules! deprecated_setters {
    ($($name:ident($field:ident: $ty:ty)),* $(,)?) => {
        impl BiLstmConfig {
            $(
                #[doc = concat!("Sets the LSTM's `", stringify!($field), "`.")]
                #[deprecated(
                    since = "0.1.0",
                    note = "build it from an LstmConfig: BiLstmConfig::from(LstmConfig::new(..).with_…(..))"
                )]
                pub fn $name(self, $field: $ty) -> Self {
                    self.lstm.$name($field).into()
                }
            )*
        }
    };
}

deprecated_setters!(
    with_num_layers(num_layers: usize),
    with_dropout(dropout: f64),
    with_recurrent_dropout(recurrent_dropout: f64),
    with_proj_size(proj_size: usize),
    with_batch_first(batch_first: bool),
    with_bias(bias: bool),
    with_init(init: LstmInit),
);

/// A bidirectional LSTM: every layer reads the sequence forwards and backwards, and each step's
/// output joins both (`[forward | reverse]`).
///
/// ```
/// use burn::prelude::*;
/// use burn_lstm::BiLstmConfig;
///
/// let device = Device::flex();
/// let bilstm = BiLstmConfig::new(3, 8).init(&device);
/// let (output, state) = bilstm.forward(Tensor::<3>::zeros([4, 10, 3], &device), None);
/// assert_eq!(output.dims(), [4, 10, 16]);
/// assert_eq!(state.cell.dims(), [2, 4, 8]);
/// ```
#[derive(Module, Debug)]
pub struct BiLstm {
    /// The underlying bidirectional [`Lstm`].
    pub lstm: Lstm,
}

impl BiLstm {
    /// See [`Lstm::forward`]; the output is `[batch, seq, 2 · hidden_out]`.
    pub fn forward(&self, input: Tensor<3>, state: Option<LstmState>) -> (Tensor<3>, LstmState) {
        self.lstm.forward(input, state)
    }

    /// See [`Lstm::try_forward`].
    pub fn try_forward(
        &self,
        input: Tensor<3>,
        state: Option<LstmState>,
    ) -> Result<(Tensor<3>, LstmState)> {
        self.lstm.try_forward(input, state)
    }

    /// See [`Lstm::forward_padded`].
    pub fn forward_padded(
        &self,
        input: Tensor<3>,
        lengths: &[usize],
        state: Option<LstmState>,
    ) -> (Tensor<3>, LstmState) {
        self.lstm.forward_padded(input, lengths, state)
    }

    /// See [`Lstm::try_forward_padded`].
    pub fn try_forward_padded(
        &self,
        input: Tensor<3>,
        lengths: &[usize],
        state: Option<LstmState>,
    ) -> Result<(Tensor<3>, LstmState)> {
        self.lstm.try_forward_padded(input, lengths, state)
    }
}
