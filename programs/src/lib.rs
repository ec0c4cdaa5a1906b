//! # burn-lstm-programs
//!
//! The training programs of [burn-lstm](burn_lstm), built on the layer crate's public API as
//! any user's program would be. One folder a program, each laid out as burn's modern-lstm
//! example lays out its own (data, model, training, inference):
//!
//! - [`sine`]: the sine recipes' data and windows, the sequence regressor and its task;
//! - [`language`]: text, tokenizers, token windows, the language model, its training tasks and
//!   generation;
//! - [`forecast`]: a person's series, one model across many, its two stages, baselines and
//!   backtest.
//!
//! What they share: the training loop with checkpoints that survive a crash ([`train`]),
//! files ([`files`]), PNG charts ([`plot`]), choosing a backend by name ([`backend`]), and,
//! with the `learner` feature, the models under burn-train (the `learner` module).
//!
//! The programs themselves are the examples of the workspace's root (`cargo run --release
//! --example sine`, `language_model`, `forecast`, `learner`, `import_pytorch`).

#![warn(missing_docs)]

pub mod backend;
mod error;
pub mod files;
pub mod forecast;
pub mod language;
#[cfg(feature = "learner")]
pub mod learner;
pub mod plot;
pub mod sine;
pub mod train;

pub use error::{Error, Result};
