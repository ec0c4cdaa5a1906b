//! Ready models built on [`Lstm`](burn_lstm::Lstm).

mod generate;
mod language;
mod language_tasks;
mod regressor;

pub use generate::{Sampling, generate};
pub use language::{LanguageModel, LanguageModelConfig};
pub use language_tasks::{NextTokenWindows, StreamTask, TextScore, WindowTask, score_stream};
pub use regressor::{RegressionTask, SequenceRegressor, SequenceRegressorConfig};
