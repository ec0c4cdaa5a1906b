//! Forecasting your own series — one, or a collection of many with one LSTM across them:
//! backtest it on each series' last part beside the forecasts a practitioner tries first, and
//! forecast past the end, in the series' own units.
//!
//! ```text
//! cargo run --release --example forecast -- --csv tests/data/series/airline.csv \
//!     --time month --target passengers --horizon 12
//! cargo run --release --example forecast -- --csv sales.csv --id store --time week \
//!     --target units --horizon 8
//! cargo run --release --example forecast -- --csv macro.csv --time quarter --target unemp \
//!     --covariates infl,tbilrate --horizon 8
//! cargo run --release --example forecast -- --predict --csv newer.csv --artifacts DIR
//! ```
//!
//! A run has two stages (`burn_lstm_programs::forecast::stages`): models trained on each
//! series' training part, early stopping on its validation part and scored on its test part
//! (never used to train, stop or calibrate); then the final models, trained on all the data,
//! write the forecast. Artifacts go to `artifacts/forecast/<file>/` (or `--artifacts DIR`):
//! `config.json`, `metrics.json`, `forecast.csv`, `baselines.csv`, plots, and each member's
//! folder (`member-N/`, `evaluation/member-N/`) with its model and checkpoints.

#[path = "../common/mod.rs"]
mod common;
mod plots;
mod report;
mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::prelude::*;
use burn_lstm_programs::forecast::inference::{Predictor, write_baselines_csv, write_forecast_csv};
use burn_lstm_programs::forecast::stages::Run;
use burn_lstm_programs::forecast::training::Origin;
use burn_lstm_programs::forecast::{Collection, ForecastConfig};
use burn_lstm_programs::train::artifacts::{load_config, save_config};
use burn_lstm_programs::{Error, Result};
use clap::Parser;

use settings::{Args, build_config, read_collection};

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
    let (config, mut collection) = match args.resume {
        true => {
            let config = load_config::<ForecastConfig>(&artifacts.join("config.json"))
                .map_err(|err| Error::Training(format!("cannot resume: {err}")))?;
            let collection = read_collection(Path::new(&config.csv), &config.columns)?;
            (config, collection)
        }
        false => {
            let (csv, columns) = settings::columns(&args);
            let collection = read_collection(&csv, &columns)?;
            (build_config(&args, csv, columns, &collection)?, collection)
        }
    };
    settings::describe(&config, &collection);
    let short: Vec<String> = settings::too_short(&config, &collection)
        .into_iter()
        .map(|(name, _)| name.to_string())
        .collect();
    collection.series.retain(|s| !short.contains(&s.name));
    // Everything is read and checked before the artifacts directory is touched.
    common::make_room_for_run(&artifacts, args.resume)?;
    save_config(&config, &artifacts.join("config.json"))?;
    let stages = Run {
        collection: &collection,
        config: &config,
        artifacts: &artifacts,
        device: &device,
        progress: args.run.progress.mode(),
        resume: args.resume,
    };
    let evaluation = stages.evaluate()?;
    if let Some(predictor) = &evaluation.predictor {
        let seasons: Vec<_> = predictor.profiles.iter().map(|p| &p.season).collect();
        settings::describe_seasons(&seasons);
    }
    report::describe_parts(&collection, &evaluation.parts);
    // The selection is part of the model: `--predict` reads it back.
    let selected = config
        .clone()
        .with_selection(Some(evaluation.selection.clone()));
    save_config(&selected, &artifacts.join("config.json"))?;
    report::print_backtests(&collection, &evaluation.test, config.features.horizon);
    report::write_metrics(
        &artifacts.join("metrics.json"),
        &config,
        &collection,
        &evaluation,
    )?;
    let predictor = stages.refit(&evaluation.selection)?;
    let baselines = stages.baselines_past_end(&predictor.profiles);
    write_forecasts(&config, &collection, &predictor, &artifacts)?;
    let path = artifacts.join("baselines.csv");
    write_baselines_csv(
        &path,
        &collection,
        &baselines,
        (config.columns.id.as_deref(), config.columns.time.as_deref()),
        config.features.horizon,
    )?;
    println!("  wrote {}", path.display());
    plots::draw(&config, &collection, &evaluation, &predictor, &artifacts);
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

/// `forecast.csv` past the end of every series, and the first steps on the terminal.
fn write_forecasts(
    config: &ForecastConfig,
    collection: &Collection,
    predictor: &Predictor,
    artifacts: &Path,
) -> Result<()> {
    let origins: Vec<Origin> = collection
        .series
        .iter()
        .enumerate()
        .map(|(series, s)| Origin {
            series,
            end: s.len(),
        })
        .collect();
    let forecasts = predictor.forecasts(collection, &origins);
    let path = artifacts.join("forecast.csv");
    let columns = &config.columns;
    write_forecast_csv(
        &path,
        collection,
        &forecasts,
        (
            columns.id.as_deref(),
            columns.time.as_deref(),
            &columns.targets,
        ),
        predictor.interval_percent(),
    )?;
    report::print_forecasts(collection, &forecasts, predictor.interval_percent());
    println!("  wrote {}", path.display());
    Ok(())
}

/// `--predict`: the saved models forecast past the end of the data (`--csv`: newer data of
/// the same columns; else the input they were trained on).
fn predict(args: &Args, artifacts: &Path, device: &Device) -> Result<()> {
    let config: ForecastConfig = common::trained_config(artifacts, ", without --predict")?;
    settings::check_predict_flags(args, &config)?;
    let selection = config.selection.clone().ok_or_else(|| {
        Error::Training(format!(
            "the run in {} has not finished training (resume it with --resume)",
            artifacts.display()
        ))
    })?;
    let csv = args
        .csv
        .clone()
        .unwrap_or_else(|| PathBuf::from(&config.csv));
    let collection = read_collection(&csv, &config.columns)?;
    let short = settings::too_short(&config, &collection);
    if let Some((name, rows)) = short.first() {
        return Err(Error::format(
            &csv,
            format!(
                "series `{name}` has {rows} rows, too few for the model's horizon of {} ({} \
                 series in all are too short)",
                config.features.horizon,
                short.len()
            ),
        ));
    }
    let stages = Run {
        collection: &collection,
        config: &config,
        artifacts,
        device,
        progress: args.run.progress.mode(),
        resume: false,
    };
    let predictor = stages.load(&selection)?;
    println!(
        "loaded the {} member(s) of {} ({} series, {} rows in all, from {})",
        config.ensemble,
        artifacts.display(),
        collection.series.len(),
        collection.series.iter().map(|s| s.len()).sum::<usize>(),
        csv.display()
    );
    write_forecasts(&config, &collection, &predictor, artifacts)
}
