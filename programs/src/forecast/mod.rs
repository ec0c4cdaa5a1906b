//! Forecasting a person's own series: the program `cargo run --release --example forecast`
//! is built from these parts, laid out as burn's modern-lstm example lays out its own.
//!
//! - [`data`]: the CSV file, its time column, order, gaps and numbers checked;
//! - [`features`]: the split by time (sizes from the horizon), the season, and what the model
//!   reads (each window relative to its own last level);
//! - [`model`]: the LSTM with a direct multi-step, multi-quantile head, and the pinball loss;
//! - [`training`]: the windows and the training task (early stopping on the validation part);
//! - [`evaluation`]: the rolling-origin backtest on the test part beside the baselines
//!   ([`baselines`]), in the series' units;
//! - [`inference`]: forecasts past the end, `forecast.csv`.

pub mod baselines;
pub mod data;
pub mod evaluation;
pub mod features;
pub mod inference;
pub mod model;
pub mod time;
pub mod training;

use burn::config::Config;

use crate::train::TrainingConfig;
pub use data::{Columns, Fill, Series};
pub use features::{Features, Split};
pub use model::{Forecaster, ForecasterConfig};

/// Everything needed to rebuild a forecasting run: saved as `config.json`.
#[derive(Config, Debug)]
pub struct ForecastConfig {
    /// The file trained on.
    pub csv: String,
    /// Its columns.
    pub columns: Columns,
    /// Where it is cut by time.
    pub split: Split,
    /// What the model reads and predicts.
    pub features: Features,
    /// The model.
    pub model: ForecasterConfig,
    /// Its training.
    pub training: TrainingConfig,
    /// Windows per training batch.
    pub batch_size: usize,
    /// Models trained from different seeds, whose forecasts are averaged.
    #[config(default = 1)]
    pub ensemble: usize,
    /// The interval's calibration on the validation part (see [`inference`]).
    #[config(default = 0.0)]
    pub widening: f64,
}
