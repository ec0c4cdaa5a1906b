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
//!
//! ## Shapes
//!
//! The documentation names tensor sizes with one vocabulary, PyTorch's: `batch` rows, `seq`
//! steps, `input` features per step, `hidden` units of the cell state, `hidden_out` units of
//! the hidden state (the projection size of an LSTMP, else `hidden`), `directions` (1, or 2
//! for a bidirectional LSTM), `layers`, and `4H` for the four gates side by side. An
//! [`Lstm`] takes `[batch, seq, input]` (or `[seq, batch, input]` without `batch_first`) and
//! returns `[batch, seq, directions · hidden_out]` and an [`LstmState`] of
//! `[layers · directions, batch, hidden_out]` and `[layers · directions, batch, hidden]`.
//!
//! ## What else is here
//!
//! - [`output`]: a language model's output layer and its cross-entropy as one fused operation.
//! - [`pytorch`], [`interop`]: parameters by PyTorch's names; PyTorch `.pt`/`.safetensors`
//!   and Keras `.npz` checkpoints in, safetensors out.
//! - [`cpu`]: the fused layer's CPU kernels and how one is chosen (measured, or forced with
//!   `BURN_LSTM_KERNEL`).
//! - [`files`]: module records saved and loaded with errors that name the file, written
//!   atomically.
//!
//! ## Features
//!
//! One backend is on by default, `flex` (burn's CPU backend, with the fused kernels); `ndarray`
//! (CPU, fused kernels too), `wgpu` (GPU, with the layer as CubeCL kernels) and `cuda` add
//! others. `npz` reads Keras `.npz` exports (safetensors and `.pt` need nothing more). The
//! training programs (data, training loop, ready models, plots, burn-train) are a crate of
//! their own, `burn-lstm-programs`, built on this one's public API.

#![warn(missing_docs)]

mod cell;
pub mod cpu;
pub mod embedding;
mod error;
pub mod files;
mod fused;
mod gate;
mod init;
pub mod interop;
mod lstm;
pub mod output;
pub mod pytorch;
mod recurrence;
mod state;

/// Counters for the crate's own tests (feature `testing`): that the fused path, not a
/// fallback, computed what a test compares.
#[cfg(feature = "testing")]
pub mod testing {
    /// Fused layer calls this process has made (any backend).
    pub fn fused_layer_calls() -> usize {
        crate::fused::fused_layer_calls()
    }

    /// Layer calls this process's column team has run (see `BURN_LSTM_THREAD_SPLIT`).
    pub fn column_team_calls() -> usize {
        crate::fused::host::team_calls()
    }

    /// GPU recurrence kernels this process has launched.
    #[cfg(feature = "cube")]
    pub fn recurrence_kernel_launches() -> usize {
        crate::fused::recurrence_kernel_launches()
    }
}

pub use cell::{LstmCell, LstmCellConfig, PreparedCell};
pub use error::{LstmError, Result};
pub use fused::host::{INPUT_PROJECTION_VARIABLE, THREAD_SPLIT_VARIABLE};
pub use gate::Gate;
pub use init::LstmInit;
pub use lstm::{BiLstm, BiLstmConfig, Lstm, LstmConfig, LstmLayer, PreparedLstm, Recurrence};
pub use pytorch::NamedTensors;
pub use state::LstmState;
