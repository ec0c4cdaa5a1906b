//! Sine-wave prediction with an LSTM: train, save, reload, forecast, plot.
//!
//! ```text
//! cargo run --release --example sine                         # the Keras recipe on the CPU
//! cargo run --release --example sine -- --recipe torch       # the PyTorch recipe
//! cargo run --release --example sine --features wgpu         # on the GPU (or software Vulkan)
//! cargo run --release --example sine -- --predict --horizon 100
//! cargo run --release --example sine -- --csv data.csv --column price --window 30
//! ```
//!
//! Artifacts go to `artifacts/sine/<recipe>/` (or `--artifacts DIR`): `config.json`,
//! `model.bpk`, `metrics.csv`, `loss.png`, `prediction.png` (and `seed_prediction.png` for the
//! Keras recipe, `forecast.png` with `--horizon`), and `checkpoint/` for `--resume`.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::prelude::*;
use burn_lstm::files::load_module;
use burn_lstm::{LstmConfig, LstmInit};
use burn_lstm_programs::backend::init_seeded;
use burn_lstm_programs::data::{
    Scaler, WindowSet, keras_sine_windows, read_csv_column, seed_prediction_window,
    torch_sine_series,
};
use burn_lstm_programs::models::{RegressionTask, SequenceRegressor, SequenceRegressorConfig};
use burn_lstm_programs::plot::{Chart, Series, draw_chart, palette};
use burn_lstm_programs::train::artifacts::{load_config, save_config, set_aside_previous_run};
use burn_lstm_programs::train::{
    EpochRecord, LrSchedule, OptimizerConfig, Trainer, TrainingConfig,
};
use burn_lstm_programs::{Error, Result};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Recipe {
    /// 1000 random-phase windows of 49 steps, LSTM(50), Adam, batch 32, 20 epochs.
    Keras,
    /// sin(arange(-10, 10, 0.1)), windows of 5, LSTM(10), SGD 0.01, full batch, ≤ 20000 epochs.
    Torch,
}

/// The initialisers the command line offers.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum InitChoice {
    /// PyTorch's default: every weight and bias from U(±1/√hidden).
    Pytorch,
    /// Keras's default: Glorot input weights, orthogonal recurrent weights, forget bias 1.
    Keras,
}

/// Train an LSTM to predict the next value of a sine wave (or of your own series).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Which source recipe to follow.
    #[arg(long, value_enum, default_value = "keras")]
    recipe: Recipe,
    /// Train on a column of your own CSV file instead of a sine wave.
    #[arg(long, value_name = "FILE", requires = "column")]
    csv: Option<PathBuf>,
    /// The CSV column holding the series.
    #[arg(long, value_name = "NAME", requires = "csv")]
    column: Option<String>,
    /// Steps in each input window (CSV series; default 20).
    #[arg(long)]
    window: Option<usize>,
    /// Training epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// LSTM hidden size.
    #[arg(long)]
    hidden: Option<usize>,
    /// Stacked LSTM layers.
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// A bidirectional LSTM.
    #[arg(long)]
    bidirectional: bool,
    /// How the LSTM's weights start out (default: pytorch).
    #[arg(long, value_enum)]
    init: Option<InitChoice>,
    /// Learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Batch size (0: the whole training set).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Seed of the data, the initial weights and the batch order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the artifacts go (default: artifacts/sine/<recipe>, or artifacts/sine/csv).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Continue the interrupted (or finished) run in the artifacts directory.
    #[arg(long, conflicts_with = "predict")]
    resume: bool,
    /// Do not train: load the artifacts and predict.
    #[arg(long)]
    predict: bool,
    /// Also forecast this many steps past the data, feeding predictions back (at least 1).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    horizon: Option<usize>,
    #[command(flatten)]
    run: common::RunOptions,
}

/// Everything needed to rebuild the model and its data: saved as `config.json`.
#[derive(Config, Debug)]
struct SineConfig {
    /// "keras", "torch" or "csv".
    source: String,
    model: SequenceRegressorConfig,
    training: TrainingConfig,
    window: usize,
    batch_size: usize,
    seed: u64,
    scaler: Scaler,
    #[config(default = "None")]
    csv: Option<String>,
    #[config(default = "None")]
    column: Option<String>,
}

/// Training and validation windows, and the whole series they came from (scaled).
struct SineData {
    train: WindowSet,
    valid: WindowSet,
    /// The series for plotting and forecasting (the Keras recipe has none: it is generated).
    series: Option<Vec<f32>>,
    /// For each window of the series: whether it is a validation window.
    valid_mask: Vec<bool>,
    /// How the series was scaled (fitted on the training part of a CSV series).
    scaler: Scaler,
}

fn main() -> ExitCode {
    common::exit_with(run(Args::parse()))
}

/// A count of at least one (a forecast of no steps would be an empty plot).
fn at_least_one(value: &str) -> std::result::Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(count) => Ok(count),
        Err(err) => Err(err.to_string()),
    }
}

fn run(args: Args) -> Result<()> {
    let (backend, device) = common::start_device(args.run.backend)?;
    let source = if args.csv.is_some() {
        "csv"
    } else {
        recipe_name(args.recipe)
    };
    let artifacts = args
        .artifacts
        .clone()
        .unwrap_or_else(|| PathBuf::from("artifacts/sine").join(source));
    println!("burn-lstm sine ({source} recipe) on {backend}: {device:?}");

    if args.predict {
        return predict(&args, &artifacts, &device);
    }

    let mut config = if args.resume {
        load_config::<SineConfig>(&artifacts.join("config.json"))
            .map_err(|err| Error::Training(format!("cannot resume: {err}")))?
    } else {
        build_config(&args, source)?
    };
    if args.resume {
        // The run keeps its settings; only its length may change.
        if let Some(epochs) = args.epochs {
            config.training.epochs = epochs;
        }
    }
    // The data is read and checked before the artifacts directory is touched.
    let data = load_data(&config)?;
    config.scaler = data.scaler.clone();
    println!(
        "data: {} training and {} validation windows of {} steps",
        data.train.len(),
        data.valid.len(),
        config.window
    );
    if !args.resume
        && let Some(previous) = set_aside_previous_run(&artifacts)?
    {
        println!(
            "an earlier run in {} was moved to {}",
            artifacts.display(),
            previous.display()
        );
    }
    save_config(&config, &artifacts.join("config.json"))?;

    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let model = init_seeded(config.seed, &train_device, |d| config.model.try_init(d))?;
    let mut task = RegressionTask::new(
        data.train.clone(),
        Some(data.valid.clone()),
        config.batch_size,
        &train_device,
    );
    let trainer = Trainer::new(config.training.clone(), &artifacts, &train_device)
        .with_progress(args.run.progress.mode());
    let started = Instant::now();
    let outcome = trainer.fit(model, &mut task, args.resume)?;
    let wall = started.elapsed().as_secs_f64();
    let model = outcome.model.valid();
    let eval_device = device.clone();

    let history = &outcome.state.history;
    let last = history.last().expect("at least one epoch");
    let train_mse = RegressionTask::mse(&model, &data.train, &eval_device);
    let valid_mse = RegressionTask::mse(&model, &data.valid, &eval_device);
    let all = concat(&data.train, &data.valid);
    let overall_mse = RegressionTask::mse(&model, &all, &eval_device);
    println!(
        "finished after {} epochs in {wall:.1} s (this process)",
        last.epoch
    );
    println!(
        "  MSE on the {} training windows:   {train_mse:.3e}",
        data.train.len()
    );
    println!(
        "  MSE on the {} validation windows: {valid_mse:.3e}",
        data.valid.len()
    );
    println!(
        "  overall MSE ({} windows):          {overall_mse:.3e}",
        all.len()
    );
    report_plots(
        &config,
        &model,
        &data,
        history,
        &artifacts,
        &eval_device,
        args.horizon,
    );
    println!("artifacts: {}", artifacts.display());
    Ok(())
}

fn recipe_name(recipe: Recipe) -> &'static str {
    match recipe {
        Recipe::Keras => "keras",
        Recipe::Torch => "torch",
    }
}

/// The recipe's settings, with the command line's overrides.
fn build_config(args: &Args, source: &str) -> Result<SineConfig> {
    // (window, hidden, epochs, optimizer, lr, batch, stop below, log/checkpoint every)
    let (window, hidden, epochs, optimizer, lr, batch, stop_below, every) = match source {
        "keras" => (
            49,
            50,
            20,
            OptimizerConfig::Adam { epsilon: 1e-7 },
            1e-3,
            32,
            None,
            1,
        ),
        "torch" => (
            5,
            10,
            20_000,
            OptimizerConfig::Sgd,
            0.01,
            0,
            Some(1e-4),
            1000,
        ),
        _ => (20, 32, 50, OptimizerConfig::adam(), 1e-3, 32, None, 1),
    };
    let window = args.window.unwrap_or(window);
    let hidden = args.hidden.unwrap_or(hidden);
    // Every recipe starts from the crate's default (PyTorch's). Keras's own initialisers
    // train even the keras recipe to a higher MSE: a median of 1.3e-5 against 7.1e-6 over
    // seven seeds (README, "Sine-wave prediction").
    let init = match args.init {
        Some(InitChoice::Keras) => LstmInit::keras(),
        Some(InitChoice::Pytorch) | None => LstmInit::pytorch(),
    };
    let epochs = args.epochs.unwrap_or(epochs);
    let lr = args.lr.unwrap_or(lr);
    for (name, value) in [
        ("--window", window),
        ("--hidden", hidden),
        ("--epochs", epochs),
        ("--layers", args.layers),
    ] {
        if value == 0 {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
    }
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::Config(format!(
            "--lr must be a positive number, got {lr}"
        )));
    }
    if args.window.is_some() && source != "csv" {
        return Err(Error::Config(
            "--window applies to --csv series only".into(),
        ));
    }
    let model = SequenceRegressorConfig::new(
        LstmConfig::new(1, hidden)
            .with_num_layers(args.layers)
            .with_bidirectional(args.bidirectional)
            .with_init(init),
    );
    let training = TrainingConfig::new(epochs, optimizer, LrSchedule::constant(lr))
        .with_stop_below(stop_below)
        .with_log_every(every)
        .with_checkpoint_every(every)
        .with_seed(args.seed);
    Ok(SineConfig::new(
        source.to_string(),
        model,
        training,
        window,
        args.batch_size.unwrap_or(batch),
        args.seed,
        Scaler::identity(),
    )
    .with_csv(args.csv.as_ref().map(|p| p.display().to_string()))
    .with_column(args.column.clone()))
}

/// The windows of the configured source. For a CSV series this also fits the scaler on the
/// training part (stored in the config).
fn load_data(config: &SineConfig) -> Result<SineData> {
    match config.source.as_str() {
        "keras" => {
            // Independent random phases for validation.
            let train = keras_sine_windows(1000, config.seed);
            let valid = keras_sine_windows(200, config.seed.wrapping_add(1));
            Ok(SineData {
                train,
                valid,
                series: None,
                valid_mask: Vec::new(),
                scaler: Scaler::identity(),
            })
        }
        "torch" => {
            let series = torch_sine_series();
            // The source's 194 windows (it leaves out the last possible one).
            let windows = WindowSet::from_series(
                &series,
                config.window,
                Some(series.len() - config.window - 1),
            )?;
            let (train, valid) = windows.split_random(0.2, config.seed);
            let valid_mask = valid_mask_random(windows.len(), 0.2, config.seed);
            Ok(SineData {
                train,
                valid,
                series: Some(series),
                valid_mask,
                scaler: Scaler::identity(),
            })
        }
        _ => {
            let path = PathBuf::from(config.csv.as_deref().unwrap_or_default());
            let column = config.column.as_deref().unwrap_or_default();
            let raw = read_csv_column(&path, column)?;
            if raw.len() <= config.window + 1 {
                return Err(Error::format(
                    &path,
                    format!(
                        "column `{column}` has {} values, too few for one window of {} steps, its \
                         target and a validation window (use a smaller --window)",
                        raw.len(),
                        config.window
                    ),
                ));
            }
            let windows_count = raw.len() - config.window;
            let valid_count = (windows_count as f64 * 0.2).ceil() as usize;
            let train_values = &raw[..raw.len() - valid_count];
            let scaler = if config.scaler == Scaler::identity() {
                Scaler::fit(train_values)
            } else {
                config.scaler.clone()
            };
            let series: Vec<f32> = raw.iter().map(|&v| scaler.scale(v)).collect();
            let windows = WindowSet::from_series(&series, config.window, None)?;
            let (train, valid) = windows.split_by_time(0.2);
            let valid_mask = (0..windows.len()).map(|i| i >= train.len()).collect();
            Ok(SineData {
                train,
                valid,
                series: Some(series),
                valid_mask,
                scaler,
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

fn concat(a: &WindowSet, b: &WindowSet) -> WindowSet {
    let mut inputs = Vec::new();
    for set in [a, b] {
        for i in 0..set.len() {
            inputs.extend_from_slice(set.input(i));
        }
    }
    let targets = a.targets().iter().chain(b.targets()).copied().collect();
    WindowSet::new(inputs, targets, a.window())
}

/// `--predict`: load the saved model and configuration, report and plot.
fn predict(args: &Args, artifacts: &Path, device: &Device) -> Result<()> {
    let config_path = artifacts.join("config.json");
    if !config_path.exists() {
        return Err(Error::Training(format!(
            "no trained model in {} ({} is missing); train one first, without --predict",
            artifacts.display(),
            config_path.display()
        )));
    }
    let config: SineConfig = load_config(&config_path)?;
    let model = load_module(config.model.try_init(device)?, &artifacts.join("model.bpk"))?;
    let data = load_data(&config)?;
    let all = concat(&data.train, &data.valid);
    println!(
        "loaded {} ({} recipe, LSTM({}))",
        artifacts.join("model.bpk").display(),
        config.source,
        config.model.lstm.hidden_size
    );
    println!(
        "  MSE on the {} training windows:   {:.3e}",
        data.train.len(),
        RegressionTask::mse(&model, &data.train, device)
    );
    println!(
        "  MSE on the {} validation windows: {:.3e}",
        data.valid.len(),
        RegressionTask::mse(&model, &data.valid, device)
    );
    println!(
        "  overall MSE ({} windows):          {:.3e}",
        all.len(),
        RegressionTask::mse(&model, &all, device)
    );
    let history: Vec<EpochRecord> = Vec::new();
    report_plots(
        &config,
        &model,
        &data,
        &history,
        artifacts,
        device,
        args.horizon,
    );
    Ok(())
}

/// Draws the pictures (a missing font is a warning: the model is saved either way).
fn report_plots(
    config: &SineConfig,
    model: &SequenceRegressor,
    data: &SineData,
    history: &[EpochRecord],
    artifacts: &Path,
    device: &Device,
    horizon: Option<usize>,
) {
    let result = (|| -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        if !history.is_empty() {
            written.push(plot_loss(history, artifacts)?);
        }
        written.push(plot_predictions(config, model, data, artifacts, device)?);
        if config.source == "keras" {
            written.push(plot_seed_prediction(model, artifacts, device)?);
        }
        if let Some(horizon) = horizon {
            written.push(plot_forecast(
                config, model, data, horizon, artifacts, device,
            )?);
        }
        Ok(written)
    })();
    match result {
        Ok(paths) => {
            for path in paths {
                println!("  wrote {}", path.display());
            }
        }
        Err(err) => eprintln!("warning: plots not drawn: {err}"),
    }
}

fn plot_loss(history: &[EpochRecord], artifacts: &Path) -> Result<PathBuf> {
    let train = history
        .iter()
        .map(|r| (r.epoch as f64, r.train_loss))
        .collect();
    let valid = history
        .iter()
        .filter_map(|r| r.valid_loss.map(|v| (r.epoch as f64, v)))
        .collect::<Vec<_>>();
    let mut series = vec![Series::line("training loss (MSE)", train, palette::BLUE)];
    if !valid.is_empty() {
        let mark = if valid.len() < history.len() {
            Series::dots
        } else {
            Series::line
        };
        series.push(mark("validation loss (MSE)", valid, palette::ORANGE));
    }
    let path = artifacts.join("loss.png");
    draw_chart(
        &Chart {
            title: "Training progress".into(),
            x_label: "epoch".into(),
            y_label: "mean squared error".into(),
            log_y: true,
            series,
        },
        &path,
    )?;
    Ok(path)
}

/// Predictions of `model` for each window, as plain numbers.
fn predict_windows(model: &SequenceRegressor, windows: &WindowSet, device: &Device) -> Vec<f32> {
    let indices: Vec<usize> = (0..windows.len()).collect();
    let (inputs, _) = windows.tensors(&indices, device);
    model.forward(inputs).into_data().iter::<f32>().collect()
}

fn plot_predictions(
    config: &SineConfig,
    model: &SequenceRegressor,
    data: &SineData,
    artifacts: &Path,
    device: &Device,
) -> Result<PathBuf> {
    let path = artifacts.join("prediction.png");
    let (title, series) = match &data.series {
        Some(series) => {
            let windows =
                WindowSet::from_series(series, config.window, Some(data.valid_mask.len()))?;
            let predicted = predict_windows(model, &windows, device);
            let x = |i: usize| (i + config.window) as f64;
            let unscale = |v: f32| config.scaler.unscale(v);
            let truth = series
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64, unscale(v)))
                .collect();
            let (mut train, mut valid) = (Vec::new(), Vec::new());
            for (i, &p) in predicted.iter().enumerate() {
                let point = (x(i), unscale(p));
                if data.valid_mask[i] {
                    valid.push(point)
                } else {
                    train.push(point)
                }
            }
            (
                format!(
                    "LSTM({}) one-step predictions, {}",
                    config.model.lstm.hidden_size, config.source
                ),
                vec![
                    Series::line("truth", truth, palette::GREY),
                    Series::dots("prediction (training window)", train, palette::BLUE),
                    Series::dots("prediction (validation window)", valid, palette::ORANGE),
                ],
            )
        }
        None => {
            // The Keras recipe's windows start at a phase s in [0, 1) and hold
            // sin(s + 2πj/49), j < 49; the value after them is sin(s + 2π). Sweep s across
            // that range (the part of the wave the recipe trains on) and compare.
            let step = 2.0 * std::f64::consts::PI / 49.0;
            let starts: Vec<f64> = (0..100).map(|k| k as f64 / 100.0).collect();
            let inputs: Vec<f32> = starts
                .iter()
                .flat_map(|&s| (0..49).map(move |j| (s + j as f64 * step).sin() as f32))
                .collect();
            let targets: Vec<f32> = starts
                .iter()
                .map(|&s| (s + 49.0 * step).sin() as f32)
                .collect();
            let windows = WindowSet::new(inputs, targets.clone(), 49);
            let predicted = predict_windows(model, &windows, device);
            let time = |s: f64| s + 49.0 * step;
            let truth = (0..=150)
                .map(|k| {
                    let t = time(-0.25) + k as f64 * 1.5 / 150.0;
                    (t, t.sin())
                })
                .collect();
            let points = starts
                .iter()
                .zip(&predicted)
                .map(|(&s, &p)| (time(s), p as f64))
                .collect();
            (
                format!(
                    "LSTM({}): the value after each window, window starts s in [0, 1)",
                    config.model.lstm.hidden_size
                ),
                vec![
                    Series::line("sin(t)", truth, palette::GREY),
                    Series::dots(
                        "prediction from the 49 values before",
                        points,
                        palette::BLUE,
                    ),
                ],
            )
        }
    };
    draw_chart(
        &Chart {
            title,
            x_label: "t".into(),
            y_label: "value".into(),
            log_y: false,
            series,
        },
        &path,
    )?;
    Ok(path)
}

/// The seed's picture: the window sin(linspace(0, 2π, 49)), the true next value, and ours.
fn plot_seed_prediction(
    model: &SequenceRegressor,
    artifacts: &Path,
    device: &Device,
) -> Result<PathBuf> {
    let (window, truth) = seed_prediction_window();
    let input = Tensor::<3>::from_data(TensorData::new(window.clone(), [1, 49, 1]), device);
    let predicted: f32 = model.forward(input).into_scalar();
    println!(
        "  seed window: next value {truth:.5}, predicted {predicted:.5} (error {:.2e})",
        (predicted - truth).abs()
    );
    let path = artifacts.join("seed_prediction.png");
    let input_points = window
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v as f64))
        .collect();
    draw_chart(
        &Chart {
            title: "Next value of sin(linspace(0, 2π, 49))".into(),
            x_label: "step".into(),
            y_label: "value".into(),
            log_y: false,
            series: vec![
                Series::line("input window", input_points, palette::BLUE),
                Series::dots("truth", vec![(49.0, truth as f64)], palette::GREEN),
                Series::dots("prediction", vec![(49.0, predicted as f64)], palette::RED),
            ],
        },
        &path,
    )?;
    Ok(path)
}

/// `--horizon N`: feed predictions back for N steps past the data.
fn plot_forecast(
    config: &SineConfig,
    model: &SequenceRegressor,
    data: &SineData,
    horizon: usize,
    artifacts: &Path,
    device: &Device,
) -> Result<PathBuf> {
    let window = config.window;
    // The Keras recipe has no series: forecast sin(t) on its training grid, from phase 0.
    let step = 2.0 * std::f64::consts::PI / 49.0;
    let (history, truth): (Vec<f32>, Option<Box<dyn Fn(usize) -> f64>>) =
        match (&data.series, config.source.as_str()) {
            (Some(series), "torch") => (
                series.clone(),
                Some(Box::new(|i| (-10.0 + 0.1 * i as f64).sin())),
            ),
            (Some(series), _) => (series.clone(), None),
            (None, _) => (
                (0..window)
                    .map(|i| (i as f64 * step).sin() as f32)
                    .collect(),
                Some(Box::new(move |i| (i as f64 * step).sin())),
            ),
        };
    let start = history.len();
    let forecast = model.forecast(&history[start - window..], horizon, device);
    let unscale = |v: f32| config.scaler.unscale(v);
    let shown_from = start.saturating_sub(3 * window.max(20));
    let mut series = vec![Series::line(
        "data",
        (shown_from..start)
            .map(|i| (i as f64, unscale(history[i])))
            .collect(),
        palette::BLUE,
    )];
    if let Some(truth) = &truth {
        let future = (start..start + horizon)
            .map(|i| (i as f64, truth(i)))
            .collect();
        series.push(Series::line("truth", future, palette::GREY));
        let error = forecast
            .iter()
            .enumerate()
            .map(|(k, &f)| (unscale(f) - truth(start + k)).powi(2))
            .sum::<f64>()
            / horizon.max(1) as f64;
        println!("  {horizon}-step forecast MSE against the true wave: {error:.3e}");
    }
    series.push(Series::line(
        "forecast (predictions fed back)",
        forecast
            .iter()
            .enumerate()
            .map(|(k, &f)| ((start + k) as f64, unscale(f)))
            .collect(),
        palette::RED,
    ));
    let path = artifacts.join("forecast.png");
    draw_chart(
        &Chart {
            title: format!("{horizon}-step autoregressive forecast"),
            x_label: "step".into(),
            y_label: "value".into(),
            log_y: false,
            series,
        },
        &path,
    )?;
    Ok(path)
}
