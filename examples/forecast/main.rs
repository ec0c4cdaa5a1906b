//! Forecasting your own series: train an LSTM on a CSV file's columns, backtest it on the
//! series' last part beside the forecasts a practitioner tries first, and forecast past the
//! end, in the series' own units.
//!
//! ```text
//! cargo run --release --example forecast -- --csv tests/data/series/airline.csv \
//!     --time month --target passengers --horizon 12 --quantiles
//! cargo run --release --example forecast -- --csv macro.csv --time quarter --target unemp \
//!     --covariates infl,tbilrate --horizon 8
//! cargo run --release --example forecast -- --predict --csv newer.csv --artifacts DIR
//! ```
//!
//! The series is split by time into training, validation (early stopping) and test parts
//! (sizes from the horizon, printed); the test part is never used to train, stop or scale.
//! Artifacts go to `artifacts/forecast/<file>/` (or `--artifacts DIR`): `config.json`,
//! `model.bpk`, `metrics.json` (every method's MAE, RMSE, sMAPE, MASE on the test part),
//! `forecast.csv`, `backtest.png`, `forecast.png`, `metrics.csv` and `checkpoint/`.

#[path = "../common/mod.rs"]
mod common;
mod plots;
mod report;
mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::prelude::*;
use burn_lstm::files::load_module;
use burn_lstm_programs::backend::init_seeded;
use burn_lstm_programs::forecast::evaluation::{Backtest, Part};
use burn_lstm_programs::forecast::inference::{Predictor, write_forecast_csv};
use burn_lstm_programs::forecast::training::{ForecastTask, Windows};
use burn_lstm_programs::forecast::{ForecastConfig, Forecaster, Series};
use burn_lstm_programs::train::Trainer;
use burn_lstm_programs::train::artifacts::{load_config, save_config};
use burn_lstm_programs::{Error, Result};
use clap::Parser;

use settings::{Args, build_config, read_series};

fn main() -> ExitCode {
    common::exit_with(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let (backend, device) = common::start_device(args.run.backend)?;
    let artifacts = args
        .artifacts
        .clone()
        .unwrap_or_else(|| default_artifacts(&args));
    if args.predict {
        return predict(&args, &artifacts, &device);
    }
    println!("burn-lstm forecast on {backend}: {device:?}");
    let (config, series) = match args.resume {
        true => {
            let config = load_config::<ForecastConfig>(&artifacts.join("config.json"))
                .map_err(|err| Error::Training(format!("cannot resume: {err}")))?;
            let series = read_series(Path::new(&config.csv), &config.columns)?;
            (config, series)
        }
        false => {
            let (csv, columns) = settings::columns(&args);
            let series = read_series(&csv, &columns)?;
            (build_config(&args, csv, columns, &series)?, series)
        }
    };
    settings::describe(&config, &series);
    // Everything is read and checked before the artifacts directory is touched.
    common::make_room_for_run(&artifacts, args.resume)?;
    save_config(&config, &artifacts.join("config.json"))?;
    let predictor = train(&args, &config, &series, &artifacts, &device)?;
    // The calibration is part of the model: `--predict` reads it back.
    let config = config.with_widening(predictor.widening);
    save_config(&config, &artifacts.join("config.json"))?;
    let backtest = |part: Part| -> Vec<Backtest> {
        (0..config.columns.targets.len())
            .map(|target| {
                Backtest::run(
                    &series,
                    &config.split,
                    &config.features,
                    &predictor,
                    (target, part),
                )
            })
            .collect()
    };
    let (validation, backtests) = (backtest(Part::Validation), backtest(Part::Test));
    report::print_backtests(&config, &backtests);
    let metrics = artifacts.join("metrics.json");
    report::write_metrics(&metrics, &config, &series, [&validation, &backtests])?;
    write_forecast(&config, &series, &predictor, &artifacts)?;
    plots::draw(&config, &series, &backtests, &predictor, &artifacts);
    println!("artifacts: {}", artifacts.display());
    Ok(())
}

fn default_artifacts(args: &Args) -> PathBuf {
    let name = args
        .csv
        .as_deref()
        .and_then(Path::file_stem)
        .map_or("series".into(), |stem| stem.to_string_lossy().into_owned());
    PathBuf::from("artifacts/forecast").join(name)
}

/// Trains (or resumes) the ensemble's members, each early stopping on the validation part
/// (the best epoch's model is what each gives), then calibrates the interval there.
fn train(
    args: &Args,
    config: &ForecastConfig,
    series: &Series,
    artifacts: &Path,
    device: &Device,
) -> Result<Predictor> {
    let windows = Windows::training_and_validation(series, &config.features, &config.split);
    println!(
        "training {} member(s) on {} windows",
        config.ensemble, windows.0.count
    );
    let mut models = Vec::with_capacity(config.ensemble);
    for member in 0..config.ensemble {
        let training = config
            .training
            .clone()
            .with_seed(config.training.seed + member as u64);
        let train_device = device.clone().autodiff();
        train_device.seed(training.seed);
        let model = init_seeded(training.seed, &train_device, |d| config.model.try_init(d))?;
        let mut task = ForecastTask::new(
            config.features.clone(),
            config.model.quantiles.clone(),
            windows.clone(),
            config.batch_size,
            &train_device,
        );
        let trainer = Trainer::new(training, member_dir(artifacts, member), &train_device)
            .with_progress(args.run.progress.mode());
        let outcome = trainer.fit(model, &mut task, args.resume)?;
        let best = outcome
            .state
            .best_epoch
            .map_or("the last".into(), |e| format!("epoch {e}'s"));
        println!(
            "  member {}: {} epochs in {:.1} s; {best} model (lowest validation loss) kept",
            member + 1,
            outcome.state.history.len(),
            outcome.seconds
        );
        models.push(outcome.model.valid());
    }
    let mut predictor = predictor(config, models, device);
    let (window, horizon) = (config.features.window, config.features.horizon);
    let first = config.split.train_end.max(window);
    predictor.calibrate(
        series,
        &(first..=config.split.valid_end - horizon).collect::<Vec<_>>(),
    );
    Ok(predictor)
}

/// Where member `member` of the ensemble keeps its model and checkpoints.
fn member_dir(artifacts: &Path, member: usize) -> PathBuf {
    artifacts.join(format!("member-{}", member + 1))
}

fn predictor(config: &ForecastConfig, models: Vec<Forecaster>, device: &Device) -> Predictor {
    Predictor {
        models,
        features: config.features.clone(),
        quantiles: config.model.quantiles.clone(),
        point: config.model.point_index(),
        device: device.clone(),
        widening: config.widening,
    }
}

/// `forecast.csv` past the end of the data, and its first steps on the terminal.
fn write_forecast(
    config: &ForecastConfig,
    series: &Series,
    predictor: &Predictor,
    artifacts: &Path,
) -> Result<()> {
    let forecast = predictor.forecast(series);
    let path = artifacts.join("forecast.csv");
    let names = &config.columns.targets;
    write_forecast_csv(
        &path,
        series,
        &forecast,
        names,
        predictor.interval_percent(),
    )?;
    report::print_forecast(config, series, &forecast, predictor.interval_percent());
    println!("  wrote {}", path.display());
    Ok(())
}

/// `--predict`: the saved model forecasts past the end of the data (`--csv`: newer data of
/// the same columns; else the file it was trained on).
fn predict(args: &Args, artifacts: &Path, device: &Device) -> Result<()> {
    let config: ForecastConfig = common::trained_config(artifacts, ", without --predict")?;
    settings::check_predict_flags(args, &config)?;
    let csv = args
        .csv
        .clone()
        .unwrap_or_else(|| PathBuf::from(&config.csv));
    let series = read_series(&csv, &config.columns)?;
    if series.len() < config.features.window {
        return Err(Error::format(
            &csv,
            format!(
                "{} rows, fewer than the model's window of {}",
                series.len(),
                config.features.window
            ),
        ));
    }
    let models = (0..config.ensemble)
        .map(|member| {
            let path = member_dir(artifacts, member).join("model.bpk");
            load_module(config.model.try_init(device)?, &path).map_err(Error::from)
        })
        .collect::<Result<Vec<_>>>()?;
    let predictor = predictor(&config, models, device);
    println!(
        "loaded the {} member(s) of {} ({} rows of {})",
        config.ensemble,
        artifacts.display(),
        series.len(),
        csv.display()
    );
    write_forecast(&config, &series, &predictor, artifacts)
}
