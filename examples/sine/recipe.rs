//! The two source recipes as named settings, the command line's overrides, and their data.

use burn::prelude::*;
use burn_lstm::{LstmConfig, LstmInit};
use burn_lstm_programs::sine::SequenceRegressorConfig;
use burn_lstm_programs::sine::{WindowSet, keras_sine_windows, torch_sine_series};
use burn_lstm_programs::train::{LrSchedule, OptimizerConfig, TrainingConfig};
use burn_lstm_programs::{Error, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::Args;

/// The source recipes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// 1000 random-phase windows of 49 steps, LSTM(50), Adam, batch 32, 20 epochs.
    Keras,
    /// sin(arange(-10, 10, 0.1)), windows of 5, LSTM(10), SGD 0.01, full batch, ≤ 20000 epochs.
    Torch,
}

/// The initialisers the command line offers.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InitChoice {
    /// PyTorch's default: every weight and bias from U(±1/√hidden).
    Pytorch,
    /// Keras's default: Glorot input weights, orthogonal recurrent weights, forget bias 1.
    Keras,
}

/// A recipe's settings.
pub struct Settings {
    /// Steps in each input window.
    pub window: usize,
    pub hidden: usize,
    pub epochs: usize,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f64,
    /// 0: the whole training set.
    pub batch_size: usize,
    /// Stop once the training loss is below this.
    pub stop_below: Option<f64>,
    /// Log and checkpoint every this many epochs.
    pub every: usize,
}

impl Recipe {
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Keras => "keras",
            Recipe::Torch => "torch",
        }
    }

    pub fn settings(self) -> Settings {
        match self {
            Recipe::Keras => Settings {
                window: 49,
                hidden: 50,
                epochs: 20,
                optimizer: OptimizerConfig::Adam { epsilon: 1e-7 },
                learning_rate: 1e-3,
                batch_size: 32,
                stop_below: None,
                every: 1,
            },
            Recipe::Torch => Settings {
                window: 5,
                hidden: 10,
                epochs: 20_000,
                optimizer: OptimizerConfig::Sgd,
                learning_rate: 0.01,
                batch_size: 0,
                stop_below: Some(1e-4),
                every: 1000,
            },
        }
    }
}

/// Everything needed to rebuild the model and its data: saved as `config.json`.
#[derive(Config, Debug)]
pub struct SineConfig {
    pub recipe: Recipe,
    pub model: SequenceRegressorConfig,
    pub training: TrainingConfig,
    pub window: usize,
    pub batch_size: usize,
    pub seed: u64,
}

/// Training and validation windows, and the series they came from.
pub struct SineData {
    pub train: WindowSet,
    pub valid: WindowSet,
    /// The series, for plotting and forecasting (the Keras recipe has none: it is generated).
    pub series: Option<Vec<f32>>,
    /// For each window of the series: whether it is a validation window.
    pub valid_mask: Vec<bool>,
}

/// The recipe's settings, with the command line's overrides.
pub fn build_config(args: &Args) -> Result<SineConfig> {
    let settings = args.recipe.settings();
    let hidden = args.hidden.unwrap_or(settings.hidden);
    let epochs = args.epochs.unwrap_or(settings.epochs);
    let learning_rate = args.lr.unwrap_or(settings.learning_rate);
    for (name, value) in [
        ("--hidden", hidden),
        ("--epochs", epochs),
        ("--layers", args.layers),
    ] {
        if value == 0 {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
    }
    if !(learning_rate.is_finite() && learning_rate > 0.0) {
        return Err(Error::Config(format!(
            "--lr must be a positive number, got {learning_rate}"
        )));
    }
    // Every recipe starts from the crate's default (PyTorch's). Keras's own initialisers
    // train even the keras recipe to a higher MSE: a median of 1.3e-5 against 7.1e-6 over
    // seven seeds (README, "Sine-wave prediction").
    let init = match args.init {
        Some(InitChoice::Keras) => LstmInit::keras(),
        Some(InitChoice::Pytorch) | None => LstmInit::pytorch(),
    };
    let model = SequenceRegressorConfig::new(
        LstmConfig::new(1, hidden)
            .with_num_layers(args.layers)
            .with_bidirectional(args.bidirectional)
            .with_init(init),
    );
    let training = TrainingConfig::new(
        epochs,
        settings.optimizer,
        LrSchedule::constant(learning_rate),
    )
    .with_stop_below(settings.stop_below)
    .with_log_every(settings.every)
    .with_checkpoint_every(settings.every)
    .with_seed(args.seed);
    Ok(SineConfig::new(
        args.recipe,
        model,
        training,
        settings.window,
        args.batch_size.unwrap_or(settings.batch_size),
        args.seed,
    ))
}

/// The recipe's windows.
pub fn load_data(config: &SineConfig) -> Result<SineData> {
    match config.recipe {
        Recipe::Keras => Ok(SineData {
            // Independent random phases for validation.
            train: keras_sine_windows(1000, config.seed),
            valid: keras_sine_windows(200, config.seed.wrapping_add(1)),
            series: None,
            valid_mask: Vec::new(),
        }),
        Recipe::Torch => {
            let series = torch_sine_series();
            // The source's 194 windows (it leaves out the last possible one).
            let count = series.len() - config.window - 1;
            let windows = WindowSet::from_series(&series, config.window, Some(count))?;
            let (train, valid) = windows.split_random(0.2, config.seed);
            Ok(SineData {
                valid_mask: valid_mask_random(windows.len(), 0.2, config.seed),
                train,
                valid,
                series: Some(series),
            })
        }
    }
}

/// Same split as `WindowSet::split_random`, as a mask over the windows.
fn valid_mask_random(count: usize, fraction: f64, seed: u64) -> Vec<bool> {
    let indices: Vec<f32> = (0..count).map(|i| i as f32).collect();
    let windows = WindowSet::new(indices.clone(), indices, 1);
    let (_, valid) = windows.split_random(fraction, seed);
    let mut mask = vec![false; count];
    for &i in valid.targets() {
        mask[i as usize] = true;
    }
    mask
}

/// Both sets of windows as one.
pub fn concat(a: &WindowSet, b: &WindowSet) -> WindowSet {
    let mut inputs = Vec::new();
    for set in [a, b] {
        for i in 0..set.len() {
            inputs.extend_from_slice(set.input(i));
        }
    }
    let targets = a.targets().iter().chain(b.targets()).copied().collect();
    WindowSet::new(inputs, targets, a.window())
}
