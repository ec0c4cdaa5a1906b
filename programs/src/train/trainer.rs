//! The one training loop of the crate, shared by the sequence regressor and the language model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::files::{load_module, remove_partial_files, save_module};
use crate::train::checkpoint::{Checkpoints, TrainingState};
use crate::train::metrics::{EpochRecord, write_metrics_csv};
use crate::train::optimizer::{LrSchedule, OptimizerConfig, clip_global_norm, global_norm};
use crate::train::progress::{Progress, ProgressMode};

/// The loss of one training batch.
pub struct BatchLoss {
    /// A one-element tensor on the autodiff device: the loss that is reported.
    pub loss: Tensor<1>,
    /// How many items (samples, tokens) the loss averages over: weights the epoch mean and
    /// gives the throughput shown while training.
    pub items: usize,
    /// The gradient is taken of `loss × objective_scale` (1 for most tasks; Zaremba et al.
    /// sum the per-token loss over the unrolled steps, a factor of the unroll length).
    pub objective_scale: f64,
}

impl BatchLoss {
    /// A loss over `items` items, optimised as it is.
    pub fn new(loss: Tensor<1>, items: usize) -> Self {
        Self {
            loss,
            items,
            objective_scale: 1.0,
        }
    }

    /// Optimises `loss × scale` while reporting `loss`.
    pub fn scaled(mut self, scale: f64) -> Self {
        self.objective_scale = scale;
        self
    }
}

/// What an evaluation after an epoch found.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    /// Loss on held-out data, if the task has any.
    pub valid_loss: Option<f64>,
    /// Other metrics by name (accuracy, perplexity, training-set loss …).
    pub extra: Vec<(String, f64)>,
}

/// A model and its data, as the training loop sees them.
pub trait TrainTask {
    /// The model being trained.
    type Model: Module;

    /// Prepares epoch `epoch` (from 0): shuffles with `seed`, resets carried state. Returns the
    /// number of training batches in the epoch.
    fn start_epoch(&mut self, epoch: usize, seed: u64) -> usize;

    /// The loss of training batch `batch` of the current epoch.
    fn batch_loss(&mut self, model: &Self::Model, batch: usize) -> BatchLoss;

    /// Evaluates the model (in evaluation mode: use `model.valid()`). An error stops the
    /// training with it (the last checkpoint stays).
    fn evaluate(&mut self, model: &Self::Model) -> Result<Evaluation>;

    /// How a loss is shown to a person (the language model shows perplexity).
    fn format_loss(loss: f64) -> String {
        format!("{loss:.3e}")
    }

    /// What the items of [`BatchLoss::items`] are, for the throughput display.
    fn item_name() -> &'static str {
        "items"
    }
}

/// How long and how to train.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// Number of epochs.
    pub epochs: usize,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The learning rate of every epoch.
    pub learning_rate: LrSchedule,
    /// Clip the gradients' global L2 norm to this value.
    #[config(default = "None")]
    pub clip_grad_norm: Option<f64>,
    /// Stop once an epoch's training loss is below this value.
    #[config(default = "None")]
    pub stop_below: Option<f64>,
    /// Evaluate and log every this many epochs (and at the end).
    #[config(default = 1)]
    pub log_every: usize,
    /// Write a checkpoint every this many epochs (and at the end).
    #[config(default = 1)]
    pub checkpoint_every: usize,
    /// Seed of the run: data order and dropout of each epoch derive from it.
    #[config(default = 42)]
    pub seed: u64,
    /// Early stopping: end the run when the validation loss has not improved for this many
    /// evaluations, and return the model of its lowest validation loss (kept as `best.bpk`).
    #[config(default = "None")]
    pub patience: Option<usize>,
}

/// The result of [`Trainer::fit`].
pub struct TrainOutcome<M> {
    /// The trained model.
    pub model: M,
    /// The run's state and history.
    pub state: TrainingState,
    /// The epoch a resumed run continued from.
    pub resumed_from: Option<usize>,
    /// Wall-clock seconds spent in this process.
    pub seconds: f64,
}

/// Runs the training loop, writing checkpoints, `model.bpk` and `metrics.csv` into an
/// artifacts directory.
pub struct Trainer {
    config: TrainingConfig,
    artifacts: PathBuf,
    device: Device,
    progress: ProgressMode,
}

impl Trainer {
    /// A trainer writing into `artifacts`, seeding `device` (the autodiff device of the model)
    /// for each epoch's dropout.
    pub fn new(config: TrainingConfig, artifacts: impl Into<PathBuf>, device: &Device) -> Self {
        Self {
            config,
            artifacts: artifacts.into(),
            device: device.clone(),
            progress: ProgressMode::auto(),
        }
    }

    /// Chooses the progress display.
    pub fn with_progress(mut self, progress: ProgressMode) -> Self {
        self.progress = progress;
        self
    }

    /// The checkpoints of this trainer's artifacts directory.
    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints::new(self.artifacts.join("checkpoint"))
    }

    /// The artifacts directory.
    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    /// Trains `model` on `task`. With `resume`, continues from the newest checkpoint (an error
    /// if there is none); the model and optimizer state, the epoch, the learning-rate position
    /// and the history all come from it, so the run ends as an uninterrupted one would.
    ///
    /// # Errors
    /// An unreadable checkpoint, a file that cannot be written, or a non-finite loss (which
    /// names the epoch and batch; the last good checkpoint stays in place).
    pub fn fit<T: TrainTask>(
        &self,
        model: T::Model,
        task: &mut T,
        resume: bool,
    ) -> Result<TrainOutcome<T::Model>> {
        let started = Instant::now();
        remove_partial_files(&self.artifacts);
        self.checkpoints().clean();
        let Start {
            mut model,
            mut optimizer,
            mut state,
            resumed_from,
        } = self.start(model, resume)?;
        let mut progress = Progress::new(
            self.progress,
            self.config.epochs,
            T::format_loss,
            T::item_name(),
        );
        if let Some(epoch) = resumed_from {
            progress.println(&format!(
                "resuming from the checkpoint after epoch {epoch} in {}",
                self.checkpoints().dir().display()
            ));
        }
        // A resumed run may be given more epochs than it had; only a reached target, or an
        // early stop, ends it.
        state.finished = state
            .history
            .last()
            .is_some_and(|last| self.reached_target(last.train_loss))
            || self.stalled(&state);
        while !state.finished && state.epochs_done < self.config.epochs {
            let epoch = Epoch {
                index: state.epochs_done,
                started: Instant::now(),
                learning_rate: self.config.learning_rate.at(state.epochs_done),
            };
            let train_loss;
            (model, train_loss) =
                self.train_epoch(task, model, &mut optimizer, &state, &epoch, &mut progress)?;
            self.end_epoch(
                task,
                &model,
                &optimizer,
                &mut state,
                &epoch,
                train_loss,
                &mut progress,
            )?;
        }
        progress.finish();
        if self.config.patience.is_some() && state.best_epoch.is_some() {
            // The best epoch's model is the run's result, and what prediction reads.
            model = load_module(model, &self.artifacts.join("best.bpk"))?;
            save_module(&model, &self.artifacts.join("model.bpk"))?;
        }
        Ok(TrainOutcome {
            model,
            state,
            resumed_from,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// A fresh start, or the newest checkpoint's model, optimizer and state with `resume`.
    fn start<M: Module>(&self, model: M, resume: bool) -> Result<Start<M>> {
        let optimizer = self.config.optimizer.init();
        if !resume {
            return Ok(Start {
                model,
                optimizer,
                state: TrainingState {
                    epochs_done: 0,
                    seed: self.config.seed,
                    next_learning_rate: self.config.learning_rate.at(0),
                    history: Vec::new(),
                    finished: false,
                    best_epoch: None,
                },
                resumed_from: None,
            });
        }
        let checkpoints = self.checkpoints();
        let (model, optimizer, state) = checkpoints.load(model, optimizer)?.ok_or_else(|| {
            Error::Training(format!(
                "nothing to resume: no checkpoint in {}",
                checkpoints.dir().display()
            ))
        })?;
        Ok(Start {
            resumed_from: Some(state.epochs_done),
            model,
            optimizer,
            state,
        })
    }

    /// Whether a training loss ends the run (`stop_below`).
    fn reached_target(&self, train_loss: f64) -> bool {
        self.config
            .stop_below
            .is_some_and(|target| train_loss < target)
    }

    /// One pass over the task's batches: the model after it, and the epoch's mean loss.
    fn train_epoch<T: TrainTask>(
        &self,
        task: &mut T,
        mut model: T::Model,
        optimizer: &mut burn::optim::ModuleOptimizer,
        state: &TrainingState,
        epoch: &Epoch,
        progress: &mut Progress,
    ) -> Result<(T::Model, f64)> {
        let epoch_seed = mix_seed(state.seed, epoch.index as u64);
        self.device.seed(epoch_seed);
        let batches = task.start_epoch(epoch.index, epoch_seed);
        progress.start_epoch(epoch.index, batches);
        let (mut loss_sum, mut items_sum) = (0.0, 0usize);
        for batch in 0..batches {
            let BatchLoss {
                loss,
                items,
                objective_scale,
            } = task.batch_loss(&model, batch);
            let value: f64 = loss.clone().into_scalar();
            if !value.is_finite() {
                progress.finish();
                return Err(self.diverged(value, epoch.index, batch)?);
            }
            let objective = match objective_scale {
                1.0 => loss,
                scale => loss.mul_scalar(scale),
            };
            let mut grads = GradientsParams::from_grads(objective.backward(), &model);
            let mut learning_rate = epoch.learning_rate;
            match (self.config.clip_grad_norm, &self.config.optimizer) {
                // Plain SGD's clipped step is the step at the rate times the factor.
                (Some(max_norm), OptimizerConfig::Sgd) => {
                    learning_rate *= global_norm(&model, &grads, max_norm).factor;
                }
                (Some(max_norm), _) => {
                    clip_global_norm(&model, &mut grads, max_norm);
                }
                (None, _) => {}
            }
            model = optimizer.step(learning_rate, model, grads);
            loss_sum += value * items as f64;
            items_sum += items;
            progress.batch_done(batch, value, items);
        }
        Ok((model, loss_sum / items_sum.max(1) as f64))
    }

    /// The error for a non-finite loss, naming the epoch, the batch and the checkpoint kept.
    fn diverged(&self, value: f64, epoch: usize, batch: usize) -> Result<Error> {
        let checkpoints = self.checkpoints();
        let kept = match checkpoints.latest_state()? {
            Some(saved) => format!(
                "the last good checkpoint (after epoch {}) is kept in {}",
                saved.epochs_done,
                checkpoints.dir().display()
            ),
            None => "no checkpoint had been written yet".to_string(),
        };
        Ok(Error::Training(format!(
            "the loss became {value} at epoch {}, batch {}; training stopped ({kept}). A lower \
             learning rate or gradient clipping may help.",
            epoch + 1,
            batch + 1
        )))
    }

    /// After an epoch's batches: the evaluation (on logging epochs), its record, and the
    /// checkpoint (on checkpoint epochs and the last).
    #[allow(clippy::too_many_arguments)]
    fn end_epoch<T: TrainTask>(
        &self,
        task: &mut T,
        model: &T::Model,
        optimizer: &burn::optim::ModuleOptimizer,
        state: &mut TrainingState,
        epoch: &Epoch,
        train_loss: f64,
        progress: &mut Progress,
    ) -> Result<()> {
        let config = &self.config;
        state.epochs_done = epoch.index + 1;
        state.next_learning_rate = config.learning_rate.at(epoch.index + 1);
        let last = state.epochs_done == config.epochs || self.reached_target(train_loss);
        let log = last || state.epochs_done.is_multiple_of(config.log_every.max(1));
        let evaluation = match log {
            true => task.evaluate(model).map_err(|err| {
                Error::Training(format!(
                    "the evaluation after epoch {} failed: {err}",
                    epoch.index + 1
                ))
            })?,
            false => Evaluation::default(),
        };
        let record = EpochRecord {
            epoch: state.epochs_done,
            train_loss,
            valid_loss: evaluation.valid_loss,
            seconds: epoch.started.elapsed().as_secs_f64(),
            learning_rate: epoch.learning_rate,
            extra: evaluation.extra,
        };
        progress.epoch_done(&record, log);
        let valid_loss = record.valid_loss;
        state.history.push(record);
        let stalled = self.track_best(model, state, valid_loss)?;
        state.finished = last || stalled;
        if state.finished
            || state
                .epochs_done
                .is_multiple_of(config.checkpoint_every.max(1))
        {
            self.write_checkpoint(model, optimizer, state)?;
        }
        Ok(())
    }

    /// With early stopping, keeps the model of a new lowest validation loss as `best.bpk`;
    /// returns whether the loss has not improved for `patience` evaluations.
    fn track_best<M: Module>(
        &self,
        model: &M,
        state: &mut TrainingState,
        valid_loss: Option<f64>,
    ) -> Result<bool> {
        let (Some(_), Some(loss)) = (self.config.patience, valid_loss) else {
            return Ok(false);
        };
        let best_loss = state
            .best_epoch
            .and_then(|epoch| state.history.get(epoch - 1))
            .and_then(|record| record.valid_loss);
        if best_loss.is_none_or(|best| loss < best) {
            save_module(model, &self.artifacts.join("best.bpk"))?;
            state.best_epoch = Some(state.epochs_done);
            return Ok(false);
        }
        Ok(self.stalled(state))
    }

    /// With early stopping: whether the validation loss has not improved for `patience`
    /// evaluations since the best one.
    fn stalled(&self, state: &TrainingState) -> bool {
        let (Some(patience), Some(best)) = (self.config.patience, state.best_epoch) else {
            return false;
        };
        let since = state.history[best.min(state.history.len())..]
            .iter()
            .filter(|record| record.valid_loss.is_some())
            .count();
        since >= patience
    }

    fn write_checkpoint<M: Module>(
        &self,
        model: &M,
        optimizer: &burn::optim::ModuleOptimizer,
        state: &TrainingState,
    ) -> Result<()> {
        self.checkpoints().save(model, optimizer, state)?;
        // The top-level files are what prediction reads; they follow every checkpoint.
        save_module(model, &self.artifacts.join("model.bpk"))?;
        write_metrics_csv(&state.history, &self.artifacts.join("metrics.csv"))
    }
}

/// Where a run starts: fresh, or from a checkpoint.
struct Start<M> {
    model: M,
    optimizer: burn::optim::ModuleOptimizer,
    state: TrainingState,
    /// The epochs the checkpoint had done, when resumed.
    resumed_from: Option<usize>,
}

/// The epoch being trained.
struct Epoch {
    /// From 0.
    index: usize,
    started: Instant,
    learning_rate: f64,
}

/// A per-epoch seed from the run's seed (SplitMix64's finaliser): reproducible, and a resumed
/// run draws what the uninterrupted one would have.
pub fn mix_seed(seed: u64, epoch: u64) -> u64 {
    let mut z = seed.wrapping_add((epoch + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
