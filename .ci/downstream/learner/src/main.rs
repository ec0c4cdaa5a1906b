//! A user's program that runs the ready sequence regressor as burn-train's step.

use burn::prelude::*;
use burn::train::TrainStep;
use burn_lstm::LstmConfig;
use burn_lstm_programs::learner::WindowBatch;
use burn_lstm_programs::sine::SequenceRegressorConfig;

fn main() {
    let device = Device::flex().autodiff();
    let model = SequenceRegressorConfig::new(LstmConfig::new(1, 8)).init(&device);
    let batch = WindowBatch {
        inputs: Tensor::ones([4, 5, 1], &device),
        targets: Tensor::zeros([4, 1], &device),
    };
    let output = TrainStep::step(&model, batch);
    println!("learner-user: one burn-train step, {} gradient tensors", output.grads.len());
}
