//! Training a [`Forecaster`]: every window of the training part whose horizon stays in it,
//! in shuffled batches, the pinball loss; the validation part's windows score each epoch, for
//! early stopping. An epoch is [`ForecastTask::MIN_BATCHES`] to [`ForecastTask::MAX_BATCHES`]
//! batches whatever the series' length (a short series is passed over several times, a long
//! one in part), so that early stopping looks at comparable amounts of training.

use burn::prelude::*;
use burn::tensor::DType;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::data::Series;
use super::features::{Features, Split};
use super::model::{Forecaster, pinball_loss};
use crate::error::Result;
use crate::train::{BatchLoss, Evaluation, TrainTask};

/// Windows as the model reads them: inputs `[count, window, width]` and what follows them
/// `[count, horizon, targets]`, row-major.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    /// `[count, window, width]`
    pub inputs: Vec<f32>,
    /// `[count, horizon, targets]`
    pub futures: Vec<f32>,
    /// Windows.
    pub count: usize,
}

impl Windows {
    /// The windows ending before each row of `ends`.
    pub fn new(
        series: &Series,
        features: &Features,
        ends: impl IntoIterator<Item = usize>,
    ) -> Self {
        let mut windows = Windows::default();
        for end in ends {
            windows.inputs.extend(features.input(series, end));
            windows.futures.extend(features.future(series, end));
            windows.count += 1;
        }
        windows
    }

    /// The windows of the training part (their horizon inside it) and of the validation
    /// part (their horizon inside it, starting at or after its first row).
    pub fn training_and_validation(
        series: &Series,
        features: &Features,
        split: &Split,
    ) -> (Self, Self) {
        let (window, horizon) = (features.window, features.horizon);
        let train = Windows::new(series, features, window..=split.train_end - horizon);
        let first = split.train_end.max(window);
        let valid = Windows::new(series, features, first..=split.valid_end - horizon);
        (train, valid)
    }

    /// Inputs and futures of the windows `indices` as tensors.
    fn tensors(
        &self,
        indices: &[usize],
        features: &Features,
        device: &Device,
    ) -> (Tensor<3>, Tensor<3>) {
        let (window, width) = (features.window, features.width());
        let (horizon, targets) = (features.horizon, features.targets());
        let mut inputs = Vec::with_capacity(indices.len() * window * width);
        let mut futures = Vec::with_capacity(indices.len() * horizon * targets);
        for &i in indices {
            inputs.extend_from_slice(&self.inputs[i * window * width..(i + 1) * window * width]);
            futures.extend_from_slice(
                &self.futures[i * horizon * targets..(i + 1) * horizon * targets],
            );
        }
        let options = (device, DType::F32);
        (
            Tensor::from_data(
                TensorData::new(inputs, [indices.len(), window, width]),
                options,
            ),
            Tensor::from_data(
                TensorData::new(futures, [indices.len(), horizon, targets]),
                options,
            ),
        )
    }
}

/// A [`TrainTask`] over a series' windows.
pub struct ForecastTask {
    features: Features,
    quantiles: Vec<f64>,
    train: Windows,
    valid: Windows,
    batch_size: usize,
    order: Vec<usize>,
    device: Device,
}

impl ForecastTask {
    /// Batches an epoch takes at least.
    pub const MIN_BATCHES: usize = 10;
    /// Batches an epoch takes at most.
    pub const MAX_BATCHES: usize = 20;

    /// A task over `train` and `valid` windows (see [`Windows::training_and_validation`]).
    pub fn new(
        features: Features,
        quantiles: Vec<f64>,
        (train, valid): (Windows, Windows),
        batch_size: usize,
        device: &Device,
    ) -> Self {
        Self {
            features,
            quantiles,
            order: (0..train.count).collect(),
            train,
            valid,
            batch_size: batch_size.max(1),
            device: device.clone(),
        }
    }

    /// Windows to train on.
    pub fn training_windows(&self) -> usize {
        self.train.count
    }

    /// The mean pinball loss of `model` over `windows`, in batches.
    fn loss(&self, model: &Forecaster, windows: &Windows) -> Result<f64> {
        let indices: Vec<usize> = (0..windows.count).collect();
        let mut total = 0.0;
        for chunk in indices.chunks(256) {
            let (inputs, futures) = windows.tensors(chunk, &self.features, &self.device);
            let loss = pinball_loss(model.forward(inputs), futures, &self.quantiles);
            total += loss.into_scalar::<f64>() * chunk.len() as f64;
        }
        Ok(total / windows.count.max(1) as f64)
    }
}

impl TrainTask for ForecastTask {
    type Model = Forecaster;

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> usize {
        let batches = self
            .train
            .count
            .div_ceil(self.batch_size)
            .clamp(Self::MIN_BATCHES, Self::MAX_BATCHES);
        // Enough shuffled passes over the windows for the epoch's batches.
        let mut rng = StdRng::seed_from_u64(seed);
        self.order.clear();
        while self.order.len() < batches * self.batch_size {
            let mut pass: Vec<usize> = (0..self.train.count).collect();
            pass.shuffle(&mut rng);
            self.order.extend(pass);
        }
        batches
    }

    fn batch_loss(&mut self, model: &Forecaster, batch: usize) -> BatchLoss {
        let start = batch * self.batch_size;
        let indices = &self.order[start..start + self.batch_size];
        let (inputs, futures) = self.train.tensors(indices, &self.features, &self.device);
        let loss = pinball_loss(model.forward(inputs), futures, &self.quantiles);
        BatchLoss::new(loss, indices.len())
    }

    fn evaluate(&mut self, model: &Forecaster) -> Result<Evaluation> {
        let model = model.valid();
        let device = self.device.clone().without_autodiff();
        let saved = std::mem::replace(&mut self.device, device);
        let valid = self.loss(&model, &self.valid);
        self.device = saved;
        Ok(Evaluation {
            valid_loss: Some(valid?),
            ..Default::default()
        })
    }

    fn format_loss(loss: f64) -> String {
        format!("{loss:.4}")
    }

    fn item_name() -> &'static str {
        "windows"
    }
}
