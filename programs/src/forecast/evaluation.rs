//! The rolling-origin backtest over the test part: from each origin, every method forecasts
//! the next `H` values of each target from the rows before it (the model as trained, the
//! baselines refitted where they fit on history), and the errors are scored in the series'
//! own units.
//!
//! Scores (M4's): MAE, RMSE, sMAPE (`200·|y − ŷ| / (|y| + |ŷ|)`, in percent) and MASE (the
//! MAE divided by the in-sample MAE of the seasonal naive forecast on the training part; the
//! naive one-step forecast without a season); for the model's quantiles, the share of actual
//! values inside the interval between the outer two.

use serde::{Deserialize, Serialize};

use super::baselines::{LinearAr, ets, persistence, seasonal_naive};
use super::data::Series;
use super::features::{Features, Split};
use super::inference::{Forecasts, Predictor};

/// The part of a series a backtest runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    /// The validation part: for choosing settings without looking at the test part.
    Validation,
    /// The test part: the figures reported.
    Test,
}

/// The origins of a backtest on `part`: its rows from which a whole horizon lies inside it, at
/// most [`MAX_ORIGINS`] evenly spread (the last one always in).
pub fn origins(split: &Split, horizon: usize, part: Part) -> Vec<usize> {
    let (first, last) = match part {
        Part::Validation => (split.train_end, split.valid_end - horizon),
        Part::Test => (split.valid_end, split.len - horizon),
    };
    let count = last + 1 - first;
    let stride = count.div_ceil(MAX_ORIGINS).max(1);
    let mut origins: Vec<usize> = (first..=last).rev().step_by(stride).collect();
    origins.reverse();
    origins
}

/// Origins a backtest takes at most: exponential smoothing is refitted at each.
pub const MAX_ORIGINS: usize = 40;

/// One method's scores on one target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean absolute error, in the series' units.
    pub mae: f64,
    /// Root mean squared error, in the series' units.
    pub rmse: f64,
    /// Symmetric mean absolute percentage error, in percent.
    pub smape: f64,
    /// Mean absolute scaled error: the MAE over the training part's seasonal naive MAE.
    pub mase: f64,
    /// For the model's interval: the share of actual values inside it.
    pub coverage: Option<f64>,
}

/// A method's forecasts and scores for one target.
#[derive(Clone, Debug)]
pub struct MethodResult {
    /// `LSTM (ours)`, `persistence`, `seasonal naive`, `linear AR` or `ETS`.
    pub name: String,
    /// Its forecasts from each origin.
    pub forecasts: Forecasts,
    /// Their scores.
    pub scores: Scores,
}

/// The backtest of one target.
#[derive(Clone, Debug)]
pub struct Backtest {
    /// The part of the series it ran on.
    pub part: Part,
    /// The target's index among the columns' targets.
    pub target: usize,
    /// The rows the forecasts start at.
    pub origins: Vec<usize>,
    /// The denominator of MASE.
    pub scale: f64,
    /// Every method, ours first.
    pub methods: Vec<MethodResult>,
}

impl Backtest {
    /// Runs every method from every origin of `part` for target `target`.
    pub fn run(
        series: &Series,
        split: &Split,
        features: &Features,
        model: &Predictor,
        (target, part): (usize, Part),
    ) -> Self {
        let values = &series.targets[target];
        let horizon = features.horizon;
        let origins = origins(split, horizon, part);
        let season = features.season;
        let scale = mase_scale(&values[..split.train_end], season.unwrap_or(1));
        let ours = model.backtest(series, &origins, target);
        let linear = LinearAr::fit(values, split, features.window, horizon);
        let mut methods = vec![("LSTM (ours)".to_string(), ours)];
        let each = |f: &dyn Fn(usize) -> Option<Vec<f64>>| {
            origins
                .iter()
                .map(|&end| f(end))
                .collect::<Option<Vec<_>>>()
                .map(|point| Forecasts {
                    point,
                    ..Default::default()
                })
        };
        let baselines: [(&str, Option<Forecasts>); 4] = [
            (
                "persistence",
                each(&|end| Some(persistence(values, end, horizon))),
            ),
            (
                "seasonal naive",
                each(&|end| Some(seasonal_naive(values, end, horizon, season.unwrap_or(1)))),
            ),
            ("linear AR", each(&|end| Some(linear.forecast(values, end)))),
            ("ETS", each(&|end| ets(values, end, horizon, season))),
        ];
        methods.extend(
            baselines
                .into_iter()
                .filter_map(|(name, f)| f.map(|f| (name.to_string(), f))),
        );
        let methods = methods
            .into_iter()
            .map(|(name, forecasts)| MethodResult {
                scores: score(values, &origins, &forecasts, scale),
                name,
                forecasts,
            })
            .collect();
        Backtest {
            part,
            target,
            origins,
            scale,
            methods,
        }
    }

    /// A method's result by name.
    pub fn method(&self, name: &str) -> Option<&MethodResult> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// The in-sample MAE of the seasonal naive forecast (`season` 1: the last value).
pub fn mase_scale(train: &[f64], season: usize) -> f64 {
    let season = season.min(train.len() - 1).max(1);
    let errors: Vec<f64> = (season..train.len())
        .map(|i| (train[i] - train[i - season]).abs())
        .collect();
    let scale = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    if scale > 0.0 { scale } else { 1.0 }
}

fn score(values: &[f64], origins: &[usize], forecasts: &Forecasts, scale: f64) -> Scores {
    let (mut absolute, mut squared, mut smape, mut count) = (0.0, 0.0, 0.0, 0usize);
    let (mut inside, mut intervals) = (0usize, 0usize);
    for (o, &end) in origins.iter().enumerate() {
        for (h, &predicted) in forecasts.point[o].iter().enumerate() {
            let actual = values[end + h];
            let error = (actual - predicted).abs();
            absolute += error;
            squared += error * error;
            let denominator = actual.abs() + predicted.abs();
            smape += if denominator > 0.0 {
                200.0 * error / denominator
            } else {
                0.0
            };
            count += 1;
            if let (Some(lower), Some(upper)) = (&forecasts.lower, &forecasts.upper) {
                intervals += 1;
                if lower[o][h] <= actual && actual <= upper[o][h] {
                    inside += 1;
                }
            }
        }
    }
    let n = count.max(1) as f64;
    Scores {
        mae: absolute / n,
        rmse: (squared / n).sqrt(),
        smape: smape / n,
        mase: absolute / n / scale,
        coverage: (intervals > 0).then(|| inside as f64 / intervals as f64),
    }
}
