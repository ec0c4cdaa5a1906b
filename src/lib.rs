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
//! ## Features
//!
//! The layers need one backend: `flex` or `ndarray` (CPU, with the fused kernels), `wgpu`
//! (GPU, with the layer as CubeCL kernels). The default features add the training programs' parts (`programs`: data, ready
//! models, the training loop, plots), Keras `.npz` reading (`npz`) and burn-train support
//! (`learner`); a model that only embeds the layers takes
//! `burn-lstm = { version = "0.1", default-features = false, features = ["flex"] }`.

#![warn(missing_docs)]

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

/// The CPU kernels of the fused layer (flex, ndarray) and how one is chosen: measured per
/// shape class on first use, or forced with `BURN_LSTM_KERNEL=auto|avx512|avx2|gemm`.
///
/// ```
/// use burn_lstm::cpu::{CpuKernel, kernel_choice, kernel_decisions};
///
/// // What this CPU offers (always at least the gemm crate's portable path).
/// assert!(CpuKernel::available().contains(&CpuKernel::Gemm));
/// // An unknown name in BURN_LSTM_KERNEL would be an error here, and from `try_forward`.
/// assert!(kernel_choice().is_ok());
/// // After a forward pass, each shape class's choice and the timings it was made by.
/// for decision in kernel_decisions() {
///     println!("{}: {} {:?}", decision.class, decision.kernel, decision.timings);
/// }
/// ```
pub mod cpu {
    pub use crate::fused::kernel::{
        CpuKernel, KERNEL_VARIABLE, KernelChoice, KernelDecision, kernel_choice, kernel_decisions,
    };
}

pub use cell::{LstmCell, LstmCellConfig, PreparedCell};
pub use error::{LstmError, Result};
#[doc(hidden)]
pub use fused::fused_layer_calls;
#[cfg(feature = "cube")]
pub use fused::recurrence_kernel_launches;
pub use gate::Gate;
pub use init::LstmInit;
pub use lstm::{BiLstm, BiLstmConfig, Lstm, LstmConfig, LstmLayer, PreparedLstm, Recurrence};
pub use pytorch::NamedTensors;
pub use state::LstmState;
