//! Forecasts from trained models, in each series' units, with the interval of the outer
//! quantiles; `forecast.csv` and `baselines.csv`.
//!
//! **Ensembles.** The members (the same model trained from different seeds) each forecast;
//! their outputs are averaged quantile by quantile, which takes out much of what one
//! training run owes to its seed; then each step's quantiles are put in order (a quantile
//! head can cross its neighbour), so that lower ≤ point ≤ upper always.
//!
//! **Intervals.** The quantile heads alone are overconfident (they fit their own training
//! windows). The interval is calibrated as conformalised quantile regression does, on the
//! backtest windows of every series of the collection: each actual value's distance outside
//! its interval (negative inside), in its series' unit, and per step of the horizon the
//! interval widened (or narrowed) by the quantile of those distances that gives the nominal
//! coverage; pooled over the steps when a step has too few windows for its own.

use std::path::Path;

use crate::files::write_atomic;
use burn::prelude::*;
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use super::baselines::Baseline;
use super::data::{Collection, Layout};
use super::features::{Features, Profile};
use super::model::Forecaster;
use super::training::Origin;
use crate::error::{Error, Result};

/// Trained models with what they need to read each series and answer in its units.
pub struct Predictor {
    /// The ensemble's members.
    pub models: Vec<Forecaster>,
    /// What the models read and predict.
    pub features: Features,
    /// How each series of the collection is read.
    pub profiles: Vec<Profile>,
    /// The quantiles they predict.
    pub quantiles: Vec<f64>,
    /// Which quantile is the point forecast.
    pub point: usize,
    /// Where they run (without autodiff).
    pub device: Device,
    /// The interval's calibration (see the module documentation).
    pub calibration: Calibration,
}

/// What the interval's bounds move outwards at each step of the horizon, in units of a
/// series' scale (negative: inwards); empty until calibrated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Per step of the horizon.
    pub widening: Vec<f64>,
    /// Windows per step it was calibrated on.
    pub windows: usize,
}

/// Steps with fewer calibration windows than this share one widening.
const MIN_WINDOWS_PER_STEP: usize = 40;

impl Calibration {
    /// The widening that gives `coverage` on windows whose distances outside their interval
    /// are `distances[step][window]`.
    pub fn from_distances(distances: &[Vec<f64>], coverage: f64) -> Calibration {
        let windows = distances.first().map_or(0, Vec::len);
        if windows == 0 {
            return Calibration::default();
        }
        let quantile = |values: &mut Vec<f64>| -> f64 {
            values.sort_by(f64::total_cmp);
            let n = values.len();
            let rank = ((coverage * (n + 1) as f64).ceil() as usize).clamp(1, n);
            values[rank - 1]
        };
        let widening = match windows >= MIN_WINDOWS_PER_STEP {
            true => distances.iter().map(|d| quantile(&mut d.clone())).collect(),
            false => {
                let pooled = quantile(&mut distances.concat());
                vec![pooled; distances.len()]
            }
        };
        Calibration { widening, windows }
    }
}

/// One series' forecast from one origin: `[step]`, and the interval's bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    /// The point forecasts.
    pub point: Vec<f64>,
    /// The interval's lower bounds.
    pub lower: Option<Vec<f64>>,
    /// The interval's upper bounds.
    pub upper: Option<Vec<f64>>,
}

impl Forecast {
    /// A forecast without an interval.
    pub fn point(point: Vec<f64>) -> Self {
        Self {
            point,
            lower: None,
            upper: None,
        }
    }
}

impl Predictor {
    /// The members' average output for windows at `origins`, in the features' units, each
    /// step's quantiles in order: `[origin][step · quantiles]`.
    fn normalised(&self, collection: &Collection, origins: &[Origin]) -> Vec<Vec<f32>> {
        let (window, width) = (self.features.window, self.features.width());
        let per_window = self.features.horizon * self.quantiles.len();
        let mut results = Vec::with_capacity(origins.len());
        for chunk in origins.chunks(512) {
            let inputs: Vec<f32> = chunk
                .iter()
                .flat_map(|o| {
                    let (series, profile) =
                        (&collection.series[o.series], &self.profiles[o.series]);
                    self.features.input(series, profile, o.end)
                })
                .collect();
            let inputs = Tensor::<3>::from_data(
                TensorData::new(inputs, [chunk.len(), window, width]),
                (&self.device, DType::F32),
            );
            let sum = self
                .models
                .iter()
                .map(|model| model.forward(inputs.clone()))
                .reduce(|a, b| a + b)
                .expect("an ensemble has members");
            let values: Vec<f32> = sum
                .div_scalar(self.models.len() as f64)
                .into_data()
                .iter::<f32>()
                .collect();
            for output in values.chunks_exact(per_window) {
                let mut output = output.to_vec();
                for step in output.chunks_exact_mut(self.quantiles.len()) {
                    step.sort_by(f32::total_cmp);
                }
                results.push(output);
            }
        }
        results
    }

    /// The interval's quantiles: the outer two, when there are more than one.
    fn interval(&self) -> Option<(usize, usize)> {
        (self.quantiles.len() > 1).then(|| (0, self.quantiles.len() - 1))
    }

    /// The interval's level in percent (80 for the quantiles 0.1 and 0.9).
    pub fn interval_percent(&self) -> Option<f64> {
        self.interval()
            .map(|(low, high)| 100.0 * (self.quantiles[high] - self.quantiles[low]))
    }

    /// Forecasts from `origins` in each series' units, the interval calibrated and ordered
    /// around the point.
    pub fn forecasts(&self, collection: &Collection, origins: &[Origin]) -> Vec<Forecast> {
        let q = self.quantiles.len();
        let outputs = self.normalised(collection, origins);
        origins
            .iter()
            .zip(outputs)
            .map(|(origin, mut output)| {
                if let Some((low, high)) = self.interval() {
                    for (step, cell) in output.chunks_exact_mut(q).enumerate() {
                        let widening = self.calibration.widening.get(step).copied().unwrap_or(0.0);
                        let point = cell[self.point];
                        cell[low] = (cell[low] - widening as f32).min(point);
                        cell[high] = (cell[high] + widening as f32).max(point);
                    }
                }
                let (series, profile) = (
                    &collection.series[origin.series],
                    &self.profiles[origin.series],
                );
                let units = self
                    .features
                    .to_units(series, profile, origin.end, &output, q);
                let path = |index: usize| -> Vec<f64> {
                    units.chunks_exact(q).map(|cell| cell[index]).collect()
                };
                Forecast {
                    point: path(self.point),
                    lower: self.interval().map(|(low, _)| path(low)),
                    upper: self.interval().map(|(_, high)| path(high)),
                }
            })
            .collect()
    }

    /// Each actual value's distance outside its window's (uncalibrated) interval, in its
    /// series' unit, for windows at `origins` whose horizons lie in the data:
    /// `[step][window]`. Empty without an interval.
    pub fn distances(&self, collection: &Collection, origins: &[Origin]) -> Vec<Vec<f64>> {
        let Some((low, high)) = self.interval() else {
            return Vec::new();
        };
        let q = self.quantiles.len();
        let mut distances = vec![Vec::with_capacity(origins.len()); self.features.horizon];
        let outputs = self.normalised(collection, origins);
        for (origin, output) in origins.iter().zip(outputs) {
            let (series, profile) = (
                &collection.series[origin.series],
                &self.profiles[origin.series],
            );
            let future = self.features.future(series, profile, origin.end);
            for ((step, actual), cell) in future.iter().enumerate().zip(output.chunks_exact(q)) {
                let distance = (cell[low] - actual).max(actual - cell[high]);
                distances[step].push(f64::from(distance));
            }
        }
        distances
    }
}

/// Where a collection's outputs put each series: the id column's name and the value
/// column's.
fn long_columns(collection: &Collection, id: Option<&str>, targets: &[String]) -> (String, String) {
    let id = match collection.layout {
        Layout::Long => id.unwrap_or("series").to_string(),
        _ => "series".to_string(),
    };
    let value = match targets {
        [only] => only.clone(),
        _ => "forecast".to_string(),
    };
    (id, value)
}

/// The stamps of the `horizon` steps after series `index`'s last row.
fn future_stamps(collection: &Collection, index: usize, horizon: usize) -> Result<Vec<String>> {
    let series = &collection.series[index];
    let last = series.stamps[series.len() - 1];
    (1..=horizon as u32)
        .map(|h| {
            last.after(collection.step, h)
                .map(|stamp| stamp.write(collection.format))
                .ok_or_else(|| Error::Config("the forecast's time stamps run out of range".into()))
        })
        .collect()
}

/// `forecast.csv`: every series' forecast past its end, laid out as the input was — a wide
/// file's columns side by side (`time,a,a_lower_80,a_upper_80,b,…`), else one row per series
/// and step (`series,time,value,value_lower_80,value_upper_80`).
pub fn write_forecast_csv(
    path: &Path,
    collection: &Collection,
    forecasts: &[Forecast],
    (id, time, targets): (Option<&str>, Option<&str>, &[String]),
    interval: Option<f64>,
) -> Result<()> {
    let time = time.unwrap_or("time");
    let bounds = |name: &str| -> Vec<String> {
        interval.map_or(Vec::new(), |p| {
            vec![
                format!("{name}_lower_{p:.0}"),
                format!("{name}_upper_{p:.0}"),
            ]
        })
    };
    let cells = |forecast: &Forecast, h: usize| -> Vec<String> {
        let mut row = vec![format!("{}", forecast.point[h])];
        if let (Some(lower), Some(upper)) = (&forecast.lower, &forecast.upper) {
            row.push(format!("{}", lower[h]));
            row.push(format!("{}", upper[h]));
        }
        row
    };
    let horizon = forecasts.first().map_or(0, |f| f.point.len());
    let mut lines = Vec::new();
    if collection.layout == Layout::Wide {
        let mut header = vec![time.to_string()];
        for series in &collection.series {
            header.push(series.name.clone());
            header.extend(bounds(&series.name));
        }
        lines.push(header.join(","));
        let stamps = future_stamps(collection, 0, horizon)?;
        for (h, stamp) in stamps.iter().enumerate() {
            let mut row = vec![stamp.clone()];
            forecasts.iter().for_each(|f| row.extend(cells(f, h)));
            lines.push(row.join(","));
        }
    } else {
        let (id, value) = long_columns(collection, id, targets);
        let mut header = vec![id, time.to_string(), value.clone()];
        header.extend(bounds(&value));
        lines.push(header.join(","));
        for (index, forecast) in forecasts.iter().enumerate() {
            let name = csv_cell(&collection.series[index].name);
            for (h, stamp) in future_stamps(collection, index, horizon)?
                .iter()
                .enumerate()
            {
                let mut row = vec![name.clone(), stamp.clone()];
                row.extend(cells(forecast, h));
                lines.push(row.join(","));
            }
        }
    }
    Ok(write_atomic(path, (lines.join("\n") + "\n").as_bytes())?)
}

/// `baselines.csv`: every baseline's forecast past the end of every series, one row per series
/// and step (`series,time,naive,seasonal_naive,…`); an empty cell where a method cannot
/// forecast a series.
pub fn write_baselines_csv(
    path: &Path,
    collection: &Collection,
    baselines: &[Vec<Option<Vec<f64>>>],
    (id, time): (Option<&str>, Option<&str>),
    horizon: usize,
) -> Result<()> {
    let (id, _) = long_columns(collection, id, &[]);
    let mut header = vec![id, time.unwrap_or("time").to_string()];
    header.extend(Baseline::ALL.iter().map(|b| b.column().to_string()));
    let mut lines = vec![header.join(",")];
    for (index, methods) in baselines.iter().enumerate() {
        let name = csv_cell(&collection.series[index].name);
        for (h, stamp) in future_stamps(collection, index, horizon)?
            .iter()
            .enumerate()
        {
            let mut row = vec![name.clone(), stamp.clone()];
            row.extend(methods.iter().map(|forecast| {
                forecast
                    .as_ref()
                    .map_or(String::new(), |values| format!("{}", values[h]))
            }));
            lines.push(row.join(","));
        }
    }
    Ok(write_atomic(path, (lines.join("\n") + "\n").as_bytes())?)
}

/// A name as a CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_cell(name: &str) -> String {
    match name.contains([',', '"', '\n']) {
        true => format!("\"{}\"", name.replace('"', "\"\"")),
        false => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_per_step_or_pooled() {
        // 50 windows per step: a widening of its own per step.
        let many: Vec<Vec<f64>> = (0..2)
            .map(|step| (0..50).map(|i| i as f64 / 50.0 + step as f64).collect())
            .collect();
        let calibration = Calibration::from_distances(&many, 0.8);
        assert_eq!(calibration.widening.len(), 2);
        assert!(calibration.widening[1] > calibration.widening[0] + 0.9);
        // 10 windows per step: one pooled widening.
        let few: Vec<Vec<f64>> = vec![(0..10).map(f64::from).collect(); 3];
        let calibration = Calibration::from_distances(&few, 0.8);
        assert_eq!(calibration.widening, vec![8.0; 3]);
        assert_eq!(
            Calibration::from_distances(&[], 0.8),
            Calibration::default()
        );
    }

    #[test]
    fn names_with_commas_are_quoted() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
