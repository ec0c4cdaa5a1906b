//! The rolling-origin backtest over each series' test part: from each origin, every method
//! forecasts the next `H` values from the rows before it (the model as trained on the
//! training parts, the baselines refitted on the history where they fit), and the errors are
//! scored in the series' own units; then the scores of a collection, series by series and as
//! means over the series.
//!
//! Scores (M4's): MAE, RMSE, sMAPE (`200·|y − ŷ| / (|y| + |ŷ|)`, in percent) and MASE (the
//! MAE divided by the in-sample MAE of the seasonal naive forecast on the training part, with
//! the calendar's season — M4's frequency — or one step without one); for the model's
//! interval, the share of actual values inside it.

use serde::{Deserialize, Serialize};

use super::baselines::{Baseline, LinearAr, Seasons};
use super::features::Parts;
use super::inference::Forecast;

/// The name of the model's results among the methods.
pub const OURS: &str = "LSTM (ours)";

/// The part of a series a backtest runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    /// The validation part: for choosing settings without looking at the test part.
    Validation,
    /// The test part: the figures reported.
    Test,
}

/// The origins of a backtest on `part` of a series: its rows from which a whole horizon lies
/// inside the part, at most `most` evenly spread (the last one always in).
pub fn origins(parts: &Parts, horizon: usize, part: Part, most: usize) -> Vec<usize> {
    let (first, end) = match part {
        Part::Validation => (parts.train_end, parts.valid_end),
        Part::Test => (parts.valid_end, parts.len),
    };
    if end < first + horizon {
        return Vec::new();
    }
    let last = end - horizon;
    let count = last + 1 - first;
    let stride = count.div_ceil(most.max(1)).max(1);
    let mut origins: Vec<usize> = (first..=last).rev().step_by(stride).collect();
    origins.reverse();
    origins
}

/// Origins a backtest takes at most for a single series; a collection shares
/// [`MAX_TOTAL_ORIGINS`] among its series (at least one each), since exponential smoothing is
/// refitted at each.
pub const MAX_ORIGINS: usize = 40;

/// See [`MAX_ORIGINS`].
pub const MAX_TOTAL_ORIGINS: usize = 2000;

/// The origins per series of a backtest of a collection of `series` series.
pub fn origins_per_series(series: usize) -> usize {
    (MAX_TOTAL_ORIGINS / series.max(1)).clamp(1, MAX_ORIGINS)
}

/// One method's scores on one series.
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
    /// For an interval: the share of actual values inside it.
    pub coverage: Option<f64>,
    /// Forecast values scored (for pooling coverage across series).
    #[serde(default)]
    pub points: usize,
}

/// A method's forecasts and scores for one series.
#[derive(Clone, Debug)]
pub struct MethodResult {
    /// [`OURS`] or a baseline's name.
    pub name: String,
    /// Its forecasts, one per origin.
    pub forecasts: Vec<Forecast>,
    /// Their scores.
    pub scores: Scores,
}

/// The backtest of one series.
#[derive(Clone, Debug)]
pub struct Backtest {
    /// The series' index in the collection.
    pub series: usize,
    /// The rows the forecasts start at.
    pub origins: Vec<usize>,
    /// The denominator of MASE.
    pub scale: f64,
    /// Every method, ours first.
    pub methods: Vec<MethodResult>,
}

impl Backtest {
    /// Scores `ours` (one forecast per origin) and every baseline from each of `origins` of
    /// the series `values`, whose training part ends at `train_end`.
    pub fn run(
        (series, values): (usize, &[f64]),
        (origins, train_end): (Vec<usize>, usize),
        ours: Vec<Forecast>,
        (window, horizon): (usize, usize),
        (seasons, frequency): (Seasons, usize),
    ) -> Self {
        let scale = mase_scale(&values[..train_end], frequency);
        let linear = LinearAr::fit(values, train_end, window, horizon);
        let mut methods = vec![MethodResult {
            name: OURS.into(),
            scores: score(values, &origins, &ours, scale),
            forecasts: ours,
        }];
        for baseline in Baseline::ALL {
            let forecasts: Option<Vec<Forecast>> = origins
                .iter()
                .map(|&end| {
                    baseline
                        .forecast(&values[..end], horizon, seasons, linear.as_ref())
                        .map(Forecast::point)
                })
                .collect();
            if let Some(forecasts) = forecasts {
                methods.push(MethodResult {
                    name: baseline.name().into(),
                    scores: score(values, &origins, &forecasts, scale),
                    forecasts,
                });
            }
        }
        Backtest {
            series,
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
    let season = if train.len() > season {
        season.max(1)
    } else {
        1
    };
    if train.len() < 2 {
        return 1.0;
    }
    let errors: Vec<f64> = (season..train.len())
        .map(|i| (train[i] - train[i - season]).abs())
        .collect();
    let scale = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    if scale > 0.0 { scale } else { 1.0 }
}

fn score(values: &[f64], origins: &[usize], forecasts: &[Forecast], scale: f64) -> Scores {
    let (mut absolute, mut squared, mut smape, mut count) = (0.0, 0.0, 0.0, 0usize);
    let (mut inside, mut intervals) = (0usize, 0usize);
    for (&end, forecast) in origins.iter().zip(forecasts) {
        for (h, &predicted) in forecast.point.iter().enumerate() {
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
            if let (Some(lower), Some(upper)) = (&forecast.lower, &forecast.upper) {
                intervals += 1;
                if lower[h] <= actual && actual <= upper[h] {
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
        points: count,
    }
}

/// A method's scores over the series of a collection: the means of each series' sMAPE and
/// MASE (the M competitions' way), the median MASE, and the coverage of all points pooled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The method.
    pub method: String,
    /// Series it forecast.
    pub series: usize,
    /// Mean sMAPE, in percent.
    pub smape: f64,
    /// Mean MASE.
    pub mase: f64,
    /// Median MASE.
    pub median_mase: f64,
    /// The share of all actual values inside the interval, for a method with one.
    pub coverage: Option<f64>,
}

/// Every method's [`Summary`] over `backtests`, in the order of their first appearance; a
/// method is summarised over the series it forecast.
pub fn summarise(backtests: &[Backtest]) -> Vec<Summary> {
    let mut names: Vec<&str> = Vec::new();
    for backtest in backtests {
        for method in &backtest.methods {
            if !names.contains(&method.name.as_str()) {
                names.push(&method.name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let scores: Vec<&Scores> = backtests
                .iter()
                .filter_map(|b| b.method(name).map(|m| &m.scores))
                .collect();
            let n = scores.len().max(1) as f64;
            let mut mases: Vec<f64> = scores.iter().map(|s| s.mase).collect();
            mases.sort_by(f64::total_cmp);
            let (inside, points) = scores
                .iter()
                .fold((0.0, 0usize), |(inside, points), s| match s.coverage {
                    Some(c) => (inside + c * s.points as f64, points + s.points),
                    None => (inside, points),
                });
            Summary {
                method: name.to_string(),
                series: scores.len(),
                smape: scores.iter().map(|s| s.smape).sum::<f64>() / n,
                mase: scores.iter().map(|s| s.mase).sum::<f64>() / n,
                median_mase: median(&mases),
                coverage: (points > 0).then(|| inside / points as f64),
            }
        })
        .collect()
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_spread_and_end_at_the_last() {
        let parts = Parts {
            train_end: 50,
            valid_end: 70,
            len: 100,
        };
        assert_eq!(
            origins(&parts, 10, Part::Test, 40),
            (70..=90).collect::<Vec<_>>()
        );
        assert_eq!(origins(&parts, 10, Part::Test, 1), vec![90]);
        assert_eq!(origins(&parts, 10, Part::Validation, 3), vec![52, 56, 60]);
        let none = Parts {
            train_end: 100,
            valid_end: 100,
            len: 100,
        };
        assert!(origins(&none, 10, Part::Test, 40).is_empty());
    }

    #[test]
    fn scores_and_their_summary() {
        let values = [10.0, 12.0, 14.0, 16.0, 18.0, 20.0];
        let forecast = Forecast {
            point: vec![16.0, 16.0],
            lower: Some(vec![15.0, 15.0]),
            upper: Some(vec![17.0, 17.0]),
        };
        let scores = score(&values, &[3], std::slice::from_ref(&forecast), 2.0);
        assert_eq!(scores.mae, 1.0);
        assert_eq!(scores.mase, 0.5);
        assert_eq!(scores.coverage, Some(0.5));
        assert_eq!(mase_scale(&values, 1), 2.0);
        let backtest = |series, mase| Backtest {
            series,
            origins: vec![3],
            scale: 1.0,
            methods: vec![MethodResult {
                name: OURS.into(),
                forecasts: vec![forecast.clone()],
                scores: Scores {
                    mase,
                    smape: 10.0,
                    coverage: Some(1.0),
                    points: 2,
                    ..Default::default()
                },
            }],
        };
        let summary = summarise(&[backtest(0, 1.0), backtest(1, 3.0), backtest(2, 8.0)]);
        assert_eq!(summary[0].series, 3);
        assert_eq!(summary[0].mase, 4.0);
        assert_eq!(summary[0].median_mase, 3.0);
        assert_eq!(summary[0].coverage, Some(1.0));
    }
}
