//! Training one [`Forecaster`] on the windows of every series: each window is a series' values
//! before an origin and the horizon after it, read through that series' [`Profile`]; batches
//! mix series, and the validation part's windows of every series score each epoch, for early
//! stopping. An epoch is [`ForecastTask::MIN_BATCHES`] to [`ForecastTask::MAX_BATCHES`] batches
//! whatever the collection's size (a short series is passed over several times, a large
//! collection in part), so that early stopping looks at comparable amounts of training and an
//! epoch count means the same number of steps in both stages of a run.

use burn::prelude::*;
use burn::tensor::DType;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::data::Collection;
use super::features::{Features, Parts, Profile};
use super::model::{Forecaster, pinball_loss};
use crate::error::Result;
use crate::train::{BatchLoss, Evaluation, TrainTask};

/// A window's place: the series (its index in the collection) and the row its horizon
/// starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The series' index.
    pub series: usize,
    /// The first row after the window.
    pub end: usize,
}

/// Windows as the model reads them: inputs `[count, window, width]` and what follows them
/// `[count, horizon]`, row-major.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    /// `[count, window, width]`
    pub inputs: Vec<f32>,
    /// `[count, horizon]`
    pub futures: Vec<f32>,
    /// Where each window ends.
    pub origins: Vec<Origin>,
}

impl Windows {
    /// The windows ending at `origins`, each series read through its profile.
    pub fn new(
        collection: &Collection,
        profiles: &[Profile],
        features: &Features,
        origins: Vec<Origin>,
    ) -> Self {
        let mut windows = Windows::default();
        for origin in &origins {
            let (series, profile) = (&collection.series[origin.series], &profiles[origin.series]);
            windows
                .inputs
                .extend(features.input(series, profile, origin.end));
            windows
                .futures
                .extend(features.future(series, profile, origin.end));
        }
        windows.origins = origins;
        windows
    }

    /// Windows.
    pub fn count(&self) -> usize {
        self.origins.len()
    }

    /// Inputs and futures of the windows `indices` as tensors.
    fn tensors(
        &self,
        indices: &[usize],
        features: &Features,
        device: &Device,
    ) -> (Tensor<3>, Tensor<2>) {
        let (window, width, horizon) = (features.window, features.width(), features.horizon);
        let mut inputs = Vec::with_capacity(indices.len() * window * width);
        let mut futures = Vec::with_capacity(indices.len() * horizon);
        for &i in indices {
            inputs.extend_from_slice(&self.inputs[i * window * width..(i + 1) * window * width]);
            futures.extend_from_slice(&self.futures[i * horizon..(i + 1) * horizon]);
        }
        let options = (device, DType::F32);
        (
            Tensor::from_data(
                TensorData::new(inputs, [indices.len(), window, width]),
                options,
            ),
            Tensor::from_data(TensorData::new(futures, [indices.len(), horizon]), options),
        )
    }
}

/// The origins of every training window whose horizon lies before row `visible[s]` of
/// series `s`, each window holding at least `features.min_history` real steps.
pub fn training_origins(features: &Features, visible: &[usize]) -> Vec<Origin> {
    let mut origins = Vec::new();
    for (series, &end) in visible.iter().enumerate() {
        let first = features.min_history.max(1);
        if end < first + features.horizon {
            continue;
        }
        origins.extend((first..=end - features.horizon).map(|end| Origin { series, end }));
    }
    origins
}

/// The origins of every window whose horizon lies in a series' validation part.
pub fn validation_origins(features: &Features, parts: &[Parts]) -> Vec<Origin> {
    let mut origins = Vec::new();
    for (series, parts) in parts.iter().enumerate() {
        if !parts.has_validation() {
            continue;
        }
        let last = parts.valid_end - features.horizon;
        origins.extend((parts.train_end..=last).map(|end| Origin { series, end }));
    }
    origins
}

/// A [`TrainTask`] over windows of a collection.
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
    pub const MAX_BATCHES: usize = 40;

    /// A task over `train` windows, early stopping on `valid` windows (none: no validation
    /// loss).
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
            order: (0..train.count()).collect(),
            train,
            valid,
            batch_size: batch_size.max(1),
            device: device.clone(),
        }
    }

    /// The batches of an epoch over `windows` windows in batches of `batch_size`.
    pub fn batches_per_epoch(windows: usize, batch_size: usize) -> usize {
        windows
            .div_ceil(batch_size.max(1))
            .clamp(Self::MIN_BATCHES, Self::MAX_BATCHES)
    }

    /// The mean pinball loss of `model` over `windows`, in batches.
    fn loss(&self, model: &Forecaster, windows: &Windows) -> Result<f64> {
        let indices: Vec<usize> = (0..windows.count()).collect();
        let mut total = 0.0;
        for chunk in indices.chunks(512) {
            let (inputs, futures) = windows.tensors(chunk, &self.features, &self.device);
            let loss = pinball_loss(model.forward(inputs), futures, &self.quantiles);
            total += loss.into_scalar::<f64>() * chunk.len() as f64;
        }
        Ok(total / windows.count().max(1) as f64)
    }
}

impl TrainTask for ForecastTask {
    type Model = Forecaster;

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> usize {
        let batches = Self::batches_per_epoch(self.train.count(), self.batch_size);
        // Enough shuffled passes over the windows for the epoch's batches.
        let mut rng = StdRng::seed_from_u64(seed);
        self.order.clear();
        while self.order.len() < batches * self.batch_size {
            let mut pass: Vec<usize> = (0..self.train.count()).collect();
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
        if self.valid.count() == 0 {
            return Ok(Evaluation::default());
        }
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
