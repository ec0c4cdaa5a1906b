//! Sine-wave prediction with an LSTM: train, save, reload, forecast, plot.
//!
//! ```text
//! cargo run --release --example sine                         # the Keras recipe on the CPU
//! cargo run --release --example sine -- --recipe torch       # the PyTorch recipe
//! cargo run --release --example sine --features wgpu         # on the GPU (or software Vulkan)
//! cargo run --release --example sine -- --predict --horizon 100
//! ```
//!
//! Artifacts go to `artifacts/sine/<recipe>/` (or `--artifacts DIR`): `config.json`,
//! `model.bpk`, `metrics.csv`, `loss.png`, `prediction.png` (and `seed_prediction.png` for the
//! Keras recipe, `forecast.png` with `--horizon`), and `checkpoint/` for `--resume`. A series
//! of your own goes to the forecast program (`--example forecast`).

#[path = "../common/mod.rs"]
mod common;
mod plots;
mod recipe;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::prelude::*;
use burn_lstm::files::load_module;
use burn_lstm_programs::backend::init_seeded;
use burn_lstm_programs::sine::{RegressionTask, SequenceRegressor};
use burn_lstm_programs::train::artifacts::{load_config, save_config};
use burn_lstm_programs::train::{EpochRecord, Trainer};
use burn_lstm_programs::{Error, Result};
use clap::Parser;

use recipe::{InitChoice, Recipe, SineConfig, SineData, build_config, concat, load_data};

/// Train an LSTM to predict the next value of a sine wave.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// Which source recipe to follow.
    #[arg(long, value_enum, default_value = "keras")]
    pub recipe: Recipe,
    /// Training epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// LSTM hidden size.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Stacked LSTM layers.
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// A bidirectional LSTM.
    #[arg(long)]
    pub bidirectional: bool,
    /// How the LSTM's weights start out (default: pytorch).
    #[arg(long, value_enum)]
    pub init: Option<InitChoice>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Batch size (0: the whole training set).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of the data, the initial weights and the batch order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the artifacts go (default: artifacts/sine/<recipe>).
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Continue the interrupted (or finished) run in the artifacts directory.
    #[arg(long, conflicts_with = "predict")]
    pub resume: bool,
    /// Do not train: load the artifacts and predict.
    #[arg(long)]
    pub predict: bool,
    /// Also forecast this many steps past the data, feeding predictions back (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub horizon: Option<u32>,
    /// (Moved: a series of your own is the forecast program's; these say where to go.)
    #[arg(long, hide = true, num_args = 0..)]
    pub csv: Option<Vec<String>>,
    #[arg(long, hide = true, num_args = 0..)]
    pub column: Option<Vec<String>>,
    #[arg(long, hide = true, num_args = 0..)]
    pub window: Option<Vec<String>>,
    #[command(flatten)]
    pub run: common::RunOptions,
}

fn main() -> ExitCode {
    common::exit_with(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    if args.csv.is_some() || args.column.is_some() || args.window.is_some() {
        return Err(Error::Config(
            "a series of your own is now the forecast program's: cargo run --release --example \
             forecast -- --csv FILE --target COLUMN --horizon H (see its --help)"
                .into(),
        ));
    }
    let (backend, device) = common::start_device(args.run.backend)?;
    let name = args.recipe.name();
    let artifacts = args
        .artifacts
        .clone()
        .unwrap_or_else(|| PathBuf::from("artifacts/sine").join(name));
    println!("burn-lstm sine ({name} recipe) on {backend}: {device:?}");
    if args.predict {
        return predict(&args, &artifacts, &device);
    }
    let mut config = match args.resume {
        true => load_config::<SineConfig>(&artifacts.join("config.json"))
            .map_err(|err| Error::Training(format!("cannot resume: {err}")))?,
        false => build_config(&args)?,
    };
    if let (true, Some(epochs)) = (args.resume, args.epochs) {
        config.training.epochs = epochs; // a resumed run keeps its settings but its length
    }
    // The data is made and checked before the artifacts directory is touched.
    let data = load_data(&config)?;
    println!(
        "data: {} training and {} validation windows of {} steps",
        data.train.len(),
        data.valid.len(),
        config.window
    );
    common::make_room_for_run(&artifacts, args.resume)?;
    save_config(&config, &artifacts.join("config.json"))?;
    let (model, history) = train(&args, &config, &data, &artifacts, &device)?;
    report(&model, &data, &device);
    let horizon = args.horizon.map(|h| h as usize);
    plots::report_plots(
        &config, &model, &data, &history, &artifacts, &device, horizon,
    );
    println!("artifacts: {}", artifacts.display());
    Ok(())
}

/// Trains (or resumes) the recipe's model; returns it for evaluation and its history.
fn train(
    args: &Args,
    config: &SineConfig,
    data: &SineData,
    artifacts: &Path,
    device: &Device,
) -> Result<(SequenceRegressor, Vec<EpochRecord>)> {
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let model = init_seeded(config.seed, &train_device, |d| config.model.try_init(d))?;
    let mut task = RegressionTask::new(
        data.train.clone(),
        Some(data.valid.clone()),
        config.batch_size,
        &train_device,
    );
    let trainer = Trainer::new(config.training.clone(), artifacts, &train_device)
        .with_progress(args.run.progress.mode());
    let started = Instant::now();
    let outcome = trainer.fit(model, &mut task, args.resume)?;
    let epochs = outcome.state.history.last().map_or(0, |last| last.epoch);
    println!(
        "finished after {epochs} epochs in {:.1} s (this process)",
        started.elapsed().as_secs_f64()
    );
    Ok((outcome.model.valid(), outcome.state.history))
}

/// The MSE on the training and validation windows and on both.
fn report(model: &SequenceRegressor, data: &SineData, device: &Device) {
    let all = concat(&data.train, &data.valid);
    for (what, windows) in [
        (
            format!("the {} training windows:  ", data.train.len()),
            &data.train,
        ),
        (
            format!("the {} validation windows:", data.valid.len()),
            &data.valid,
        ),
    ] {
        println!(
            "  MSE on {what} {:.3e}",
            RegressionTask::mse(model, windows, device)
        );
    }
    println!(
        "  overall MSE ({} windows):          {:.3e}",
        all.len(),
        RegressionTask::mse(model, &all, device)
    );
}

/// `--predict`: load the saved model and configuration, report and plot.
fn predict(args: &Args, artifacts: &Path, device: &Device) -> Result<()> {
    let config: SineConfig = common::trained_config(artifacts, ", without --predict")?;
    let model = load_module(config.model.try_init(device)?, &artifacts.join("model.bpk"))?;
    let data = load_data(&config)?;
    println!(
        "loaded {} ({} recipe, LSTM({}))",
        artifacts.join("model.bpk").display(),
        config.recipe.name(),
        config.model.lstm.hidden_size
    );
    report(&model, &data, device);
    let horizon = args.horizon.map(|h| h as usize);
    plots::report_plots(&config, &model, &data, &[], artifacts, device, horizon);
    Ok(())
}
