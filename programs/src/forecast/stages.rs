//! A run's two stages.
//!
//! 1. **Evaluation.** Each series is cut by time ([`Parts`]); one model per ensemble member is
//!    trained on the windows of every series' training part, early stopping on the
//!    validation parts' windows (the best epoch's model kept). It forecasts the test parts
//!    beside the baselines (the figures reported), and its errors on the validation and test
//!    windows calibrate the interval.
//! 2. **Refit.** The final members are trained on all the data of every series, for as many
//!    batches as the first stage's best epochs took, and write the forecast past the end.
//!
//! Every member trains in a folder of its own with checkpoints, so a run killed at any moment
//! resumes (`--resume`) to the result an uninterrupted run gives: a finished member is loaded,
//! a started one continues from its checkpoint, a member not begun starts.

use std::path::{Path, PathBuf};

use burn::prelude::*;

use super::baselines::{Baseline, LinearAr, Seasons};
use super::data::Collection;
use super::evaluation::{Backtest, Part, origins, origins_per_series};
use super::features::{Parts, Profile, share_units};
use super::inference::{Calibration, Predictor};
use super::model::Forecaster;
use super::training::{ForecastTask, Origin, Windows, training_origins, validation_origins};
use super::{ForecastConfig, Selection};
use crate::backend::init_seeded;
use crate::error::Result;
use crate::train::{Checkpoints, ProgressMode, Trainer, TrainingConfig};

/// The final models' epochs when no series has a validation part to stop on.
pub const EPOCHS_WITHOUT_VALIDATION: usize = 30;

/// A run: the collection, its configuration, where it writes, and how it shows progress.
pub struct Run<'a> {
    /// The series.
    pub collection: &'a Collection,
    /// The run's configuration.
    pub config: &'a ForecastConfig,
    /// The artifacts directory.
    pub artifacts: &'a Path,
    /// The device the models run on (without autodiff).
    pub device: &'a Device,
    /// The training progress display.
    pub progress: ProgressMode,
    /// Whether to continue an interrupted run.
    pub resume: bool,
}

/// What the first stage found.
pub struct Evaluation {
    /// Each series' parts.
    pub parts: Vec<Parts>,
    /// The evaluation models, with each series read as its training part shows it; none when
    /// no series has a validation part.
    pub predictor: Option<Predictor>,
    /// The validation parts' backtests (what settings may be chosen by).
    pub validation: Vec<Backtest>,
    /// The test parts' backtests (the figures reported).
    pub test: Vec<Backtest>,
    /// What the final models take from it.
    pub selection: Selection,
}

impl Run<'_> {
    /// Stage 1 (see the module documentation).
    pub fn evaluate(&self) -> Result<Evaluation> {
        let features = &self.config.features;
        let series = &self.collection.series;
        let parts: Vec<Parts> = series
            .iter()
            .map(|s| Parts::for_series(s.len(), features.horizon, features.min_rows()))
            .collect();
        let train_ends: Vec<usize> = parts.iter().map(|p| p.train_end).collect();
        let profiles = self.profiles(&train_ends)?;
        let valid = validation_origins(features, &parts);
        if valid.is_empty() {
            println!(
                "no series is long enough for a validation part: the final models train for \
                 {EPOCHS_WITHOUT_VALIDATION} epochs, without early stopping, a backtest or an \
                 interval"
            );
            return Ok(Evaluation {
                parts,
                predictor: None,
                validation: Vec::new(),
                test: Vec::new(),
                selection: Selection {
                    epochs: EPOCHS_WITHOUT_VALIDATION,
                    calibration: Calibration::default(),
                },
            });
        }
        let train = training_origins(features, &train_ends);
        let windows = (
            self.windows(&profiles, train),
            self.windows(&profiles, valid.clone()),
        );
        println!(
            "stage 1 (evaluation): {} member(s) on {} training windows, early stopping on {} \
             validation windows",
            self.config.ensemble,
            windows.0.count(),
            windows.1.count()
        );
        let train_count = windows.0.count();
        let batches = ForecastTask::batches_per_epoch(train_count, self.config.batch_size);
        let members = self.train_members("evaluation", &self.config.training, windows)?;
        let mut best: Vec<usize> = members.iter().map(|(_, best)| *best).collect();
        best.sort_unstable();
        let models = members.into_iter().map(|(model, _)| model).collect();
        let mut predictor = self.predictor(models, profiles, Calibration::default());
        let coverage = self.config.model.coverage();
        let test: Vec<Origin> = self.part_origins(&parts, Part::Test);
        let validation_distances = predictor.distances(self.collection, &valid);
        predictor.calibration = Calibration::from_distances(&validation_distances, coverage);
        // The final forecasts' interval learns from every window the first stage did not
        // train on.
        let test_distances = predictor.distances(self.collection, &test);
        let pooled: Vec<Vec<f64>> = validation_distances
            .iter()
            .zip(test_distances.iter().chain(std::iter::repeat(&Vec::new())))
            .map(|(a, b)| [a.as_slice(), b.as_slice()].concat())
            .collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len).collect();
        let final_count = training_origins(features, &lens).len();
        let best_epoch = best[best.len() / 2];
        let epochs = final_epochs(
            best_epoch * batches,
            (train_count, final_count),
            self.config.batch_size,
        );
        let validation = self.backtests(&parts, &predictor, Part::Validation);
        let test = self.backtests(&parts, &predictor, Part::Test);
        Ok(Evaluation {
            parts,
            predictor: Some(predictor),
            validation,
            test,
            selection: Selection {
                epochs,
                calibration: Calibration::from_distances(&pooled, coverage),
            },
        })
    }

    /// Stage 2: the final members on all the data, for `selection.epochs` epochs.
    pub fn refit(&self, selection: &Selection) -> Result<Predictor> {
        let lens: Vec<usize> = self.collection.series.iter().map(|s| s.len()).collect();
        let profiles = self.profiles(&lens)?;
        let features = &self.config.features;
        let windows = self.windows(&profiles, training_origins(features, &lens));
        println!(
            "stage 2 (refit on all the data): {} member(s) on {} windows, {} epochs",
            self.config.ensemble,
            windows.count(),
            selection.epochs
        );
        let mut training = self.config.training.clone().with_patience(None);
        training.epochs = selection.epochs;
        let members = self.train_members("", &training, (windows, Windows::default()))?;
        let models = members.into_iter().map(|(model, _)| model).collect();
        Ok(self.predictor(models, profiles, selection.calibration.clone()))
    }

    /// The final members as saved, without training (`--predict`), each series read as `lens`
    /// rows of it show it.
    pub fn load(&self, selection: &Selection) -> Result<Predictor> {
        let lens: Vec<usize> = self.collection.series.iter().map(|s| s.len()).collect();
        let profiles = self.profiles(&lens)?;
        let models = (0..self.config.ensemble)
            .map(|member| {
                let path = member_dir(self.artifacts, "", member).join("model.bpk");
                let model = self.config.model.try_init(self.device)?;
                crate::files::load_module(model, &path).map_err(Into::into)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.predictor(models, profiles, selection.calibration.clone()))
    }

    /// Every series' profile from its rows `..visible[s]`.
    pub fn profiles(&self, visible: &[usize]) -> Result<Vec<Profile>> {
        let calendar = self.collection.calendar_season();
        let mut profiles: Vec<Profile> = self
            .collection
            .series
            .iter()
            .zip(visible)
            .map(|(series, &rows)| Profile::fit(series, rows, &self.config.features, calendar))
            .collect::<Result<_>>()?;
        share_units(&mut profiles);
        Ok(profiles)
    }

    /// Each baseline's forecast past the end of every series: `[series][baseline]`.
    pub fn baselines_past_end(&self, profiles: &[Profile]) -> Vec<Vec<Option<Vec<f64>>>> {
        let features = &self.config.features;
        self.collection
            .series
            .iter()
            .zip(profiles)
            .map(|(series, profile)| {
                let values = &series.values;
                let linear = LinearAr::fit(values, values.len(), features.window, features.horizon);
                Baseline::ALL
                    .iter()
                    .map(|b| {
                        b.forecast(
                            values,
                            features.horizon,
                            self.seasons(profile),
                            linear.as_ref(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// The seasons the baselines of a series with `profile` use.
    fn seasons(&self, profile: &Profile) -> Seasons {
        let calendar = self.collection.calendar_season();
        let given = self.config.features.season.filter(|&m| m > 0);
        Seasons {
            naive: profile.season.length().or(calendar).unwrap_or(1),
            smoothing: given.or(calendar).or(profile.season.length()).unwrap_or(1),
        }
    }

    /// The calendar's season (M4's frequency), or the given one, for MASE.
    fn frequency(&self) -> usize {
        let given = self.config.features.season.filter(|&m| m > 0);
        given.or(self.collection.calendar_season()).unwrap_or(1)
    }

    fn windows(&self, profiles: &[Profile], origins: Vec<Origin>) -> Windows {
        Windows::new(self.collection, profiles, &self.config.features, origins)
    }

    fn predictor(
        &self,
        models: Vec<Forecaster>,
        profiles: Vec<Profile>,
        calibration: Calibration,
    ) -> Predictor {
        Predictor {
            models,
            features: self.config.features.clone(),
            profiles,
            quantiles: self.config.model.quantiles.clone(),
            point: self.config.model.point_index(),
            device: self.device.clone(),
            calibration,
        }
    }

    /// The backtest origins of `part` of every series.
    fn part_origins(&self, parts: &[Parts], part: Part) -> Vec<Origin> {
        let most = origins_per_series(self.collection.series.len());
        let horizon = self.config.features.horizon;
        parts
            .iter()
            .enumerate()
            .flat_map(|(series, p)| {
                origins(p, horizon, part, most)
                    .into_iter()
                    .map(move |end| Origin { series, end })
            })
            .collect()
    }

    /// The backtests of `part` of every series that has one.
    fn backtests(&self, parts: &[Parts], predictor: &Predictor, part: Part) -> Vec<Backtest> {
        let all = self.part_origins(parts, part);
        let forecasts = predictor.forecasts(self.collection, &all);
        let features = &self.config.features;
        let mut backtests = Vec::new();
        let mut next = all.iter().zip(forecasts).peekable();
        while let Some((first, _)) = next.peek() {
            let series = first.series;
            let mut ends = Vec::new();
            let mut ours = Vec::new();
            while let Some((origin, forecast)) = next.next_if(|(o, _)| o.series == series) {
                ends.push(origin.end);
                ours.push(forecast);
            }
            let profile = &predictor.profiles[series];
            backtests.push(Backtest::run(
                (series, &self.collection.series[series].values),
                (ends, parts[series].train_end),
                ours,
                (features.window, features.horizon),
                (self.seasons(profile), self.frequency()),
            ));
        }
        backtests
    }

    /// Trains (or resumes, or loads) every member of a stage in `<stage>/member-N`; returns
    /// each one's model and best epoch (its last without early stopping).
    fn train_members(
        &self,
        stage: &str,
        training: &TrainingConfig,
        windows: (Windows, Windows),
    ) -> Result<Vec<(Forecaster, usize)>> {
        let mut members = Vec::with_capacity(self.config.ensemble);
        for member in 0..self.config.ensemble {
            let training = training.clone().with_seed(training.seed + member as u64);
            let train_device = self.device.clone().autodiff();
            train_device.seed(training.seed);
            let model = init_seeded(training.seed, &train_device, |d| {
                self.config.model.try_init(d)
            })?;
            let mut task = ForecastTask::new(
                self.config.features.clone(),
                self.config.model.quantiles.clone(),
                windows.clone(),
                self.config.batch_size,
                &train_device,
            );
            let dir = member_dir(self.artifacts, stage, member);
            let started = Checkpoints::new(dir.join("checkpoint"))
                .latest_state()?
                .is_some();
            let trainer = Trainer::new(training, dir, &train_device).with_progress(self.progress);
            let outcome = trainer.fit(model, &mut task, self.resume && started)?;
            let epochs = outcome.state.history.len();
            let best = outcome.state.best_epoch.unwrap_or(epochs);
            let kept = match outcome.state.best_epoch {
                Some(epoch) => format!("; epoch {epoch}'s model (lowest validation loss) kept"),
                None => String::new(),
            };
            println!(
                "  member {}: {epochs} epochs in {:.1} s{kept}",
                member + 1,
                outcome.seconds
            );
            members.push((outcome.model.valid(), best));
        }
        Ok(members)
    }
}

/// The final models' epochs: the first stage's best number of batches (the members' median),
/// grown with the square root of the windows' growth from `first` to `last` windows — more
/// data bears more steps before it is overfitted — in epochs of the final stage's batches.
/// Measured on M3 monthly's in-sample validation (the windows grow 2.9×): as many batches as
/// the first stage, sMAPE 11.32; ×1.5, 11.17; ×1.7 (the square root), 11.18; ×2, 11.20;
/// ×2.9, 11.24.
fn final_epochs(batches: usize, (first, last): (usize, usize), batch_size: usize) -> usize {
    let growth = (last as f64 / first.max(1) as f64).max(1.0).sqrt();
    let per_epoch = ForecastTask::batches_per_epoch(last, batch_size);
    ((batches as f64 * growth / per_epoch as f64).ceil() as usize).max(1)
}

/// Where member `member` of a stage keeps its model and checkpoints: `member-N` for the final
/// models, `<stage>/member-N` for the others.
pub fn member_dir(artifacts: &Path, stage: &str, member: usize) -> PathBuf {
    let name = format!("member-{}", member + 1);
    match stage {
        "" => artifacts.join(name),
        stage => artifacts.join(stage).join(name),
    }
}
