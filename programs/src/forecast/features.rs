//! The split by time, the season, and what the model reads and predicts.
//!
//! **Level and trend.** A window's targets are read relative to its own last value and in
//! units of its own typical one-step change (RevIN-style: the window's statistics, not the
//! series'): the model predicts how far the series moves from where the window ends, so a
//! series that leaves its training range — a trend, a level shift, a season whose swings grow
//! with the level — looks to it like the series it was trained on. The window's scale is
//! floored at a quarter of the training part's, so that a flat stretch is not magnified. Covariates are
//! standardised with the training part's mean and deviation; a season adds the phase of each
//! step as a sine and a cosine. Nothing of the validation or test parts enters a scale.

use serde::{Deserialize, Serialize};

use super::data::Series;
use crate::error::{Error, Result};

/// Where a series is cut: training `..train_end`, validation `train_end..valid_end` (early
/// stopping and model choice), test `valid_end..` (never used to train, stop or scale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The first row of the validation part.
    pub train_end: usize,
    /// The first row of the test part.
    pub valid_end: usize,
    /// Rows of the series.
    pub len: usize,
}

impl Split {
    /// Sizes from the horizon `H`: the test part is a fifth of the series but at least `2H`
    /// (several forecast origins), the validation part a tenth but at least `2H`; the training
    /// part must hold the window and its horizon a few times over.
    ///
    /// # Errors
    /// When the series is too short for this horizon and window, naming the longest horizon
    /// it allows.
    pub fn for_horizon(len: usize, horizon: usize, window: usize) -> Result<Split> {
        let parts = |horizon: usize| {
            let test = (len / 5).max(2 * horizon);
            let valid = (len / 10).max(2 * horizon);
            (test, valid)
        };
        let fits = |horizon: usize| {
            let (test, valid) = parts(horizon);
            len >= test + valid + window + horizon + MIN_TRAIN_WINDOWS
        };
        if horizon == 0 || !fits(horizon) {
            let longest = (1..horizon.max(1)).rev().find(|&h| fits(h));
            let advice = match longest {
                Some(h) => format!("at most {h} steps fit (or use a shorter --window)"),
                None => "no horizon fits: the series is too short for this window".into(),
            };
            return Err(Error::Config(format!(
                "a horizon of {horizon} steps with a window of {window} needs more than the \
                 series' {len} rows (training, validation and test parts from the horizon); \
                 {advice}"
            )));
        }
        let (test, valid) = parts(horizon);
        Ok(Split {
            train_end: len - test - valid,
            valid_end: len - test,
            len,
        })
    }

    /// For a person: the three parts' sizes.
    pub fn describe(&self) -> String {
        format!(
            "training {} rows, validation {}, test {}",
            self.train_end,
            self.valid_end - self.train_end,
            self.len - self.valid_end
        )
    }
}

/// Training windows the shortest training part must hold.
const MIN_TRAIN_WINDOWS: usize = 8;

/// The season of a series: its calendar's (from the time step) if it has one, else the lag
/// of the highest autocorrelation of the training part's one-step changes, if clearly above
/// noise; `None` when neither.
pub fn detect_season(values: &[f64], calendar: Option<usize>) -> Option<usize> {
    if let Some(season) = calendar.filter(|&m| values.len() >= 3 * m) {
        return Some(season);
    }
    let changes: Vec<f64> = values.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let n = changes.len();
    let mean = changes.iter().sum::<f64>() / n as f64;
    let variance = changes.iter().map(|c| (c - mean).powi(2)).sum::<f64>();
    if variance == 0.0 {
        return None;
    }
    let acf = |lag: usize| {
        (lag..n)
            .map(|i| (changes[i] - mean) * (changes[i - lag] - mean))
            .sum::<f64>()
            / variance
    };
    // A season is seen at least three times; noise's autocorrelation is about ±2/√n.
    let threshold = (2.5 / (n as f64).sqrt()).max(0.2);
    (2..=(n / 3).min(500))
        .map(|lag| (lag, acf(lag)))
        .filter(|&(lag, r)| r > threshold && r >= acf(lag - 1) && r >= acf(lag + 1))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(lag, _)| lag)
}

/// The model's view of a series (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Steps a forecast reads.
    pub window: usize,
    /// Steps a forecast predicts.
    pub horizon: usize,
    /// The season in steps, whose phase the model reads; none without one.
    pub season: Option<usize>,
    /// Per target: the training part's standard deviation of one-step changes (a window's
    /// own scale is floored at a quarter of it).
    pub target_scales: Vec<f64>,
    /// Per covariate: the training part's mean.
    pub covariate_means: Vec<f64>,
    /// Per covariate: the training part's standard deviation.
    pub covariate_scales: Vec<f64>,
    /// Whether the model reads and predicts the targets' logarithms (every target value of
    /// the file positive): relative changes, for series whose swings grow with their level.
    #[serde(default)]
    pub log: bool,
}

impl Features {
    /// Scales fitted on the training part `..split.train_end`; with `log`, of the targets'
    /// logarithms.
    pub fn fit(
        series: &Series,
        split: &Split,
        (window, horizon): (usize, usize),
        season: Option<usize>,
        log: bool,
    ) -> Self {
        let train = |column: &Vec<f64>| column[..split.train_end].to_vec();
        let target_scales = series
            .targets
            .iter()
            .map(|column| {
                let column: Vec<f64> = column
                    .iter()
                    .map(|&v| if log { v.ln() } else { v })
                    .collect();
                let changes: Vec<f64> = train(&column).windows(2).map(|p| p[1] - p[0]).collect();
                let scale = deviation(&changes);
                if scale > 0.0 {
                    scale
                } else {
                    deviation(&train(&column)).max(1e-12)
                }
            })
            .collect();
        let covariates: Vec<Vec<f64>> = series.covariates.iter().map(train).collect();
        Self {
            window,
            horizon,
            season,
            target_scales,
            covariate_means: covariates.iter().map(|c| mean(c)).collect(),
            covariate_scales: covariates.iter().map(|c| deviation(c).max(1e-12)).collect(),
            log,
        }
    }

    /// A target value as the model sees it (its logarithm with `log`).
    fn read(&self, value: f64) -> f64 {
        if self.log { value.ln() } else { value }
    }

    /// A value the model gave, back in the series' units.
    fn write(&self, value: f64) -> f64 {
        if self.log { value.exp() } else { value }
    }

    /// Targets.
    pub fn targets(&self) -> usize {
        self.target_scales.len()
    }

    /// Inputs per step: the targets, the covariates, and the season's phase (two).
    pub fn width(&self) -> usize {
        self.targets() + self.covariate_means.len() + if self.season.is_some() { 2 } else { 0 }
    }

    /// Each target's anchor for the window ending before row `end`: its last value and the
    /// standard deviation of its one-step changes (floored).
    pub fn anchors(&self, series: &Series, end: usize) -> Vec<Anchor> {
        series
            .targets
            .iter()
            .zip(&self.target_scales)
            .map(|(column, &floor)| {
                let window: Vec<f64> = column[end - self.window..end]
                    .iter()
                    .map(|&v| self.read(v))
                    .collect();
                let changes: Vec<f64> = window.windows(2).map(|p| p[1] - p[0]).collect();
                Anchor {
                    level: window[window.len() - 1],
                    scale: deviation(&changes).max(0.25 * floor),
                }
            })
            .collect()
    }

    /// The inputs of the window ending before row `end`, `[window, width]` row-major.
    pub fn input(&self, series: &Series, end: usize) -> Vec<f32> {
        let anchors = self.anchors(series, end);
        let mut values = Vec::with_capacity(self.window * self.width());
        for row in end - self.window..end {
            for (column, anchor) in series.targets.iter().zip(&anchors) {
                values.push(anchor.normalise(self.read(column[row])));
            }
            for (k, column) in series.covariates.iter().enumerate() {
                let standard = (column[row] - self.covariate_means[k]) / self.covariate_scales[k];
                values.push(standard as f32);
            }
            if let Some(season) = self.season {
                let phase = 2.0 * std::f64::consts::PI * (row % season) as f64 / season as f64;
                values.push(phase.sin() as f32);
                values.push(phase.cos() as f32);
            }
        }
        values
    }

    /// What the model should predict after row `end - 1`: `[horizon, targets]`, relative to
    /// the window's anchors.
    pub fn future(&self, series: &Series, end: usize) -> Vec<f32> {
        let anchors = self.anchors(series, end);
        let mut values = Vec::with_capacity(self.horizon * self.targets());
        for row in end..end + self.horizon {
            for (column, anchor) in series.targets.iter().zip(&anchors) {
                values.push(anchor.normalise(self.read(column[row])));
            }
        }
        values
    }

    /// The model's output for a window with these `anchors` in the series' units: `output`
    /// and the result are `[horizon, targets, quantiles]`.
    pub fn to_units(&self, anchors: &[Anchor], output: &[f32], quantiles: usize) -> Vec<f64> {
        output
            .iter()
            .enumerate()
            .map(|(i, &value)| self.write(anchors[(i / quantiles) % self.targets()].units(value)))
            .collect()
    }
}

/// Where a window stands: the level its values are read from, and their unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    /// The window's last value (its logarithm with `log`).
    pub level: f64,
    /// The standard deviation of the window's one-step changes, floored.
    pub scale: f64,
}

impl Anchor {
    fn normalise(&self, value: f64) -> f32 {
        ((value - self.level) / self.scale) as f32
    }

    fn units(&self, value: f32) -> f64 {
        self.level + f64::from(value) * self.scale
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn deviation(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_follow_the_horizon_and_short_series_name_the_longest_horizon() {
        let split = Split::for_horizon(144, 12, 24).unwrap();
        assert_eq!(
            (split.train_end, split.valid_end, split.len),
            (92, 116, 144)
        );
        let err = Split::for_horizon(60, 20, 24).unwrap_err().to_string();
        assert!(
            err.contains("at most") || err.contains("no horizon fits"),
            "{err}"
        );
        assert!(Split::for_horizon(100, 0, 10).is_err());
    }

    #[test]
    fn seasons_from_the_calendar_or_the_changes() {
        let wave: Vec<f64> = (0..120).map(|i| ((i % 10) as f64 - 4.5).abs()).collect();
        assert_eq!(detect_season(&wave, None), Some(10));
        assert_eq!(detect_season(&wave, Some(12)), Some(12));
        // A random walk has no season.
        let mut state = 1u64;
        let walk: Vec<f64> = (0..200)
            .scan(0.0, |level, _| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *level += ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
                Some(*level)
            })
            .collect();
        assert_eq!(detect_season(&walk, None), None);
    }
}
