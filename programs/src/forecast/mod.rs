//! Forecasting a person's own series — one, or a collection of many with one model across
//! them: the program `cargo run --release --example forecast` is built from these parts, laid
//! out as burn's modern-lstm example lays out its own.
//!
//! - [`data`]: the CSV file(s): one series, several columns, a long file with an id column or
//!   a folder of files; time column, order, gaps and numbers checked;
//! - [`season`]: seasons tested, cycles found, the classical decomposition;
//! - [`features`]: each series' profile (logarithms, season, unit), its parts by time, and
//!   what the model reads (each window relative to its own last level);
//! - [`model`]: the LSTM with a direct multi-step, multi-quantile head, and the pinball loss;
//! - [`training`]: the windows of every series and the training task;
//! - [`stages`]: a run's two stages — the evaluation model (trained on the training parts,
//!   early stopping on the validation parts, scored on the test parts) and the final models,
//!   refitted on all the data for the epochs the first stage chose;
//! - [`evaluation`]: the rolling-origin backtest beside the baselines ([`baselines`],
//!   [`smoothing`]), in the series' units, and its summary over a collection;
//! - [`inference`]: forecasts, calibrated intervals, `forecast.csv` and `baselines.csv`.

pub mod baselines;
pub mod data;
pub mod evaluation;
pub mod features;
pub mod inference;
pub mod model;
pub mod season;
pub mod smoothing;
pub mod stages;
pub mod time;
pub mod training;

use burn::config::Config;

use crate::train::TrainingConfig;
pub use data::{Collection, Columns, Fill, Layout, Series};
pub use features::{Features, Parts, Profile, Transform};
pub use inference::Calibration;
pub use model::{Forecaster, ForecasterConfig};

/// Everything needed to rebuild a forecasting run: saved as `config.json`.
#[derive(Config, Debug)]
pub struct ForecastConfig {
    /// The file (or folder) trained on.
    pub csv: String,
    /// Its columns.
    pub columns: Columns,
    /// What the model reads and predicts.
    pub features: Features,
    /// The model.
    pub model: ForecasterConfig,
    /// Its training (the most epochs; early stopping in the first stage).
    pub training: TrainingConfig,
    /// Windows per training batch.
    pub batch_size: usize,
    /// Models trained from different seeds, whose forecasts are averaged.
    #[config(default = 1)]
    pub ensemble: usize,
    /// What the first stage chose, once it has run: the final models' epochs and the
    /// interval's calibration (`--predict` reads them).
    #[config(default = "None")]
    pub selection: Option<Selection>,
}

/// What a run's first stage chose for its final models.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// The final models' epochs (the same number of batches as the first stage's best
    /// epoch, or its fixed budget without validation parts).
    pub epochs: usize,
    /// The interval's calibration, from the first stage's validation and test windows.
    pub calibration: Calibration,
}
