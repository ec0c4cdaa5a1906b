//! # burn-lstm-programs
//!
//! The training programs of [burn-lstm](burn_lstm), built on the layer crate's public API as
//! any user's program would be: data ([`data`]: sine windows, CSV series, text corpora), ready
//! models ([`models`]: a sequence regressor, a language model, generation), the training loop
//! with checkpoints that survive a crash ([`train`]), PNG charts ([`plot`]), choosing a
//! backend by name ([`backend`]), and, with the `learner` feature, the models under
//! burn-train (the `learner` module).
//!
//! The programs themselves are the examples of the workspace's root (`cargo run --release
//! --example sine`, `language_model`, `forecast`, `learner`, `import_pytorch`).

#![warn(missing_docs)]

pub mod backend;
pub mod data;
mod error;
pub mod forecast;
#[cfg(feature = "learner")]
pub mod learner;
pub mod models;
pub mod plot;
pub mod train;

pub use error::{Error, Result};
