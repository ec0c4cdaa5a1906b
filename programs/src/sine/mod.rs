//! The sine programs (`cargo run --release --example sine`): the two recipes' data and
//! windows ([`data`](self)), and the sequence regressor with its training task.

mod data;
mod model;

pub use data::{WindowSet, keras_sine_windows, seed_prediction_window, torch_sine_series};
pub use model::{RegressionTask, SequenceRegressor, SequenceRegressorConfig};
