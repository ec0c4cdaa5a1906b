//! The command line, and the run's configuration built from it and the data.

use std::path::{Path, PathBuf};

use burn_lstm::LstmConfig;
use burn_lstm_programs::forecast::features::detect_season;
use burn_lstm_programs::forecast::{
    Columns, Features, Fill, ForecastConfig, ForecasterConfig, Series, Split,
};
use burn_lstm_programs::train::{LrSchedule, OptimizerConfig, TrainingConfig};
use burn_lstm_programs::{Error, Result};
use clap::{Parser, ValueEnum};

use crate::common;

/// Forecast a series of your own (a CSV file's columns) with an LSTM, beside the usual
/// baselines.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// The CSV file (a header, then one row per time step).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["predict", "resume"])]
    pub csv: Option<PathBuf>,
    /// The column(s) to forecast, comma-separated.
    #[arg(long, value_name = "COL[,COL…]", value_delimiter = ',', required_unless_present_any = ["predict", "resume"])]
    pub target: Vec<String>,
    /// The time column (dates, date-times or numbers); without it the rows are consecutive
    /// steps.
    #[arg(long, value_name = "COL")]
    pub time: Option<String>,
    /// Columns read as extra inputs (their past values), comma-separated.
    #[arg(long, value_name = "COL[,COL…]", value_delimiter = ',')]
    pub covariates: Vec<String>,
    /// Steps forecast at once.
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u32).range(1..), required_unless_present_any = ["predict", "resume"])]
    pub horizon: Option<u32>,
    /// The season in steps (0: none); default: the calendar's (months, quarters, days,
    /// hours), else detected from the training part's autocorrelation.
    #[arg(long, value_name = "S")]
    pub season: Option<usize>,
    /// Steps each forecast reads; default: two seasons (16 to 128), else 24.
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(2..))]
    pub window: Option<u32>,
    /// Read the targets as they are (`none`) or as logarithms (`log`: relative changes);
    /// `auto` takes logarithms of a series whose values are all positive.
    #[arg(long, value_enum, default_value = "auto")]
    pub transform: TransformChoice,
    /// Also forecast the 10% and 90% quantiles: an 80% prediction interval.
    #[arg(long)]
    pub quantiles: bool,
    /// Missing time steps: interpolate them (`linear`), or use the rows as consecutive steps
    /// (`none`); without this flag they are an error.
    #[arg(long, value_enum)]
    pub fill: Option<FillChoice>,
    /// The most epochs; training stops earlier when the validation loss stops improving.
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    /// Epochs without a better validation loss before training stops.
    #[arg(long, default_value_t = 20)]
    pub patience: usize,
    /// LSTM hidden size.
    #[arg(long, default_value_t = 32)]
    pub hidden: usize,
    /// Models trained from different seeds, their forecasts averaged.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub ensemble: u32,
    /// Stacked LSTM layers.
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the artifacts go (default: artifacts/forecast/<file name>).
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Continue the interrupted (or finished) run in the artifacts directory.
    #[arg(long, conflicts_with = "predict")]
    pub resume: bool,
    /// Do not train: forecast past the end of `--csv` (or of the training file) with the
    /// saved model.
    #[arg(long)]
    pub predict: bool,
    #[command(flatten)]
    pub run: common::RunOptions,
}

/// `--transform`'s choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransformChoice {
    Auto,
    Log,
    None,
}

/// `--fill`'s choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FillChoice {
    Linear,
    None,
}

/// The series, with what was done to the file on the way printed.
pub fn read_series(path: &Path, columns: &Columns) -> Result<Series> {
    let series = Series::read(path, columns)?;
    for note in &series.notes {
        println!("note: {note}");
    }
    Ok(series)
}

/// The file and the columns the command line names.
pub fn columns(args: &Args) -> (PathBuf, Columns) {
    let csv = args.csv.clone().expect("required by the parser");
    let columns = Columns {
        targets: args.target.clone(),
        time: args.time.clone(),
        covariates: args.covariates.clone(),
        fill: args.fill.map(|fill| match fill {
            FillChoice::Linear => Fill::Linear,
            FillChoice::None => Fill::None,
        }),
    };
    (csv, columns)
}

/// The run's configuration: the data's season, window and split, the model and its
/// training, sized from the `series` read from `csv`.
pub fn build_config(
    args: &Args,
    csv: PathBuf,
    columns: Columns,
    series: &Series,
) -> Result<ForecastConfig> {
    let horizon = args.horizon.expect("required by the parser") as usize;
    for (name, value) in [
        ("--epochs", args.epochs),
        ("--hidden", args.hidden),
        ("--layers", args.layers),
    ] {
        if value == 0 {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
    }
    // The season from the first 70% (about the training part): the test part plays no role.
    let early = &series.targets[0][..series.len() * 7 / 10];
    let calendar = series.step.and_then(|step| step.calendar_season());
    let season = match args.season {
        Some(0) => None,
        Some(season) => Some(season),
        None => detect_season(early, calendar),
    };
    let window = match args.window {
        Some(window) => window as usize,
        None => default_window(series.len(), horizon, season),
    };
    let split = Split::for_horizon(series.len(), horizon, window)?;
    // Logarithms for a positive series (unless told otherwise): its changes then relative.
    let positive = series.targets.iter().flatten().all(|&v| v > 0.0);
    let log = match args.transform {
        TransformChoice::Auto => positive,
        TransformChoice::Log if !positive => {
            return Err(Error::Config(
                "--transform log needs every target value to be positive".into(),
            ));
        }
        TransformChoice::Log => true,
        TransformChoice::None => false,
    };
    let features = Features::fit(series, &split, (window, horizon), season, log);
    let quantiles = if args.quantiles {
        vec![0.1, 0.5, 0.9]
    } else {
        vec![0.5]
    };
    let lstm = LstmConfig::new(features.width(), args.hidden).with_num_layers(args.layers);
    let model = ForecasterConfig::new(lstm, window, horizon, columns.targets.len())
        .with_quantiles(quantiles);
    let training = TrainingConfig::new(
        args.epochs,
        OptimizerConfig::adam(),
        LrSchedule::constant(args.lr),
    )
    .with_seed(args.seed)
    .with_patience(Some(args.patience.max(1)))
    .with_checkpoint_every(10);
    Ok(ForecastConfig::new(
        csv.display().to_string(),
        columns,
        split,
        features,
        model,
        training,
        args.batch_size,
    )
    .with_ensemble(args.ensemble as usize))
}

/// Two seasons (16 to 128 steps), else 24; shortened to what the series' training part
/// allows for this horizon.
fn default_window(len: usize, horizon: usize, season: Option<usize>) -> usize {
    let wanted = season.map_or(24, |m| (2 * m).clamp(16, 128));
    (2..=wanted)
        .rev()
        .find(|&window| Split::for_horizon(len, horizon, window).is_ok())
        .unwrap_or(wanted)
}

/// The run's sizes, for a person.
pub fn describe(config: &ForecastConfig, series: &Series) {
    let features = &config.features;
    let step = series.step.map_or("?".into(), |step| step.describe());
    println!(
        "data: {} rows of {}, one every {step}; target {}{}",
        series.len(),
        config.csv,
        config.columns.targets.join(", "),
        match config.columns.covariates.is_empty() {
            true => String::new(),
            false => format!(", covariates {}", config.columns.covariates.join(", ")),
        }
    );
    println!(
        "split by time: {}; window {} steps, horizon {}, season {}{}",
        config.split.describe(),
        features.window,
        features.horizon,
        features.season.map_or("none".into(), |m| m.to_string()),
        if features.log {
            "; the model reads logarithms"
        } else {
            ""
        }
    );
}

/// `--predict` forecasts with the model as it was trained: flags that would change it are
/// refused rather than ignored.
pub fn check_predict_flags(args: &Args, config: &ForecastConfig) -> Result<()> {
    let window = config.features.window;
    let changed = [
        (
            "--window",
            args.window.is_some_and(|w| w as usize != window),
        ),
        (
            "--horizon",
            args.horizon
                .is_some_and(|h| h as usize != config.features.horizon),
        ),
        (
            "--target",
            !args.target.is_empty() && args.target != config.columns.targets,
        ),
        (
            "--season",
            args.season
                .is_some_and(|s| Some(s) != config.features.season),
        ),
    ];
    match changed.iter().find(|(_, changed)| *changed) {
        Some((flag, _)) => Err(Error::Config(format!(
            "{flag} cannot change with --predict: the saved model was trained with window {window}, \
             horizon {}, target {}; train a new model instead",
            config.features.horizon,
            config.columns.targets.join(",")
        ))),
        None => Ok(()),
    }
}
