//! # burn-lstm
//!
//! Long short-term memory networks for the [burn](https://burn.dev) deep-learning framework:
//! LSTM and bidirectional LSTM layers as burn [`Module`](burn::module::Module)s whose four gates
//! (input, forget, cell, output) are named parts, with stacking, dropout between layers,
//! projections (LSTMP), padded batches and initial/final state — computing exactly what
//! PyTorch's `nn.LSTM` computes. burn's autodiff does the backpropagation through time.
//!
//! ```
//! use burn::prelude::*;
//! use burn_lstm::{Lstm, LstmConfig};
//!
//! /// A user's model: an LSTM encoder and a linear read-out of its last step.
//! #[derive(Module, Debug)]
//! struct Forecaster {
//!     lstm: Lstm,
//!     head: burn::nn::Linear,
//! }
//!
//! impl Forecaster {
//!     /// `series`: `[batch, seq, 1]` → `[batch, 1]`
//!     fn forward(&self, series: Tensor<3>) -> Tensor<2> {
//!         let (output, _state) = self.lstm.forward(series, None);
//!         let [batch, seq, hidden] = output.dims();
//!         let last = output.slice(s![.., seq - 1]).reshape([batch, hidden]);
//!         self.head.forward(last)
//!     }
//! }
//!
//! let device = Device::flex();
//! let model = Forecaster {
//!     lstm: LstmConfig::new(1, 32).with_num_layers(2).init(&device),
//!     head: burn::nn::LinearConfig::new(32, 1).init(&device),
//! };
//! let prediction = model.forward(Tensor::zeros([8, 20, 1], &device));
//! assert_eq!(prediction.dims(), [8, 1]);
//! ```

// The layers.
pub mod backend;
mod cell;
mod error;
pub mod files;
mod fused;
mod gate;
mod init;
pub mod interop;
mod lstm;
pub mod pytorch;
mod recurrence;
mod state;

// The programs' parts (feature `programs`): data, ready models, the training loop, plots.
#[cfg(feature = "programs")]
pub mod data;
#[cfg(feature = "programs")]
pub mod models;
#[cfg(feature = "programs")]
pub mod plot;
#[cfg(feature = "programs")]
pub mod train;
// The ready models under burn-train (feature `learner`).
#[cfg(feature = "learner")]
pub mod learner;

pub use cell::{LstmCell, LstmCellConfig, PreparedCell};
pub use error::{LstmError, Result};
#[doc(hidden)]
pub use fused::fused_layer_calls;
pub use gate::Gate;
pub use init::LstmInit;
pub use lstm::{BiLstm, BiLstmConfig, Lstm, LstmConfig, LstmLayer, PreparedLstm, Recurrence};
pub use pytorch::NamedTensors;
pub use state::LstmState;
