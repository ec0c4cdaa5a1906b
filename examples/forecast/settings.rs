//! The command line, and the run's configuration built from it and the data.

use std::path::PathBuf;

use burn_lstm::LstmConfig;
use burn_lstm_programs::forecast::data::list;
use burn_lstm_programs::forecast::season::SeasonChoice;
use burn_lstm_programs::forecast::{
    Collection, Columns, Features, Fill, ForecastConfig, ForecasterConfig, Transform,
};
use burn_lstm_programs::train::{LrSchedule, OptimizerConfig, TrainingConfig};
use burn_lstm_programs::{Error, Result};
use clap::{Parser, ValueEnum};

use crate::common;

/// Forecast your own series (a CSV file's columns, a long file with an id column, or a folder
/// of files) with one LSTM across them, beside the usual baselines.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// The CSV file (a header, then one row per time step — or per series and time step with
    /// `--id`), or a folder of such files (each a series).
    #[arg(long, value_name = "FILE|DIR", required_unless_present_any = ["predict", "resume"])]
    pub csv: Option<PathBuf>,
    /// The column(s) to forecast, comma-separated: each is a series.
    #[arg(long, value_name = "COL[,COL…]", value_delimiter = ',', required_unless_present_any = ["predict", "resume"])]
    pub target: Vec<String>,
    /// The column naming each row's series, in a long file (one row per series and time).
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
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
    /// The season in steps for every series (0: none); default: the calendar's (months,
    /// quarters, days, hours) where a series shows it, else a cycle found in the series.
    #[arg(long, value_name = "S")]
    pub season: Option<usize>,
    /// Steps each forecast reads; default: two seasons or one and a half horizons, whichever
    /// is longer (6 to 128, at most half the median series).
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(2..))]
    pub window: Option<u32>,
    /// Read the series as they are (`none`) or as logarithms (`log`: relative changes);
    /// `auto` takes logarithms of a series whose values are all positive.
    #[arg(long, value_enum, default_value = "auto")]
    pub transform: TransformChoice,
    /// A point forecast only, without the 80% interval (the 10% and 90% quantiles).
    #[arg(long)]
    pub no_interval: bool,
    /// (Kept for earlier command lines: the interval is on by default.)
    #[arg(long, hide = true)]
    pub quantiles: bool,
    /// Missing time steps: interpolate them (`linear`), or use the rows as consecutive steps
    /// (`none`); without this flag they are an error.
    #[arg(long, value_enum)]
    pub fill: Option<FillChoice>,
    /// The most epochs; training stops earlier when the validation loss stops improving.
    #[arg(long, default_value_t = 100)]
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
    /// Do not train: forecast past the end of `--csv` (or of the training data) with the
    /// saved models.
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

/// The series, with what was done to the input on the way printed.
pub fn read_collection(path: &std::path::Path, columns: &Columns) -> Result<Collection> {
    let collection = Collection::read(path, columns)?;
    for note in collection.notes.iter().take(10) {
        println!("note: {note}");
    }
    if collection.notes.len() > 10 {
        println!("note: … and {} more", collection.notes.len() - 10);
    }
    Ok(collection)
}

/// The input and the columns the command line names.
pub fn columns(args: &Args) -> (PathBuf, Columns) {
    let csv = args.csv.clone().expect("required by the parser");
    let columns = Columns {
        targets: args.target.clone(),
        time: args.time.clone(),
        id: args.id.clone(),
        covariates: args.covariates.clone(),
        fill: args.fill.map(|fill| match fill {
            FillChoice::Linear => Fill::Linear,
            FillChoice::None => Fill::None,
        }),
    };
    (csv, columns)
}

/// The run's configuration: the window, the model and its training, sized from the
/// `collection` read from `csv`.
///
/// # Errors
/// A flag out of range, a `--season` that a series cannot hold twice, a series too short for
/// the horizon (every one of them; a collection forecasts the others and says which it
/// left out: see [`too_short`]).
pub fn build_config(
    args: &Args,
    csv: PathBuf,
    columns: Columns,
    collection: &Collection,
) -> Result<ForecastConfig> {
    let horizon = args.horizon.expect("required by the parser") as usize;
    for (name, value) in [
        ("--epochs", args.epochs),
        ("--hidden", args.hidden),
        ("--layers", args.layers),
        ("--batch-size", args.batch_size),
    ] {
        if value == 0 {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
    }
    let calendar = collection.calendar_season();
    if let Some(season) = args.season.filter(|&s| s > 0) {
        check_season(season, collection)?;
    }
    let season_for_window = match args.season {
        Some(0) => None,
        Some(season) => Some(season),
        None => calendar.or_else(|| single_cycle(collection)),
    };
    let window = match args.window {
        Some(window) => window as usize,
        None => default_window(horizon, season_for_window, collection),
    };
    let features = Features {
        window,
        horizon,
        calendar: calendar.filter(|_| args.season != Some(0)),
        covariates: columns.covariates.len(),
        min_history: Features::min_history_for(window),
        transform: match args.transform {
            TransformChoice::Auto => Transform::Auto,
            TransformChoice::Log => Transform::Log,
            TransformChoice::None => Transform::None,
        },
        season: args.season,
    };
    let needed = rows_needed(&features, args.season.or(calendar));
    let longest = collection.series.iter().map(|s| s.len()).max().unwrap_or(0);
    if longest < needed {
        let seasons = needed - horizon;
        let fits = longest.saturating_sub(seasons);
        return Err(Error::Config(format!(
            "a horizon of {horizon} steps needs series of at least {needed} rows (the horizon \
             and {seasons} rows of history: two seasons, or a third of the {window}-step \
             window); the longest has {longest}: {}",
            match fits {
                0 => "it is too short for any horizon".to_string(),
                fits => format!("at most {fits} steps fit"),
            }
        )));
    }
    let quantiles = match args.no_interval {
        true => vec![0.5],
        false => vec![0.1, 0.5, 0.9],
    };
    let lstm = LstmConfig::new(features.width(), args.hidden).with_num_layers(args.layers);
    let model = ForecasterConfig::new(lstm, window, horizon).with_quantiles(quantiles);
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
        features,
        model,
        training,
        args.batch_size,
    )
    .with_ensemble(args.ensemble as usize))
}

/// The rows a series needs for a forecast: the horizon and two seasons of history (or the
/// window's least history, if longer).
pub fn rows_needed(features: &Features, season: Option<usize>) -> usize {
    let season = season.filter(|&m| m > 1).unwrap_or(0);
    features.horizon + (2 * season).max(features.min_history)
}

/// The series of `collection` too short for a forecast, as (name, rows).
pub fn too_short<'a>(config: &ForecastConfig, collection: &'a Collection) -> Vec<(&'a str, usize)> {
    let season = config.features.season.or(collection.calendar_season());
    let needed = rows_needed(&config.features, season);
    collection
        .series
        .iter()
        .filter(|s| s.len() < needed)
        .map(|s| (s.name.as_str(), s.len()))
        .collect()
}

/// `--season S` must fit twice in every series.
fn check_season(season: usize, collection: &Collection) -> Result<()> {
    if season < 2 {
        return Err(Error::Config(
            "--season 1 is no season: give 0 for none, or a season of 2 steps or more".into(),
        ));
    }
    let shortest = collection
        .series
        .iter()
        .min_by_key(|s| s.len())
        .expect("a collection has series");
    if shortest.len() < 2 * season {
        let what = match shortest.len() < season {
            true => "is longer than",
            false => "does not fit twice in",
        };
        return Err(Error::Config(format!(
            "--season {season} {what} series `{}` ({} rows): a season must be seen at least \
             twice (use a shorter season, or 0 for none)",
            shortest.name,
            shortest.len()
        )));
    }
    Ok(())
}

/// A single series' cycle (when no calendar gives a season): the window covers two of them.
fn single_cycle(collection: &Collection) -> Option<usize> {
    match &collection.series[..] {
        [only] => {
            let early = &only.values[..only.len() * 7 / 10];
            burn_lstm_programs::forecast::season::choose_season(early, None).length()
        }
        _ => None,
    }
}

/// Two seasons or one and a half horizons, whichever is longer, at most 128 steps and at
/// most half the collection's median series (short series then give training windows of
/// their own), at least 6. Measured on M3's in-sample validation (sMAPE of the model): monthly
/// 24 steps 11.02, 27 10.94, 36 10.95; quarterly 12 9.48, 16 9.79, 24 9.72; yearly 8 17.20,
/// 12 18.85 (on fewer series); other 12 3.73, 16 3.70.
fn default_window(horizon: usize, season: Option<usize>, collection: &Collection) -> usize {
    let mut lengths: Vec<usize> = collection.series.iter().map(|s| s.len()).collect();
    lengths.sort_unstable();
    let median = lengths[lengths.len() / 2];
    let wanted = (2 * season.unwrap_or(0)).max((3 * horizon).div_ceil(2));
    wanted.min(128).min(median / 2).max(6)
}

/// The run's sizes, for a person.
pub fn describe(config: &ForecastConfig, collection: &Collection) {
    let features = &config.features;
    let step = collection.step.describe();
    let rows: Vec<usize> = collection.series.iter().map(|s| s.len()).collect();
    let series = match collection.series.len() {
        1 => format!("{} rows of {}", rows[0], config.csv),
        n => format!(
            "{n} series of {} ({} to {} rows)",
            config.csv,
            rows.iter().min().unwrap_or(&0),
            rows.iter().max().unwrap_or(&0)
        ),
    };
    println!(
        "data: {series}, one every {step}; target {}{}",
        config.columns.targets.join(", "),
        match config.columns.covariates.is_empty() {
            true => String::new(),
            false => format!(", covariates {}", config.columns.covariates.join(", ")),
        }
    );
    println!(
        "window {} steps, horizon {}",
        features.window, features.horizon
    );
    let short = too_short(config, collection);
    if !short.is_empty() {
        let names: Vec<&str> = short.iter().map(|(name, _)| *name).collect();
        println!(
            "note: {} series are too short for a forecast of {} steps and are left out: {}",
            short.len(),
            features.horizon,
            list(&names)
        );
    }
}

/// For a person: the seasons the series were given (with the evidence for a single series).
pub fn describe_seasons(choices: &[&SeasonChoice]) {
    match choices {
        [only] => println!("season: {}", only.describe()),
        _ => {
            let count = |f: &dyn Fn(&SeasonChoice) -> bool| choices.iter().filter(|c| f(c)).count();
            println!(
                "seasons: {} series show the calendar's, {} a cycle of their own, {} set by \
                 --season, {} none",
                count(&|c| matches!(c, SeasonChoice::Calendar(..))),
                count(&|c| matches!(c, SeasonChoice::Cycle(_))),
                count(&|c| matches!(c, SeasonChoice::Given(_))),
                count(&|c| matches!(c, SeasonChoice::None(_))),
            );
        }
    }
}

/// `--predict` forecasts with the models as they were trained: flags that would change them
/// are refused rather than ignored.
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
        ("--id", args.id.is_some() && args.id != config.columns.id),
        (
            "--season",
            args.season.is_some() && args.season != config.features.season,
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
