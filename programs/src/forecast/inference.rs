//! Forecasts from trained models: from the backtest's origins, and past the end of the data,
//! in the series' units, with the interval of the outer quantiles; `forecast.csv`.
//!
//! **Ensembles.** The members (the same model trained from different seeds) each forecast;
//! their outputs are averaged quantile by quantile, which takes out much of what one
//! training run owes to its seed.
//!
//! **Intervals.** The quantile heads alone are overconfident on short series (they fit their
//! own training windows). The interval is calibrated on the validation part as conformalised
//! quantile regression does: each validation value's distance outside its interval (negative
//! inside), in the window's own unit, and the interval widened (or narrowed) by the quantile
//! of those distances that gives the nominal coverage there.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::DType;
use burn_lstm::files::write_atomic;

use super::data::Series;
use super::features::Features;
use super::model::Forecaster;
use crate::error::{Error, Result};

/// Trained models with what they need to read a series and answer in its units.
pub struct Predictor {
    /// The ensemble's members.
    pub models: Vec<Forecaster>,
    /// What the models read and predict.
    pub features: Features,
    /// The quantiles they predict.
    pub quantiles: Vec<f64>,
    /// Which quantile is the point forecast.
    pub point: usize,
    /// Where they run (without autodiff).
    pub device: Device,
    /// The calibration of the interval: what its bounds move outwards, in units of a window's
    /// scale (see the module documentation); 0 until [`Predictor::calibrate`].
    pub widening: f64,
}

/// One method's forecasts from every origin: `[origin][step]`, and interval bounds when it
/// gives them.
#[derive(Clone, Debug, Default)]
pub struct Forecasts {
    /// The point forecasts.
    pub point: Vec<Vec<f64>>,
    /// The interval's lower bounds.
    pub lower: Option<Vec<Vec<f64>>>,
    /// The interval's upper bounds.
    pub upper: Option<Vec<Vec<f64>>>,
}

/// Every target's forecast from one origin: `[target][step]`, and the interval's bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    /// The point forecasts.
    pub point: Vec<Vec<f64>>,
    /// The interval's lower bounds.
    pub lower: Option<Vec<Vec<f64>>>,
    /// The interval's upper bounds.
    pub upper: Option<Vec<Vec<f64>>>,
}

impl Predictor {
    /// The forecasts from windows ending before each row of `ends`: `[end][step][target][q]`,
    /// the members' average, the interval's bounds calibrated.
    fn outputs(&self, series: &Series, ends: &[usize]) -> Vec<Vec<f64>> {
        let features = &self.features;
        let q = self.quantiles.len();
        let per_window = features.horizon * features.targets() * q;
        let mut results = Vec::with_capacity(ends.len());
        for chunk in ends.chunks(256) {
            let outputs = self.normalised(series, chunk);
            for (i, &end) in chunk.iter().enumerate() {
                let anchors = features.anchors(series, end);
                let mut output = outputs[i * per_window..(i + 1) * per_window].to_vec();
                if let Some((low, high)) = self.interval() {
                    for cell in output.chunks_exact_mut(q) {
                        cell[low] -= self.widening as f32;
                        cell[high] += self.widening as f32;
                    }
                }
                results.push(features.to_units(&anchors, &output, q));
            }
        }
        results
    }

    /// The members' average output for windows ending before `ends`, in the features' units:
    /// `[end][step][target][q]` flattened.
    fn normalised(&self, series: &Series, ends: &[usize]) -> Vec<f32> {
        let (window, width) = (self.features.window, self.features.width());
        let inputs: Vec<f32> = ends
            .iter()
            .flat_map(|&end| self.features.input(series, end))
            .collect();
        let inputs = Tensor::<3>::from_data(
            TensorData::new(inputs, [ends.len(), window, width]),
            (&self.device, DType::F32),
        );
        let sum = self
            .models
            .iter()
            .map(|model| model.forward(inputs.clone()))
            .reduce(|a, b| a + b)
            .expect("an ensemble has members");
        sum.div_scalar(self.models.len() as f64)
            .into_data()
            .iter::<f32>()
            .collect()
    }

    /// Sets the interval's widening from the windows ending before `ends` (the validation
    /// part's), whose futures lie in `series`, for the nominal coverage of the outer
    /// quantiles (see the module documentation).
    pub fn calibrate(&mut self, series: &Series, ends: &[usize]) {
        let (Some((low, high)), false) = (self.interval(), ends.is_empty()) else {
            return;
        };
        let features = &self.features;
        let q = self.quantiles.len();
        let mut distances = Vec::new();
        for chunk in ends.chunks(256) {
            let outputs = self.normalised(series, chunk);
            for (i, &end) in chunk.iter().enumerate() {
                let futures = features.future(series, end);
                let output = &outputs[i * futures.len() * q..(i + 1) * futures.len() * q];
                for (actual, cell) in futures.iter().zip(output.chunks_exact(q)) {
                    distances.push(f64::from((cell[low] - actual).max(actual - cell[high])));
                }
            }
        }
        distances.sort_by(f64::total_cmp);
        let coverage = self.quantiles[high] - self.quantiles[low];
        let n = distances.len();
        let rank = ((coverage * (n + 1) as f64).ceil() as usize).clamp(1, n);
        self.widening = distances[rank - 1];
    }

    /// Quantile `index` of target `target` at step `step` of an output.
    fn at(&self, output: &[f64], step: usize, target: usize, index: usize) -> f64 {
        let q = self.quantiles.len();
        output[(step * self.features.targets() + target) * q + index]
    }

    /// The interval's quantiles: the outer two, when there are more than one.
    fn interval(&self) -> Option<(usize, usize)> {
        (self.quantiles.len() > 1).then(|| (0, self.quantiles.len() - 1))
    }

    /// Target `target`'s forecasts from each origin of the backtest.
    pub fn backtest(&self, series: &Series, origins: &[usize], target: usize) -> Forecasts {
        let outputs = self.outputs(series, origins);
        let horizon = self.features.horizon;
        let path = |index: usize| -> Vec<Vec<f64>> {
            outputs
                .iter()
                .map(|output| {
                    (0..horizon)
                        .map(|h| self.at(output, h, target, index))
                        .collect()
                })
                .collect()
        };
        Forecasts {
            point: path(self.point),
            lower: self.interval().map(|(low, _)| path(low)),
            upper: self.interval().map(|(_, high)| path(high)),
        }
    }

    /// Every target's forecast past the end of `series`.
    pub fn forecast(&self, series: &Series) -> Forecast {
        let output = self.outputs(series, &[series.len()]).remove(0);
        let horizon = self.features.horizon;
        let path = |index: usize| -> Vec<Vec<f64>> {
            (0..self.features.targets())
                .map(|target| {
                    (0..horizon)
                        .map(|h| self.at(&output, h, target, index))
                        .collect()
                })
                .collect()
        };
        Forecast {
            point: path(self.point),
            lower: self.interval().map(|(low, _)| path(low)),
            upper: self.interval().map(|(_, high)| path(high)),
        }
    }

    /// The interval's level in percent (80 for the quantiles 0.1 and 0.9).
    pub fn interval_percent(&self) -> Option<f64> {
        self.interval()
            .map(|(low, high)| 100.0 * (self.quantiles[high] - self.quantiles[low]))
    }
}

/// `forecast.csv`: one row per step past the end, its time stamp, and per target the point
/// forecast and the interval's bounds.
pub fn write_forecast_csv(
    path: &Path,
    series: &Series,
    forecast: &Forecast,
    names: &[String],
    interval: Option<f64>,
) -> Result<()> {
    let step = series
        .step
        .ok_or_else(|| Error::Config("a series of one row has no step".into()))?;
    let last = series.stamps[series.len() - 1];
    let mut header = vec!["time".to_string()];
    for name in names {
        header.push(name.clone());
        if let Some(percent) = interval {
            header.push(format!("{name}_lower_{percent:.0}"));
            header.push(format!("{name}_upper_{percent:.0}"));
        }
    }
    let mut text = header.join(",") + "\n";
    for h in 0..forecast.point[0].len() {
        let stamp = last
            .after(step, h as u32 + 1)
            .ok_or_else(|| Error::Config("the forecast's time stamps run out of range".into()))?;
        let mut row = vec![stamp.write(series.format)];
        for target in 0..names.len() {
            row.push(format!("{}", forecast.point[target][h]));
            if let (Some(lower), Some(upper)) = (&forecast.lower, &forecast.upper) {
                row.push(format!("{}", lower[target][h]));
                row.push(format!("{}", upper[target][h]));
            }
        }
        text += &(row.join(",") + "\n");
    }
    Ok(write_atomic(path, text.as_bytes())?)
}
