//! Sequence regression: an LSTM (or BiLSTM) and a linear head.

use burn::nn::loss::{MseLoss, Reduction};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::data::WindowSet;
use crate::error::Result;
use crate::train::{BatchLoss, Evaluation, TrainTask};
use burn_lstm::{Lstm, LstmConfig};

/// Configuration of a [`SequenceRegressor`]: the LSTM's own configuration (every option of
/// the layer: layers, directions, projections, dropout, initialisation, layout) and the head.
#[derive(Config, Debug)]
pub struct SequenceRegressorConfig {
    /// The recurrent encoder.
    pub lstm: LstmConfig,
    /// Values predicted.
    #[config(default = 1)]
    pub output_size: usize,
    /// Clip the gradients' global L2 norm to this value when burn-train optimises the model
    /// (feature `learner`; the crate's own `Trainer` takes it from its `TrainingConfig`).
    #[config(default = "None")]
    pub clip_grad_norm: Option<f64>,
}

impl SequenceRegressorConfig {
    /// Checks the configuration and builds the model on `device`.
    pub fn try_init(&self, device: &Device) -> Result<SequenceRegressor> {
        let lstm = self.lstm.try_init(device)?;
        let head = LinearConfig::new(lstm.output_size(), self.output_size).init(device);
        Ok(SequenceRegressor {
            lstm,
            head,
            clip_grad_norm: self.clip_grad_norm,
        })
    }

    /// Builds the model on `device`.
    ///
    /// # Panics
    /// On an invalid configuration; [`SequenceRegressorConfig::try_init`] returns the error.
    pub fn init(&self, device: &Device) -> SequenceRegressor {
        self.try_init(device).unwrap_or_else(|err| panic!("{err}"))
    }
}

/// An LSTM encoder with a linear read-out, on the last step ([`SequenceRegressor::forward`])
/// or on every step ([`SequenceRegressor::forward_every_step`]).
#[derive(Module, Debug)]
pub struct SequenceRegressor {
    /// The recurrent encoder.
    pub lstm: Lstm,
    /// The read-out.
    pub head: Linear,
    /// The global gradient norm burn-train's steps clip to (see
    /// [`SequenceRegressorConfig::clip_grad_norm`]).
    pub clip_grad_norm: Option<f64>,
}

impl SequenceRegressor {
    /// A prediction from the whole window.
    ///
    /// - `input`: `[batch, seq, input]`
    ///
    /// Returns `[batch, outputs]`, read from the final hidden state of the last layer
    /// (both directions of a bidirectional LSTM: the forward one after the last step, the
    /// reverse one after the first).
    pub fn forward(&self, input: Tensor<3>) -> Tensor<2> {
        let (_, state) = self.lstm.forward(input, None);
        self.head.forward(self.lstm.final_output(&state))
    }

    /// A prediction at every step.
    ///
    /// - `input`: `[batch, seq, input]`
    ///
    /// Returns `[batch, seq, outputs]`.
    pub fn forward_every_step(&self, input: Tensor<3>) -> Tensor<3> {
        let (output, _) = self.lstm.forward(input, None);
        self.head.forward(output)
    }

    /// Forecasts `horizon` values past the end of `history` by feeding each prediction back as
    /// the next input (univariate models: `input_size == output_size == 1`).
    ///
    /// - `history`: the last `window` values of the series (scaled as in training).
    pub fn forecast(&self, history: &[f32], horizon: usize, device: &Device) -> Vec<f32> {
        let mut window = history.to_vec();
        let mut forecast = Vec::with_capacity(horizon);
        for _ in 0..horizon {
            let input = Tensor::<3>::from_data(
                TensorData::new(window.clone(), [1, window.len(), 1]),
                device,
            );
            let next: f32 = self.forward(input).into_scalar();
            forecast.push(next);
            window.remove(0);
            window.push(next);
        }
        forecast
    }
}

/// Training a [`SequenceRegressor`] on windows of a series with the mean squared error.
pub struct RegressionTask {
    train: WindowSet,
    valid: Option<WindowSet>,
    batch_size: usize,
    device: Device,
    order: Vec<usize>,
}

impl RegressionTask {
    /// Windows to train on, optional validation windows, the batch size (0, or more than
    /// there are windows: the whole set), and the autodiff device the model lives on.
    pub fn new(
        train: WindowSet,
        valid: Option<WindowSet>,
        batch_size: usize,
        device: &Device,
    ) -> Self {
        let batch_size = match batch_size {
            0 => train.len().max(1),
            size => size,
        };
        Self {
            order: Vec::new(),
            train,
            valid,
            batch_size,
            device: device.clone(),
        }
    }

    /// Mean squared error of `model` on `windows`, in evaluation mode.
    pub fn mse(model: &SequenceRegressor, windows: &WindowSet, device: &Device) -> f64 {
        let model = model.valid();
        let device = device.clone().without_autodiff();
        let (inputs, targets) = windows.tensors(&(0..windows.len()).collect::<Vec<_>>(), &device);
        MseLoss::new()
            .forward(model.forward(inputs), targets, Reduction::Mean)
            .into_scalar()
    }
}

impl TrainTask for RegressionTask {
    type Model = SequenceRegressor;

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> usize {
        // Full-batch training keeps the data order (as PyTorch does without a loader). The
        // order of each epoch depends on its seed alone, so a resumed run repeats it.
        self.order = (0..self.train.len()).collect();
        if self.batch_size < self.train.len() {
            self.order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        self.train.len().div_ceil(self.batch_size)
    }

    fn batch_loss(&mut self, model: &SequenceRegressor, batch: usize) -> BatchLoss {
        let start = batch * self.batch_size;
        let indices = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let (inputs, targets) = self.train.tensors(indices, &self.device);
        let loss = MseLoss::new().forward(model.forward(inputs), targets, Reduction::Mean);
        BatchLoss::new(loss, indices.len())
    }

    fn evaluate(&mut self, model: &SequenceRegressor) -> Result<Evaluation> {
        let train_mse = Self::mse(model, &self.train, &self.device);
        Ok(Evaluation {
            valid_loss: self
                .valid
                .as_ref()
                .map(|valid| Self::mse(model, valid, &self.device)),
            extra: vec![("train_mse".to_string(), train_mse)],
        })
    }

    fn item_name() -> &'static str {
        "windows"
    }
}
