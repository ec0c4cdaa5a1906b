//! What the model reads and predicts, for every series of a collection alike: each series'
//! own level, season and unit taken out, so that one model serves them all.
//!
//! **Per series** ([`Profile`], fitted on the part of the series a stage may see): the values
//! as logarithms when they are all positive (relative changes; `--transform`), the seasonal
//! indices of the classical decomposition taken out when the series shows a calendar season
//! (multiplicative for logarithms, additive otherwise: [`super::season`]), and a unit. The unit
//! of a series read as logarithms is one shared by all such series of the collection (the
//! median of their one-step changes' standard deviations): the loss then weighs a relative
//! error alike in every series, as sMAPE does. A series read as it is has its own unit (its
//! one-step changes' standard deviation), since its values have units of their own. (Measured
//! on M3 monthly's in-sample validation: each series its own unit, sMAPE 11.93; shared,
//! 11.32.)
//!
//! **Per window** (`window` steps before an origin): every level relative to where the series
//! stands at the window's end — its simple exponential smoothing level (the smoothing weight
//! fitted per series, as Theta fits it), a denoised "last value" — in the series' unit: the
//! model predicts how far the series moves from there, so a trend or a level shift looks like
//! any other window. (Measured as above: relative to the last value, 11.18; to the smoothed
//! level, 10.99, on three seeds 10.99–11.02.) A window more volatile than its series usually
//! is reads in a unit grown by as much (up to 4×): a series entering a wilder regime (the
//! macro table's 2008) looks like its calmer past, scaled. (Measured on the validation parts:
//! M3 monthly 10.94 → 10.97, quarterly 9.48 → 9.41; the six series' median MASE 0.625 →
//! 0.612; a unit that also shrinks for calm windows, to half: 11.03, 9.53, 0.591.) A series shorter than the window is padded in
//! front, with a second input saying which steps are real; covariates are standardised per
//! series; the calendar's phase is an input when the collection has one. Nothing of a later
//! part enters a profile.

use serde::{Deserialize, Serialize};

use super::data::Series;
use super::season::{SeasonChoice, choose_season, seasonal_indices};
use super::smoothing::Ses;
use crate::error::{Error, Result};

/// What the model reads and predicts: the same for every series of the collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Steps a forecast reads (earlier steps of a short series are padding).
    pub window: usize,
    /// Steps a forecast predicts.
    pub horizon: usize,
    /// The collection's calendar season, whose phase the model reads (`None`: no phase).
    pub calendar: Option<usize>,
    /// Covariates per step.
    pub covariates: usize,
    /// The fewest real steps a window may hold.
    pub min_history: usize,
    /// Logarithms of positive series.
    pub transform: Transform,
    /// The season the command line set (`Some(0)`: none), else each series' is tested.
    pub season: Option<usize>,
}

/// Whether series are read as logarithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transform {
    /// Logarithms for a series whose values are all positive.
    Auto,
    /// Logarithms (every value must be positive).
    Log,
    /// The values as they are.
    None,
}

impl Features {
    /// Inputs per step: the value, whether it is real, the covariates, the phase (two).
    pub fn width(&self) -> usize {
        2 + self.covariates + if self.calendar.is_some() { 2 } else { 0 }
    }

    /// The least rows a series needs to give one training window and its horizon.
    pub fn min_rows(&self) -> usize {
        self.min_history + self.horizon
    }

    /// The fewest real steps of a window, for a window of `window` steps: a third of it, at
    /// least 3.
    pub fn min_history_for(window: usize) -> usize {
        (window / 3).clamp(3.min(window), window)
    }

    /// The inputs of the window ending before row `end` of `series`, `[window, width]`
    /// row-major, as `profile` reads the series.
    pub fn input(&self, series: &Series, profile: &Profile, end: usize) -> Vec<f32> {
        let anchor = profile.anchor(&series.values, end, self.window);
        let mut values = Vec::with_capacity(self.window * self.width());
        for position in 0..self.window {
            let row = (end + position) as isize - self.window as isize;
            let real = row >= 0;
            let row = row.max(0) as usize;
            match real {
                true => {
                    values.push(anchor.normalise(profile.level(&series.values, row)));
                    values.push(1.0);
                }
                false => values.extend([0.0, 0.0]),
            }
            for (k, column) in series.covariates.iter().enumerate() {
                values.push(match real {
                    true => profile.covariate(k, column[row]),
                    false => 0.0,
                });
            }
            if let Some(season) = self.calendar {
                let phase = (end as isize + position as isize - self.window as isize)
                    .rem_euclid(season as isize);
                let angle = 2.0 * std::f64::consts::PI * phase as f64 / season as f64;
                values.push(angle.sin() as f32);
                values.push(angle.cos() as f32);
            }
        }
        values
    }

    /// What the model should predict after row `end - 1`: `[horizon]`, relative to the
    /// window's anchor.
    pub fn future(&self, series: &Series, profile: &Profile, end: usize) -> Vec<f32> {
        let anchor = profile.anchor(&series.values, end, self.window);
        (end..end + self.horizon)
            .map(|row| anchor.normalise(profile.level(&series.values, row)))
            .collect()
    }

    /// The model's output for the window ending before `end` back in the series' units:
    /// `output` is `[horizon, quantiles]`, and so is the result.
    pub fn to_units(
        &self,
        series: &Series,
        profile: &Profile,
        end: usize,
        output: &[f32],
        quantiles: usize,
    ) -> Vec<f64> {
        let anchor = profile.anchor(&series.values, end, self.window);
        output
            .iter()
            .enumerate()
            .map(|(i, &value)| profile.value(anchor.units(value), end + i / quantiles))
            .collect()
    }
}

/// How one series is read (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The season the series was given, and the evidence.
    pub season: SeasonChoice,
    /// The seasonal indices taken out, `indices[row % m]` (logarithms of the multiplicative
    /// indices when `log`); none without a calendar season.
    pub indices: Option<Vec<f64>>,
    /// Whether the values are read as logarithms.
    pub log: bool,
    /// The unit of the model's values: the standard deviation of the deseasonalised levels'
    /// one-step changes (shared by a collection's logarithmic series: [`share_units`]).
    pub scale: f64,
    /// The series' own standard deviation of one-step changes: what a window's volatility is
    /// measured against.
    pub volatility: f64,
    /// Per covariate: the mean.
    pub covariate_means: Vec<f64>,
    /// Per covariate: the standard deviation.
    pub covariate_scales: Vec<f64>,
    /// The simple exponential smoothing of the levels that places a window's anchor.
    pub smoothing: Ses,
}

impl Profile {
    /// The profile of `series` from its rows `..visible` (see the module documentation).
    ///
    /// # Errors
    /// `--transform log` on a series with a value that is not positive.
    pub fn fit(
        series: &Series,
        visible: usize,
        features: &Features,
        calendar: Option<usize>,
    ) -> Result<Profile> {
        let values = &series.values[..visible];
        let positive = values.iter().all(|&v| v > 0.0);
        let log = match features.transform {
            Transform::Auto => positive,
            Transform::Log if !positive => {
                return Err(Error::Config(format!(
                    "--transform log: series `{}` has a value that is not positive",
                    series.name
                )));
            }
            Transform::Log => true,
            Transform::None => false,
        };
        let season = match features.season {
            Some(0) => SeasonChoice::None(None),
            Some(m) => SeasonChoice::Given(m),
            None => choose_season(values, calendar),
        };
        let indices = match (season.is_periodic(), season.length()) {
            (true, Some(m)) => seasonal_indices(values, m, log).map(|indices| match log {
                true => indices.iter().map(|i| i.ln()).collect(),
                false => indices,
            }),
            _ => None,
        };
        let mut profile = Profile {
            season,
            indices,
            log,
            scale: 1.0,
            volatility: 1.0,
            covariate_means: Vec::new(),
            covariate_scales: Vec::new(),
            smoothing: Ses::LAST_VALUE,
        };
        let levels: Vec<f64> = (0..visible).map(|row| profile.level(values, row)).collect();
        if levels.len() >= 3 {
            profile.smoothing = Ses::fit(&levels);
        }
        let changes: Vec<f64> = levels.windows(2).map(|p| p[1] - p[0]).collect();
        let typical = levels.iter().map(|v| v.abs()).sum::<f64>() / visible.max(1) as f64;
        profile.scale = deviation(&changes).max(1e-6 * typical).max(1e-12);
        profile.volatility = profile.scale;
        for column in &series.covariates {
            let column = &column[..visible];
            profile.covariate_means.push(mean(column));
            profile.covariate_scales.push(deviation(column).max(1e-12));
        }
        Ok(profile)
    }

    /// The series' value at `row` as the model's level: logarithm, season out.
    pub fn level(&self, values: &[f64], row: usize) -> f64 {
        let value = if self.log {
            values[row].max(f64::MIN_POSITIVE).ln()
        } else {
            values[row]
        };
        value - self.seasonal(row)
    }

    /// A level back as a value at `row`: the season back in, exponentiated.
    pub fn value(&self, level: f64, row: usize) -> f64 {
        let level = level + self.seasonal(row);
        if self.log { level.exp() } else { level }
    }

    fn seasonal(&self, row: usize) -> f64 {
        self.indices
            .as_ref()
            .map_or(0.0, |indices| indices[row % indices.len()])
    }

    /// Where the window of `window` steps ending before `end` stands: the smoothed level
    /// after its rows, and the unit, grown by as much as the window is more volatile than the
    /// series usually is (never shrunk: a calm stretch is not magnified).
    pub fn anchor(&self, values: &[f64], end: usize, window: usize) -> Anchor {
        let levels = (0..end).map(|row| self.level(values, row));
        let recent: Vec<f64> = (end.saturating_sub(window)..end)
            .map(|row| self.level(values, row))
            .collect();
        let changes: Vec<f64> = recent.windows(2).map(|p| p[1] - p[0]).collect();
        let growth = (deviation(&changes) / self.volatility).clamp(1.0, MAX_UNIT_GROWTH);
        Anchor {
            level: self.smoothing.level_after(levels),
            scale: self.scale * growth,
        }
    }

    fn covariate(&self, k: usize, value: f64) -> f32 {
        ((value - self.covariate_means[k]) / self.covariate_scales[k]) as f32
    }
}

/// The most a window's unit grows over its series' for a volatile stretch.
const MAX_UNIT_GROWTH: f64 = 4.0;

/// Gives the series read as logarithms one unit, the median of their own (see the module
/// documentation).
pub fn share_units(profiles: &mut [Profile]) {
    let mut units: Vec<f64> = profiles.iter().filter(|p| p.log).map(|p| p.scale).collect();
    if units.is_empty() {
        return;
    }
    units.sort_by(f64::total_cmp);
    let median = units[units.len() / 2];
    profiles
        .iter_mut()
        .filter(|p| p.log)
        .for_each(|p| p.scale = median);
}

/// Where a window stands: the level its values are read from, and their unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    /// The window's last level.
    pub level: f64,
    /// The series' unit.
    pub scale: f64,
}

impl Anchor {
    fn normalise(&self, level: f64) -> f32 {
        ((level - self.level) / self.scale) as f32
    }

    fn units(&self, value: f32) -> f64 {
        self.level + f64::from(value) * self.scale
    }
}

/// Where a series is cut by time: training `..train_end`, validation `train_end..valid_end`
/// (early stopping, the interval's calibration), test `valid_end..len` (scored, never used to
/// train, stop or calibrate). Short series get shorter parts, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parts {
    /// The first row of the validation part.
    pub train_end: usize,
    /// The first row of the test part.
    pub valid_end: usize,
    /// Rows of the series.
    pub len: usize,
}

impl Parts {
    /// The parts of a series of `len` rows for horizon `H`, the longest that leave its
    /// training part `min_rows`: a test part of a fifth of the series but at least `2H` and a
    /// validation part of a tenth but at least `2H` (several origins each); else one horizon
    /// each; else a validation part alone; else none (every row trains).
    pub fn for_series(len: usize, horizon: usize, min_rows: usize) -> Parts {
        let choices = [
            ((len / 5).max(2 * horizon), (len / 10).max(2 * horizon)),
            (horizon, horizon),
            (0, horizon),
            (0, 0),
        ];
        let (test, valid) = choices
            .into_iter()
            .find(|&(test, valid)| len >= test + valid + min_rows)
            .unwrap_or((0, 0));
        Parts {
            train_end: len - test - valid,
            valid_end: len - test,
            len,
        }
    }

    /// Whether the series has a validation part.
    pub fn has_validation(&self) -> bool {
        self.valid_end > self.train_end
    }

    /// Whether the series has a test part.
    pub fn has_test(&self) -> bool {
        self.len > self.valid_end
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

    fn features(window: usize, calendar: Option<usize>) -> Features {
        Features {
            window,
            horizon: 3,
            calendar,
            covariates: 0,
            min_history: Features::min_history_for(window),
            transform: Transform::Auto,
            season: None,
        }
    }

    fn series(values: Vec<f64>) -> Series {
        Series {
            name: "s".into(),
            stamps: Vec::new(),
            values,
            covariates: Vec::new(),
        }
    }

    #[test]
    fn parts_shrink_for_short_series_and_vanish_for_the_shortest() {
        assert_eq!(
            Parts::for_series(144, 12, 20),
            Parts {
                train_end: 92,
                valid_end: 116,
                len: 144
            }
        );
        // M3 monthly: 48 months, horizon 18, a window of 36 (12 real steps): a validation
        // part, no test part.
        let short = Parts::for_series(48, 18, 30);
        assert!(short.has_validation() && !short.has_test());
        assert_eq!(short.train_end, 30);
        let mid = Parts::for_series(70, 18, 30);
        assert_eq!((mid.train_end, mid.valid_end), (34, 52));
        let tiny = Parts::for_series(20, 18, 30);
        assert!(!tiny.has_validation() && !tiny.has_test());
    }

    #[test]
    fn a_window_reads_levels_relative_to_where_the_series_stands_and_pads_in_front() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let series = series(values);
        let f = features(6, None);
        let profile = Profile::fit(&series, 10, &f, None).unwrap();
        assert!(profile.log);
        // Rows 0..4 (values 1..4) after two padded steps.
        let input = f.input(&series, &profile, 4);
        assert_eq!(&input[..4], &[0.0, 0.0, 0.0, 0.0]);
        // A steady trend's smoothed level is its last value (a smoothing weight of 1).
        let last = input[5 * 2];
        assert!(last.abs() < 1e-6, "{last}");
        assert_eq!(input[5 * 2 + 1], 1.0);
        assert!(input[2 * 2] < 0.0);
        // Back to units: the future's normalised values map back to the values.
        let future = f.future(&series, &profile, 4);
        let back = f.to_units(&series, &profile, 4, &future, 1);
        for (value, expected) in back.iter().zip([5.0, 6.0, 7.0]) {
            assert!((value - expected).abs() < 1e-4, "{back:?}");
        }
    }

    #[test]
    fn a_seasonal_series_is_read_without_its_season_and_given_it_back() {
        let pattern = [0.7, 1.0, 1.3, 1.0];
        let values: Vec<f64> = (0..48)
            .map(|t| (100.0 + t as f64) * pattern[t % 4])
            .collect();
        let series = series(values.clone());
        let f = features(8, Some(4));
        let profile = Profile::fit(&series, 40, &f, Some(4)).unwrap();
        assert!(
            matches!(profile.season, SeasonChoice::Calendar(..)),
            "{profile:?}"
        );
        assert!(profile.indices.is_some());
        // The deseasonalised levels are nearly a straight line: small changes.
        let future = f.future(&series, &profile, 40);
        let back = f.to_units(&series, &profile, 40, &future, 1);
        for (value, expected) in back.iter().zip(&values[40..43]) {
            assert!((value - expected).abs() < 1e-3 * expected, "{back:?}");
        }
        assert_eq!(f.width(), 4);
    }
}
