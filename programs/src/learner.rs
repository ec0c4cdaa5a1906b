//! Training the crate's ready models with burn's own training stack, burn-train (feature
//! `learner`): the models as [`TrainStep`]/[`InferenceStep`]s, their datasets and batchers,
//! and a renderer that logs one line per epoch.
//!
//! | model | input | output |
//! | --- | --- | --- |
//! | [`SequenceRegressor`] | [`WindowBatch`]: windows `[batch, seq, features]`, targets `[batch, outputs]` | [`RegressionOutput`] (mean squared error) |
//! | [`LanguageModel`] | [`TokenWindowBatch`]: padded windows `[batch, seq]` with their lengths, next tokens `[batch]` | [`ClassificationOutput`] (cross-entropy, logits `[batch, vocab]`) |
//!
//! Both clip the gradients' global norm in [`TrainStep::optimize`] when their configuration
//! asks for it (`clip_grad_norm`), as PyTorch's `clip_grad_norm_` does; burn's own
//! `GradientClippingConfig::Norm` clips each tensor on its own.
//!
//! When to use which loop: the crate's [`Trainer`](crate::train::Trainer) for truncated
//! backpropagation through time with state carried across batches (the language model's
//! streams), global clipping and crash-safe resume, as the programs use it; burn-train for your
//! own pipelines (datasets, metrics, its dashboard, checkpoints) and burn's multi-device and
//! distributed (DDP) strategies. `examples/learner.rs` trains the sine model under
//! burn-train.

use std::io::Write;
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::nn::loss::{MseLoss, Reduction};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Int;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{
    ClassificationOutput, InferenceStep, LearnerSummary, RegressionOutput, TrainOutput, TrainStep,
};

use crate::language::{LanguageModel, NextTokenWindows};
use crate::sine::{SequenceRegressor, WindowSet};
use crate::train::clip_global_norm;

fn out_of_bounds(index: usize, len: usize) -> DatasetError {
    DatasetError::new(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("window {index} of a dataset of {len}"),
    ))
}

/// One window of a series and what follows it.
#[derive(Clone, Debug)]
pub struct WindowItem {
    /// `[seq · features]`, step by step.
    pub inputs: Vec<f32>,
    /// `[outputs]`
    pub targets: Vec<f32>,
}

/// The windows of a [`WindowSet`] as a burn [`Dataset`].
pub struct WindowDataset {
    windows: WindowSet,
}

impl WindowDataset {
    /// The dataset of `windows`.
    pub fn new(windows: WindowSet) -> Self {
        Self { windows }
    }
}

impl Dataset<WindowItem> for WindowDataset {
    fn get(&self, index: usize) -> Result<WindowItem, DatasetError> {
        if index >= self.windows.len() {
            return Err(out_of_bounds(index, self.windows.len()));
        }
        Ok(WindowItem {
            inputs: self.windows.input(index).to_vec(),
            targets: vec![self.windows.targets()[index]],
        })
    }

    fn len(&self) -> usize {
        self.windows.len()
    }
}

/// A batch of windows (see [`WindowBatcher`]).
#[derive(Clone, Debug)]
pub struct WindowBatch {
    /// `[batch, seq, 1]`
    pub inputs: Tensor<3>,
    /// `[batch, 1]`
    pub targets: Tensor<2>,
}

/// Stacks [`WindowItem`]s of univariate series into a [`WindowBatch`].
#[derive(Clone, Debug, Default)]
pub struct WindowBatcher;

impl Batcher<WindowItem, WindowBatch> for WindowBatcher {
    fn batch(&self, items: Vec<WindowItem>, device: &Device) -> WindowBatch {
        let (batch, seq) = (
            items.len(),
            items.first().map_or(0, |item| item.inputs.len()),
        );
        let inputs: Vec<f32> = items.iter().flat_map(|item| item.inputs.clone()).collect();
        let targets: Vec<f32> = items.iter().flat_map(|item| item.targets.clone()).collect();
        let outputs = targets.len() / batch.max(1);
        WindowBatch {
            inputs: Tensor::from_data(TensorData::new(inputs, [batch, seq, 1]), device),
            targets: Tensor::from_data(TensorData::new(targets, [batch, outputs]), device),
        }
    }
}

impl SequenceRegressor {
    fn regression_output(&self, batch: WindowBatch) -> RegressionOutput {
        let output = self.forward(batch.inputs);
        let loss = MseLoss::new().forward(output.clone(), batch.targets.clone(), Reduction::Mean);
        RegressionOutput {
            loss,
            output,
            targets: batch.targets,
        }
    }
}

/// Clips `grads` to the model's global norm, if it has one, before the optimizer steps.
fn optimize_clipped<M: Module>(
    model: M,
    clip: Option<f64>,
    optim: &mut ModuleOptimizer,
    lr: ModuleLearningRate,
    mut grads: GradientsParams,
) -> M {
    if let Some(max_norm) = clip {
        clip_global_norm(&model, &mut grads, max_norm);
    }
    optim.step(lr, model, grads)
}

/// burn-train's step traits for `$model`, whose method `$compute` turns a batch into the
/// step's output (with its loss); the optimizer step clips to the model's `clip_grad_norm`.
macro_rules! burn_train_steps {
    ($model:ty, $input:ty, $output:ty, $compute:ident) => {
        impl TrainStep for $model {
            type Input = $input;
            type Output = $output;

            fn step(&self, batch: $input) -> TrainOutput<$output> {
                let output = self.$compute(batch);
                TrainOutput::new(self, output.loss.backward(), output)
            }

            fn optimize(
                self,
                optim: &mut ModuleOptimizer,
                lr: ModuleLearningRate,
                grads: GradientsParams,
            ) -> Self {
                let clip = self.clip_grad_norm;
                optimize_clipped(self, clip, optim, lr, grads)
            }
        }

        impl InferenceStep for $model {
            type Input = $input;
            type Output = $output;

            fn step(&self, batch: $input) -> $output {
                self.$compute(batch)
            }
        }
    };
}

burn_train_steps!(
    SequenceRegressor,
    WindowBatch,
    RegressionOutput,
    regression_output
);

/// One window of tokens and the token after it.
#[derive(Clone, Debug)]
pub struct TokenWindowItem {
    /// The window's tokens (at most the windows' length; shorter at the start of a line).
    pub tokens: Vec<usize>,
    /// The next token.
    pub target: usize,
}

/// [`NextTokenWindows`] as a burn [`Dataset`].
pub struct TokenWindowDataset {
    windows: NextTokenWindows,
}

impl TokenWindowDataset {
    /// The dataset of `windows`.
    pub fn new(windows: NextTokenWindows) -> Self {
        Self { windows }
    }

    /// The batcher for these windows (it pads to their length).
    pub fn batcher(&self) -> TokenWindowBatcher {
        TokenWindowBatcher {
            window: self.windows.window(),
        }
    }
}

impl Dataset<TokenWindowItem> for TokenWindowDataset {
    fn get(&self, index: usize) -> Result<TokenWindowItem, DatasetError> {
        let (tokens, target) = self
            .windows
            .get(index)
            .ok_or_else(|| out_of_bounds(index, self.windows.len()))?;
        Ok(TokenWindowItem {
            tokens: tokens.to_vec(),
            target,
        })
    }

    fn len(&self) -> usize {
        self.windows.len()
    }
}

/// A batch of token windows (see [`TokenWindowBatcher`]).
#[derive(Clone, Debug)]
pub struct TokenWindowBatch {
    /// `[batch, seq]`, each row padded with index 0 after its end.
    pub tokens: Tensor<2, Int>,
    /// `[batch]` real tokens per row.
    pub lengths: Vec<usize>,
    /// `[batch]` the token after each window.
    pub targets: Tensor<1, Int>,
}

/// Pads [`TokenWindowItem`]s to the windows' length into a [`TokenWindowBatch`].
#[derive(Clone, Debug)]
pub struct TokenWindowBatcher {
    window: usize,
}

impl Batcher<TokenWindowItem, TokenWindowBatch> for TokenWindowBatcher {
    fn batch(&self, items: Vec<TokenWindowItem>, device: &Device) -> TokenWindowBatch {
        let mut tokens = vec![0i64; items.len() * self.window];
        for (row, item) in items.iter().enumerate() {
            for (slot, &token) in tokens[row * self.window..].iter_mut().zip(&item.tokens) {
                *slot = token as i64;
            }
        }
        let targets: Vec<i64> = items.iter().map(|item| item.target as i64).collect();
        TokenWindowBatch {
            tokens: Tensor::from_data(TensorData::new(tokens, [items.len(), self.window]), device),
            lengths: items.iter().map(|item| item.tokens.len().max(1)).collect(),
            targets: Tensor::from_data(TensorData::new(targets, [items.len()]), device),
        }
    }
}

impl LanguageModel {
    fn classification_output(&self, batch: TokenWindowBatch) -> ClassificationOutput {
        let output = self
            .forward_last(batch.tokens, &batch.lengths)
            .unwrap_or_else(|err| panic!("a token window batch: {err}"));
        let loss = LanguageModel::cross_entropy(output.clone(), batch.targets.clone(), None);
        ClassificationOutput {
            loss,
            output,
            targets: batch.targets,
        }
    }
}

burn_train_steps!(
    LanguageModel,
    TokenWindowBatch,
    ClassificationOutput,
    classification_output
);

/// A burn-train renderer for logs: one line per epoch with every metric's value for the
/// epoch, instead of burn-train's plain renderer's line per batch.
///
/// ```text
/// epoch 3/20  train Loss 2.315e-3  valid Loss 1.874e-3  (0.8 s)
/// ```
pub struct EpochLines {
    names: Vec<(MetricId, String)>,
    train: Vec<(String, f64)>,
    valid: Vec<(String, f64)>,
    split: String,
    epoch: usize,
    epochs: usize,
    started: Instant,
    out: Box<dyn Write + Send + Sync>,
}

impl Default for EpochLines {
    fn default() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }
}

impl EpochLines {
    /// A renderer writing its lines to `out`.
    pub fn new(out: Box<dyn Write + Send + Sync>) -> Self {
        Self {
            names: Vec::new(),
            train: Vec::new(),
            valid: Vec::new(),
            split: String::new(),
            epoch: 0,
            epochs: 0,
            started: Instant::now(),
            out,
        }
    }

    fn record(&mut self, valid: bool, state: MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self
            .names
            .iter()
            .find(|(id, _)| *id == entry.metric_id)
            .map(|(_, name)| name.clone())
        else {
            return;
        };
        let values = if valid {
            &mut self.valid
        } else {
            &mut self.train
        };
        match values.iter_mut().find(|(known, _)| *known == name) {
            Some(slot) => slot.1 = value.current(),
            None => values.push((name, value.current())),
        }
    }

    fn print_epoch(&mut self) {
        let mut line = format!("epoch {}/{}", self.epoch + 1, self.epochs);
        for (split, values) in [("train", &self.train), ("valid", &self.valid)] {
            for (name, value) in values {
                line.push_str(&format!("  {split} {name} {value:.4e}"));
            }
        }
        line.push_str(&format!(
            "  ({:.1} s)",
            self.started.elapsed().as_secs_f64()
        ));
        // A log line that cannot be written is not worth stopping training for.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
        self.train.clear();
        self.valid.clear();
        self.started = Instant::now();
        self.epoch += 1;
    }
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, state: MetricState) {
        self.record(false, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(true, state);
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        if let Some(summary) = summary {
            writeln!(self.out, "{summary}")?;
        }
        Ok(())
    }
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.record(true, state);
    }
}

impl TrainingProgressLogger for EpochLines {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.epochs = total_epochs;
        // burn-train counts epochs from 1; a resumed run starts after its checkpoint.
        self.epoch = starting_epoch.saturating_sub(1);
        self.started = Instant::now();
    }

    fn update_epoch(&mut self, _epoch: usize) {}

    fn start_split(&mut self, split: &str, _total_items: usize) {
        self.split = split.to_string();
    }

    fn update_split(&mut self, _items_processed: usize) {}

    fn end_split(&mut self) {
        // The validation split ends an epoch.
        if self.split.eq_ignore_ascii_case("valid") {
            self.print_epoch();
        }
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochLines {
    fn start_global_progress(&mut self, _total_tests: usize) {}

    fn start_test(&mut self, _name: &str, _total_items: usize) {}

    fn update_test_progress(&mut self, _items_processed: usize) {}

    fn end_test(&mut self) {}

    fn end_global_progress(&mut self) {}

    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .push((definition.metric_id, definition.name.to_string()));
    }
}
