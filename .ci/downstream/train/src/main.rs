//! A user's own model with an `Lstm` inside, trained for two epochs under burn-train's
//! `SupervisedTraining`.

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::nn::loss::{MseLoss, Reduction};
use burn::nn::{Linear, LinearConfig};
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::train::metric::LossMetric;
use burn::train::{
    InferenceStep, Learner, RegressionOutput, SupervisedTraining, TrainOutput, TrainStep,
};
use burn_lstm::{Lstm, LstmConfig};

#[derive(Module, Debug)]
struct Forecaster {
    lstm: Lstm,
    head: Linear,
}

#[derive(Clone, Debug)]
struct Window {
    values: Vec<f32>,
    next: f32,
}

#[derive(Clone, Debug)]
struct WindowBatch {
    inputs: Tensor<3>,
    targets: Tensor<2>,
}

#[derive(Clone, Default)]
struct WindowBatcher;

impl Batcher<Window, WindowBatch> for WindowBatcher {
    fn batch(&self, items: Vec<Window>, device: &Device) -> WindowBatch {
        let (batch, seq) = (items.len(), items[0].values.len());
        let values: Vec<f32> = items.iter().flat_map(|w| w.values.clone()).collect();
        let next: Vec<f32> = items.iter().map(|w| w.next).collect();
        WindowBatch {
            inputs: Tensor::from_data(TensorData::new(values, [batch, seq, 1]), device),
            targets: Tensor::from_data(TensorData::new(next, [batch, 1]), device),
        }
    }
}

impl Forecaster {
    fn regression(&self, batch: WindowBatch) -> RegressionOutput {
        let (_, state) = self.lstm.forward(batch.inputs, None);
        let output = self.head.forward(self.lstm.final_output(&state));
        let loss = MseLoss::new().forward(output.clone(), batch.targets.clone(), Reduction::Mean);
        RegressionOutput {
            loss,
            output,
            targets: batch.targets,
        }
    }
}

impl TrainStep for Forecaster {
    type Input = WindowBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: WindowBatch) -> TrainOutput<RegressionOutput> {
        let output = self.regression(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl InferenceStep for Forecaster {
    type Input = WindowBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: WindowBatch) -> RegressionOutput {
        self.regression(batch)
    }
}

fn windows(count: usize, phase: f32) -> InMemDataset<Window> {
    let items = (0..count)
        .map(|i| {
            let start = phase + i as f32 * 0.1;
            let value = |t: usize| (start + t as f32 * 0.3).sin();
            Window {
                values: (0..10).map(value).collect(),
                next: value(10),
            }
        })
        .collect();
    InMemDataset::new(items)
}

fn main() {
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    let model = Forecaster {
        lstm: LstmConfig::new(1, 16).init(&train_device),
        head: LinearConfig::new(16, 1).init(&train_device),
    };
    let train = DataLoaderBuilder::new(WindowBatcher)
        .batch_size(16)
        .shuffle(1)
        .build(windows(64, 0.0));
    let valid = DataLoaderBuilder::new(WindowBatcher)
        .batch_size(16)
        .build(windows(16, 0.05));
    let artifacts = std::env::temp_dir().join("burn-lstm-train-user");
    let result = SupervisedTraining::new(&artifacts, train, valid)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .num_epochs(2)
        .launch(Learner::new(model, AdamConfig::new().init(), 1e-2));
    if let Some(error) = result.error {
        panic!("training stopped: {error}");
    }
    println!("train-user: two epochs of SupervisedTraining with an Lstm inside");
}
